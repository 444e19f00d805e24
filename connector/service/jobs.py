"""Moved to connector.offboard_queue.jobs (issue 13). Kept only for imports not yet updated
(tests/unit/test_policy.py, tests/unit/test_safe_text.py): delete once they import the core."""

from connector.offboard_queue.models import OffboardingRequest

__all__ = ["OffboardingRequest"]

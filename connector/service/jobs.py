"""Moved to connector.offboard.jobs (issue 13). Kept only for imports not yet updated
(tests/unit/test_policy.py, tests/unit/test_safe_text.py): delete once they import the core."""

from connector.offboard.models import OffboardingRequest

__all__ = ["OffboardingRequest"]

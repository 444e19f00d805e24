"""`from connector import offboard`: one call, idempotent by request id, the guarded path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from connector import IdempotencyConflict, OutcomeStatus, offboard
from connector.audit import AuditLog
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import OffboardingRequest
from tests.conftest import MakeSandbox, settings_for
from tests.service.conftest import ok_writes, statuses, team_box

pytestmark = pytest.mark.e2e


def test_offboard_is_one_idempotent_call(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    settings = settings_for(box, tmp_path / "state", write_timeout_ms=4_000)

    first = offboard("user1@corp.com", request_id="T-1", requested_by="prefect", settings=settings)
    assert first.status is OutcomeStatus.DEACTIVATED and first.status.ok
    assert statuses(box)["user1@corp.com"] == "deactivated"

    again = offboard("user1@corp.com", request_id="T-1", requested_by="prefect", settings=settings)
    assert again == first  # the first call's outcome, without touching Stitch again
    with pytest.raises(IdempotencyConflict):
        offboard("user2@corp.com", request_id="T-1", requested_by="prefect", settings=settings)
    assert statuses(box)["user2@corp.com"] == "active"

    protected = offboard("pay@corp.com", request_id="T-2", settings=settings)
    assert protected.status is OutcomeStatus.REFUSED and protected.rule == "invoice_admin"
    assert ok_writes(box) == {"user1@corp.com": 1}
    audit = [(r.target, r.outcome, r.request_id) for r in AuditLog(settings.audit_path).records()]
    assert audit == [
        ("user1@corp.com", "clicked", "T-1"),
        ("user1@corp.com", "deactivated", "T-1"),
        ("pay@corp.com", "refused", "T-2"),
    ]


def test_a_crashed_call_is_resumed_and_verified(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    settings = settings_for(box, tmp_path / "state", write_timeout_ms=4_000)
    jobs = JobStore.in_state_dir(settings.state_dir)
    job, _ = jobs.submit(
        OffboardingRequest(email="user3@corp.com", request_id="T-9", requested_by="python"),
        source="python",
    )
    jobs.claim(1, "crashed", only=job.id)  # the crashed call had taken it...
    box.remove_member("user3@corp.com")  # ...and its click had landed
    with sqlite3.connect(jobs.path) as db:  # long ago, and no live process holds the lock
        db.execute("UPDATE jobs SET updated_at = '2026-01-01T00:00:00+00:00'")

    outcome = offboard("user3@corp.com", request_id="T-9", settings=settings)
    assert outcome.status is OutcomeStatus.ALREADY_ABSENT
    resumed = jobs.get(job.id)
    assert resumed is not None and resumed.attempts == 2
    assert resumed.note is not None and "fresh read" in resumed.note
    assert "user3@corp.com" not in ok_writes(box)

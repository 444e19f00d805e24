"""A finished job says how it finished: no stale queue note, and whether the budget was
overridden for it."""

from __future__ import annotations

from pathlib import Path

from connector.models import Outcome, OutcomeStatus
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import JobStatus, OffboardingRequest
from connector.offboard_queue.public import job_body


def test_a_succeeded_job_keeps_no_stale_waiting_note(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = jobs.submit(
        OffboardingRequest(email="a@x.com", request_id="r1", requested_by="t"), source="api"
    )
    jobs.claim(1, "run-1")
    jobs.requeue([job.id], "waiting: another write run holds the lock", run_id="run-1")
    assert jobs.get(job.id).note.startswith("waiting")  # type: ignore[union-attr]
    jobs.claim(1, "run-2")
    done = jobs.finish(
        job.id, Outcome(email="a@x.com", status=OutcomeStatus.DEACTIVATED), run_id="run-2"
    )
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.note is None


def test_an_override_of_the_budget_is_a_field_of_the_job(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    plain, _ = jobs.submit(
        OffboardingRequest(email="a@x.com", request_id="r1", requested_by="t"), source="api"
    )
    allowed, _ = jobs.submit(
        OffboardingRequest(email="b@x.com", request_id="r2", requested_by="t"), source="api"
    )
    jobs.claim(2, "run-1")
    outcome = Outcome(email="a@x.com", status=OutcomeStatus.DEACTIVATED)
    first = jobs.finish(plain.id, outcome, run_id="run-1")
    second = jobs.finish(
        allowed.id,
        outcome.model_copy(update={"email": "b@x.com"}),
        run_id="run-1",
        override_budget=True,
    )
    assert first is not None and second is not None
    assert job_body(first, tmp_path)["override_budget"] is False
    assert job_body(second, tmp_path)["override_budget"] is True

"""The service's job store: the idempotency key, atomic claims, fenced updates, delayed retries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from connector.errors import IdempotencyConflict
from connector.models import Outcome, OutcomeStatus
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import JobStatus, OffboardingRequest


def ask(email: str, request_id: str, **extra: str) -> OffboardingRequest:
    return OffboardingRequest(email=email, request_id=request_id, requested_by="t", **extra)


def done(email: str) -> Outcome:
    return Outcome(email=email, status=OutcomeStatus.DEACTIVATED)


def test_a_request_id_names_one_request(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    first, created = jobs.submit(ask("a@x.com", "r1", reason="left"), source="api")
    again, created_again = jobs.submit(ask("A@x.com ", "r1", reason="left"), source="api")
    assert created and not created_again and again.id == first.id
    with pytest.raises(IdempotencyConflict, match="r1"):
        jobs.submit(ask("a@x.com", "r1", reason="other"), source="api")
    assert jobs.counts()[JobStatus.QUEUED] == 1


def test_claims_are_exclusive_and_updates_fenced_by_run(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = jobs.submit(ask("a@x.com", "r1"), source="api")
    (claimed,) = jobs.claim(5, "run-1")
    assert claimed.status is JobStatus.RUNNING and claimed.attempts == 1
    assert jobs.claim(5, "run-2") == []  # nobody takes a running job
    assert jobs.finish(job.id, done("a@x.com"), run_id="run-2") is None  # not its job
    assert jobs.get(job.id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    finished = jobs.finish(job.id, done("a@x.com"), run_id="run-1")
    assert finished is not None and finished.status is JobStatus.SUCCEEDED
    assert jobs.finish(job.id, done("a@x.com"), run_id="run-1") is None  # once
    jobs.requeue([job.id], "late")  # a finished job is never put back
    assert jobs.get(job.id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_delayed_retry_waits_and_an_uncounted_one_keeps_its_attempts(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = jobs.submit(ask("a@x.com", "r1"), source="api")
    jobs.claim(1, "run-1")
    jobs.requeue([job.id], "attempt 1 failed", delay_s=3600, run_id="run-1")
    assert jobs.claim(1, "run-2") == []  # not before its time
    with sqlite3.connect(jobs.path) as db:
        db.execute("UPDATE jobs SET not_before = '2000-01-01T00:00:00+00:00'")
    (again,) = jobs.claim(1, "run-3")
    assert again.attempts == 2
    jobs.requeue([job.id], "another writer", run_id="run-3", uncount=True)
    assert jobs.get(job.id).attempts == 1  # type: ignore[union-attr]


def test_recovery_puts_back_only_what_no_live_run_holds(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    for i in range(2):
        jobs.submit(ask(f"u{i}@x.com", f"r{i}"), source="api")
    jobs.claim(1, "live")
    jobs.claim(1, "dead")
    with sqlite3.connect(jobs.path) as db:  # both untouched for an hour
        db.execute("UPDATE jobs SET updated_at = '2000-01-01T00:00:00+00:00'")
    assert jobs.recover_interrupted(older_than_s=600, besides="live") == 1
    assert jobs.counts()[JobStatus.QUEUED] == 1 and jobs.counts()[JobStatus.RUNNING] == 1
    assert jobs.recover_interrupted() == 1  # at start-up: every running job

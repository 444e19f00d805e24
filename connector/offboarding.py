"""The one-call offboarding helper for orchestrators (Airflow, Prefect, a script).

    from connector import offboard
    outcome = offboard("leaver@example.com", request_id="HR-4711", requested_by="airflow")

Idempotent by request id, like POST /v1/offboardings, and through the same job store: a retry
with the same request id returns the first call's outcome without touching Stitch again; the same
id for a different request raises IdempotencyConflict. A job a crashed call left behind is
picked up again and verified on a fresh read before anything is clicked.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import time

from connector.errors import TransientFailure
from connector.lock import WriteLock
from connector.models import Outcome
from connector.offboard.jobs import Job, JobStatus, JobStore, OffboardingRequest
from connector.offboard.worker import Worker
from connector.settings import Settings, load_settings
from connector.store import SnapshotStore

_POLL_S = 1.0  # while another process (the service) carries the job out
_ORPHANED_AFTER_S = 120.0  # `running`, and no live process holds the write lock


async def offboard_async(
    email: str,
    *,
    request_id: str,
    requested_by: str = "python",
    reason: str | None = None,
    settings: Settings | None = None,
    timeout_s: float = 600.0,
) -> Outcome:
    """Remove `email` from Stitch and return the proven Outcome (see `offboard`)."""
    settings = settings or load_settings()
    request = OffboardingRequest(
        email=email, request_id=request_id, requested_by=requested_by, reason=reason
    )
    jobs = JobStore.in_state_dir(settings.state_dir)
    # The audit trail's actor is who ran this (`python:<login>`); requested_by is the caller's
    # own word, kept beside it.
    job, _ = jobs.submit(request, source="python", principal=_login())
    worker = Worker(
        settings, jobs, SnapshotStore.in_state_dir(settings.state_dir), shared_browser=False
    )
    deadline = time.monotonic() + timeout_s
    while True:
        current = jobs.get(job.id)
        assert current is not None
        if current.status.finished:
            assert current.outcome is not None
            return current.outcome
        if time.monotonic() > deadline:
            raise TransientFailure(
                f"job {job.id} for request {request_id!r} has not finished ({current.status}: "
                f"{current.note or 'waiting'})",
                hint="Call again with the same request id later: it returns the job's outcome.",
            )
        if current.status is JobStatus.QUEUED and await worker.run_once(only=job.id):
            if worker.audit_broken is not None:  # waiting would not help: a person must look
                raise worker.audit_broken
            continue
        if current.status is JobStatus.RUNNING and _orphaned(settings, current):
            jobs.requeue([job.id], "interrupted: verified on a fresh read before resuming")
            continue
        # Another process is on it, or it waits (another writer, a retry delay, the daily
        # budget): look again shortly.
        await asyncio.sleep(_POLL_S)


def offboard(
    email: str,
    *,
    request_id: str,
    requested_by: str = "python",
    reason: str | None = None,
    settings: Settings | None = None,
    timeout_s: float = 600.0,
) -> Outcome:
    """Remove `email` from Stitch: policy on a fresh roster, the budget, the write lock, a
    proven removal and an audit record. Returns the typed Outcome; `outcome.status.ok` is
    true for deactivated, invitation_cancelled and already_absent (was a member, now gone), and
    false for not_found (never a member in any stored snapshot, the last accepted roster nor the
    audit trail: most likely a typo, and the person's real address may still have access),
    refused, failed and unknown."""
    return asyncio.run(
        offboard_async(
            email,
            request_id=request_id,
            requested_by=requested_by,
            reason=reason,
            settings=settings,
            timeout_s=timeout_s,
        )
    )


def _login() -> str:
    """Who runs this process, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (a container's arbitrary uid)
        return f"uid-{os.getuid()}"


def _orphaned(settings: Settings, job: Job) -> bool:
    """`running`, untouched for a while, and no live process holds the write lock."""
    idle = time.time() - job.updated_at.timestamp()
    return idle > _ORPHANED_AFTER_S and WriteLock.holder(settings.state_dir) is None

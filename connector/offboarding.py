"""The one-call offboarding helper for orchestrators (Airflow, Prefect, a script).

    from connector import offboard
    outcome = offboard("leaver@example.com", request_id="HR-4711", requested_by="airflow")

Idempotent by request id, like POST /v1/offboardings, and through the same queue
(OffboardQueue.submit_and_wait):
a retry with the same request id returns the first call's outcome without touching Stitch again;
the same id for a different request raises IdempotencyConflict. A job a crashed call left behind
is picked up again and verified on a fresh read before anything is clicked.
"""

from __future__ import annotations

import getpass
import os

from connector import runner
from connector.app import App
from connector.errors import TransientFailure
from connector.models import Outcome
from connector.offboard_queue.models import OffboardingRequest
from connector.offboard_queue.queue import OffboardQueue
from connector.settings import Settings, load_settings


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
    app = App(settings or load_settings())
    request = OffboardingRequest(
        email=email, request_id=request_id, requested_by=requested_by, reason=reason
    )
    # The audit trail's actor is who ran this (`python:<login>`); requested_by is the caller's
    # own word, kept beside it.
    queue = OffboardQueue.in_process(app)  # carries the job out here unless the service is on it
    job = await queue.submit_and_wait(
        request, source="python", principal=_login(), timeout_s=timeout_s
    )
    if not job.status.settled:
        raise TransientFailure(
            f"job {job.id} for request {request_id!r} has not finished ({job.status}: "
            f"{job.note or 'waiting'})",
            hint="Call again with the same request id later: it returns the job's outcome.",
        )
    assert job.outcome is not None
    return job.outcome


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
    refused, failed and unknown. `pending_approval`: an approval rule holds it for a second
    person (`outcome.approval_id`; connector.approve); call again with the same request id
    to learn how it ended."""
    return runner.run(
        lambda: offboard_async(
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

"""Carry out an approved request on the App's one write path: the service's worker, the CLI's
`approvals approve` and the Python API all call this."""

from __future__ import annotations

from connector.app import App
from connector.errors import PolicyRefused
from connector.models import Grant, TargetRequest
from connector.operations import Removal, RunOptions


async def carry_out(app: App, approval_id: str, run: RunOptions) -> Removal | None:
    """Run an approved request: a fresh read, the planner again (a write that changed in a way
    that matters is asked again, as a new request), the lock, the budget (unless an
    `over_budget` rule asked for it), proven outcomes. None when it is not approved or another
    run has it. A refusal of the whole run closes it `refused`; any other error leaves it
    approved, to be tried again, and is raised."""
    desk = app.approvals
    approval = desk.begin(approval_id, run.run_id)
    if approval is None:
        return None
    plan = approval.plan
    grants: list[tuple[str, Grant]] = [(t.email, t.grant) for t in plan.targets if t.grant]
    asked = TargetRequest(
        actor=approval.requested_by, request_id=plan.request_id, reason=plan.reason
    )
    requests = {t.email: t.request or asked for t in plan.targets}
    try:
        removal = await app.remove(
            requests,
            run,
            should_stop=None,
            override_budget=False,
            grants=grants,
            approved=approval.approved(),
        )
    except PolicyRefused as exc:
        desk.refused(approval, run.run_id, exc)
        raise
    except BaseException as exc:
        desk.stopped(approval, run.run_id, exc)
        raise
    desk.ran(approval, run.run_id, removal.outcomes)
    return removal

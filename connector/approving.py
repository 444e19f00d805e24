"""The Python API for approvals: list the requests, approve or reject one.

    from connector import approve, list_approvals
    for request in list_approvals("pending"):
        print(request.id, request.rules, [t.email for t in request.plan.targets])
    decided = approve("apr_0123456789abcdef", approver="bob", note="HR-4711 checked")

The approver is recorded as `python:<approver>`, and never the principal who asked (four eyes).
`approve` carries the request out here and now, on the App's normal write path (the service
does the same for requests approved over HTTP), and returns it with each write's outcome.
"""

from __future__ import annotations

from connector import runner
from connector.app import App
from connector.approval_rules import decider
from connector.approvals.execute import carry_out
from connector.approvals.models import Approval, ApprovalStatus
from connector.logs import new_run_id
from connector.operations import RunOptions
from connector.settings import Settings, load_settings


def list_approvals(
    status: ApprovalStatus | str | None = None, *, settings: Settings | None = None
) -> list[Approval]:
    """The requests, newest first (`status`: only those, e.g. "pending")."""
    wanted = ApprovalStatus(status) if status is not None else None
    return App(settings or load_settings()).approvals.requests(wanted)


def approve(
    approval_id: str,
    *,
    approver: str,
    note: str | None = None,
    settings: Settings | None = None,
    run_now: bool = True,
) -> Approval:
    """Approve, then (unless `run_now` is false) carry it out in this process."""
    app = App(settings or load_settings())
    who = _who(approver)
    app.approvals.sweep(lock_free=app.write_lock_holder() is None, stuck_after_s=120.0)
    decided = app.approvals.approve(approval_id, who, note)
    if run_now and decided.status is ApprovalStatus.APPROVED:
        run = RunOptions(run_id=new_run_id(), command="connector.approve", trace="writes")
        runner.run(lambda: carry_out(app, approval_id, run))
    return app.approvals.get(approval_id)


def reject(
    approval_id: str, *, approver: str, note: str | None = None, settings: Settings | None = None
) -> Approval:
    """Reject: it never runs; jobs it held finish refused (rule approval_rejected)."""
    app = App(settings or load_settings())
    return app.approvals.reject(approval_id, _who(approver), note)


def _who(approver: str) -> str:
    return f"python:{decider(approver)}"

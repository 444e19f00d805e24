"""`stitch-connector approvals list|show|approve|reject`: the writes an approval rule holds for a
second person (README, "Approvals")."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.table import Table

from connector.app import App
from connector.approval_rules import decider
from connector.approvals.execute import carry_out
from connector.approvals.models import Approval, ApprovalStatus
from connector.cli import common, render
from connector.cli.render import cell
from connector.cli.writes import report, run_write, write_settings
from connector.errors import UsageProblem
from connector.logs import new_run_id
from connector.settings import Settings

app = typer.Typer(
    help="Writes held for a second person: list them, look at one, approve or reject it.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_AS = typer.Option(
    None,
    "--as",
    help="Who decides (recorded in the request and the audit trail); default: "
    "$STITCH_APPROVER. Never the person who asked.",
)
_NOTE = typer.Option(None, help="Why (kept in the request and the audit trail).")
STUCK_S = 120.0  # a request `running` this long while nobody holds the lock: its run died


@app.command("list")
def list_(
    status: ApprovalStatus | None = typer.Option(None, help="Only requests in this state."),
    as_json: bool = _JSON,
) -> None:
    """The requests, newest first (expired ones are closed as they are found)."""
    found = _core().approvals.requests(status)
    if as_json:
        _print_json([a.model_dump(mode="json") for a in found])
        return
    table = Table("Id", "Status", "Asked by", "Rules", "Writes", "Expires (UTC)")
    for a in found:
        writes = ", ".join(
            f"{t.action.value if t.action else '-'} {t.email}" for t in a.plan.targets
        )
        table.add_row(
            a.id,
            a.status.value,
            cell(a.requested_by),
            cell(", ".join(a.rules)),
            cell(writes),
            f"{a.expires_at:%Y-%m-%d %H:%M}",
        )
    render.stdout_console().print(table)


@app.command()
def show(
    approval_id: str = typer.Argument(..., help="The request's id (apr_...)."),
    as_json: bool = _JSON,
) -> None:
    """One request: what exactly will be done, against which roster, who asked and why, the
    decision, and its records in the audit trail."""
    core = _core()
    approval = core.approvals.get(approval_id)
    records = [r for r in core.audit_records() if r.approval_id == approval.id]
    if as_json:
        _print_json(
            {
                **approval.model_dump(mode="json"),
                "audit": [r.model_dump(mode="json") for r in records],
                "notifications": core.approvals.notifications.events(approval.id),
            }
        )
        return
    _describe(approval)
    for r in records:
        when = f"{r.started_at:%Y-%m-%d %H:%M:%S}"
        print(f"  audit #{r.seq} {when} {r.outcome} {cell(r.target)} by {cell(r.actor)}")


@app.command()
def approve(
    approval_id: str = typer.Argument(..., help="The request's id (apr_...)."),
    approver: str | None = _AS,
    note: str | None = _NOTE,
    run_now: bool = typer.Option(
        True,
        "--run/--no-run",
        help="Carry it out now, in this process (default), or leave it to the service.",
    ),
    as_json: bool = _JSON,
) -> None:
    """Approve a request, then carry it out on a fresh read: the roster is read again, a write
    that changed in a way that matters is asked again (a new request), the lock and the budget
    apply, every write is proven. Approving again changes nothing.

      STITCH_APPROVER=bob stitch-connector approvals approve apr_0123456789abcdef --note "HR-42"
    """
    settings = write_settings()
    core = _core(settings)
    who = _approver(approver)
    core.approvals.sweep(lock_free=core.write_lock_holder() is None, stuck_after_s=STUCK_S)
    decided = core.approvals.approve(approval_id, who, note)
    if not run_now or decided.status is not ApprovalStatus.APPROVED:
        _done(core, decided, as_json)
        return
    run_write(settings, lambda app, run: carry_out(app, approval_id, run))
    after = core.approvals.get(approval_id)
    _deliver(core)
    if after.outcomes is None:
        _done(core, after, as_json)
        return
    if not as_json:
        _describe(after)
    report(after.outcomes, as_json)


@app.command()
def reject(
    approval_id: str = typer.Argument(..., help="The request's id (apr_...)."),
    approver: str | None = _AS,
    note: str | None = _NOTE,
    as_json: bool = _JSON,
) -> None:
    """Reject a request: it never runs, and any job it held finishes `refused`
    (rule approval_rejected). The requester may withdraw their own."""
    core = _core()
    _done(core, core.approvals.reject(approval_id, _approver(approver), note), as_json)


def _core(settings: Settings | None = None) -> App:
    """The account's App, its log lines on stderr (stdout is the command's answer)."""
    common.start_logging(new_run_id())
    return App(settings or common.settings_from())


def _approver(given: str | None) -> str:
    name = (given or os.environ.get("STITCH_APPROVER") or "").strip()
    if not name:
        raise UsageProblem(
            "who approves? pass --as NAME or set STITCH_APPROVER",
            hint="The name is recorded in the request and the audit trail; nothing was changed.",
        )
    return f"human:{decider(name)}"


def _done(core: App, approval: Approval, as_json: bool) -> None:
    _deliver(core)
    if as_json:
        _print_json(approval.model_dump(mode="json"))
    else:
        _describe(approval)


def _deliver(core: App) -> None:
    """One attempt at the webhook's due events (the service retries the rest)."""
    common.run(core.approvals.notifications.deliver_due)


def _describe(a: Approval) -> None:
    asked = f"{cell(a.requested_by)} ({a.source}) at {a.created_at:%Y-%m-%d %H:%M} UTC"
    print(f"{a.id}: {a.status.value}; asked by {asked}")
    print(f"  rules: {cell(', '.join(a.rules))}; expires {a.expires_at:%Y-%m-%d %H:%M} UTC")
    if a.reason:
        print(f"  reason: {cell(a.reason)}")
    print(f"  roster: {a.plan.roster_count} members, fingerprint {a.plan.roster_fingerprint[:12]}")
    for t in a.plan.targets:
        role = f" as {t.granted_role.value}" if t.granted_role else ""
        was = f" (now {t.member.role.value}, {t.member.status.value})" if t.member else ""
        print(f"  - {t.action.value if t.action else '-'} {cell(t.email)}{role}{was}")
    if a.decided_by:
        when = f"{a.decided_at:%Y-%m-%d %H:%M} UTC" if a.decided_at else ""
        print(f"  decided by {cell(a.decided_by)} at {when}: {cell(a.note or '')}")
    if a.superseded_by:
        print(f"  the roster changed: asked again as {a.superseded_by}")
    if a.error:
        print(f"  last attempt stopped: {cell(a.error)}")


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

"""`plan`, `apply` and `deactivate`: removals that are planned, guarded, proven and audited."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table

from connector.app import App, RunOptions
from connector.cli import common, render
from connector.cli.render import cell, visible
from connector.errors import NOT_FOUND_HINT, ConfigError, ExitCode, UsageProblem
from connector.logs import new_run_id
from connector.models import Grant, Outcome, OutcomeStatus, Plan, Role
from connector.planner import addresses
from connector.policy import requested_emails
from connector.settings import Settings

T = TypeVar("T")

ACTOR_HELP = (
    "Who asks: 'cron', 'orchestrator', or a person (default: human:<login> at a terminal, "
    "'cli' otherwise). Recorded in the audit trail."
)


def plan(
    deactivate: list[str] = typer.Option(
        [], "--deactivate", "-d", help="An email to remove; repeat for several."
    ),
    invite: list[str] = typer.Option(
        [], "--invite", help="An email to invite as General User (EMAIL or EMAIL=ROLE)."
    ),
    set_role: list[str] = typer.Option(
        [], "--set-role", help="EMAIL=ROLE: a member's new role (Administrator, General User)."
    ),
    reactivate: list[str] = typer.Option([], "--reactivate", help="A deactivated member."),
    allow_administrator: bool = typer.Option(
        False, "--allow-administrator", help="Allow inviting as, or promoting to, Administrator."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the plan here."),
    reason: str | None = typer.Option(None, help="Why (kept in the plan and the audit trail)."),
    request_id: str | None = typer.Option(None, help="The caller's id for this request."),
) -> None:
    """Write a plan: each target, what applying it would do, and the roster it was made
    against. Changes nothing. Review it, then run `stitch-connector apply PLAN`. A plan may mix
    removals with invitations, role changes and reactivations. Examples:

      stitch-connector plan -d leaver@example.com -d other@example.com -o plan.json

      stitch-connector plan -d leaver@example.com --invite joiner@example.com \\
          --set-role "lead@example.com=Administrator" --allow-administrator -o plan.json
    """
    common.check_writable(output)
    grants = grants_from(invite, set_role, reactivate, allow_administrator=allow_administrator)
    if not deactivate and not grants:
        raise UsageProblem(
            "the plan asks for nothing",
            hint="Give --deactivate, --invite, --set-role or --reactivate at least once.",
        )
    addresses(deactivate, grants)  # bad input fails before the browser starts
    settings = write_settings()
    made = run_write(
        settings,
        lambda app, run: app.plan(
            deactivate, run, reason=reason, request_id=request_id, grants=grants
        ),
    )
    text = made.model_dump_json(indent=2) + "\n"
    common.write_output(text, output)
    for t in made.targets:
        rule = f" ({t.rule})" if t.rule else ""
        common.stderr.print(cell(f"  {t.email}: {t.expected.value}{rule}"), highlight=False)


def apply(
    plan_file: Path = typer.Argument(..., help="A plan written by `stitch-connector plan`."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    override_budget: bool = typer.Option(
        False,
        "--override-budget",
        help="Allow more removals than the budget, for this run only (a reviewed plan).",
    ),
    actor: str | None = typer.Option(None, help=ACTOR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
) -> None:
    """Carry out a plan. It re-reads the roster first and refuses a stale plan (the roster
    changed since), then removes each target and proves it with a fresh read.
    """
    loaded = _load_plan(plan_file)
    settings = write_settings()
    _confirm(loaded, yes)
    outcomes = run_write(
        settings,
        lambda app, run: app.apply(
            loaded, run, actor=actor_name(actor), override_budget=override_budget
        ),
    )
    announce(settings, outcomes)
    report(outcomes, as_json)


def deactivate(
    emails: list[str] = typer.Argument(..., help="Emails to remove (exact match)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen; click nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    reason: str | None = typer.Option(None, help="Why (kept in the audit trail)."),
    request_id: str | None = typer.Option(None, help="The caller's id for this request."),
    override_budget: bool = typer.Option(
        False, "--override-budget", help="Allow more removals than the budget, for this run."
    ),
    actor: str | None = typer.Option(None, help=ACTOR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
) -> None:
    """Plan and apply in one step: Deactivate active members, cancel pending invitations.

    Protected members (the signed-in account, the Invoice Admin, the last Administrator, SSO
    Admins, STITCH_PROTECTED_*) are refused; a request over the budget is refused whole.
    Each removal is proven by a fresh read of the roster and recorded in the audit trail.
    Examples:

      stitch-connector deactivate --dry-run leaver@example.com

      stitch-connector deactivate --yes --reason "left" --request-id HR-42 a@example.com
    """
    requested_emails(emails)  # before any browser starts
    change_now(
        emails,
        [],
        f"Deactivate {len(emails)} member(s): {', '.join(emails)}?",
        dry_run=dry_run,
        yes=yes,
        reason=reason,
        request_id=request_id,
        override_budget=override_budget,
        actor=actor,
        as_json=as_json,
    )


def change_now(
    removals: list[str],
    grants: list[tuple[str, Grant]],
    question: str,
    *,
    dry_run: bool,
    yes: bool,
    reason: str | None,
    request_id: str | None,
    override_budget: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Plan and apply in one step (deactivate, invite, set-role, ...), asking `question` first
    at a terminal unless --yes or --dry-run; report the outcomes and exit with their code."""
    settings = write_settings()
    if not dry_run and not yes:
        ask(question)
    outcomes = run_write(
        settings,
        lambda app, run: app.change(
            removals,
            grants,
            run,
            dry_run=dry_run,
            reason=reason,
            request_id=request_id,
            actor=actor_name(actor),
            override_budget=override_budget,
        ),
    )
    announce(settings, outcomes)
    report(outcomes, as_json)


# ---------------------------------------------------------------- helpers


def grants_from(
    invite: list[str], set_role: list[str], reactivate: list[str], *, allow_administrator: bool
) -> list[tuple[str, Grant]]:
    """The plan command's grant options as (email, Grant): EMAIL=ROLE where a role goes."""
    grants = [
        (email, Grant(kind="invite", role=role, allow_administrator=allow_administrator))
        for email, role in map(_email_and_role, invite)
    ]
    for email, role in map(_email_and_role, set_role):
        if role is None:
            raise UsageProblem(f"--set-role {email}: say the role, as EMAIL=ROLE")
        grants.append(
            (email, Grant(kind="set_role", role=role, allow_administrator=allow_administrator))
        )
    return grants + [(email, Grant(kind="reactivate")) for email in reactivate]


def _email_and_role(text: str) -> tuple[str, Role | None]:
    email, _, role = text.partition("=")
    if not role:
        return email, None
    try:
        return email, Role(role.strip())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UsageProblem(f"{text}: the role is one of {roles}") from None


def write_settings() -> Settings:
    settings = common.settings_from()
    common.require_credentials_unless_saved(settings)
    return settings


def run_write(settings: Settings, call: Callable[[App, RunOptions], Awaitable[T]]) -> T:
    run_id = new_run_id()
    common.start_logging(run_id)
    run = RunOptions(
        run_id,
        command=common.command_line(),
        trace="writes",
        step=common.step_prompt if common.state.step else None,
    )
    return common.run(lambda: call(App(settings), run))


def _load_plan(path: Path) -> Plan:
    try:
        return Plan.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise ConfigError(
            f"{path} is not a stitch-connector plan: {where}: {first['msg']}"
        ) from None


def actor_name(given: str | None) -> str:
    if given:
        return given
    return f"human:{getpass.getuser()}" if sys.stdin.isatty() else "cli"


def _confirm(loaded: Plan, yes: bool) -> None:
    if yes:
        return
    acting = [t for t in loaded.targets if t.action is not None]
    lines = [
        f"  {t.action.value if t.action else ''} {visible(t.email)}"
        + (f" as {t.granted_role.value}" if t.granted_role else "")
        for t in acting
    ]
    ask(
        f"Apply this plan to account {loaded.account.client_id}?\n" + "\n".join(lines)
        if lines
        else "The plan changes nobody. Apply it anyway?"
    )


def ask(question: str) -> None:
    if not sys.stdin.isatty():
        raise UsageProblem(
            "nobody can answer the confirmation here: pass --yes (or --dry-run to look first)"
        )
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(ExitCode.POLICY_REFUSED)


def exit_code(outcomes: list[Outcome]) -> int:
    statuses = {o.status for o in outcomes}
    if OutcomeStatus.UNKNOWN in statuses:
        return ExitCode.OUTCOME_UNKNOWN
    if OutcomeStatus.FAILED in statuses or OutcomeStatus.SKIPPED in statuses:
        return ExitCode.ACTION_FAILED
    if OutcomeStatus.NOT_FOUND in statuses:  # a typo'd address is not success
        return ExitCode.NOT_FOUND
    if OutcomeStatus.REFUSED in statuses:
        return ExitCode.POLICY_REFUSED
    if OutcomeStatus.PENDING_APPROVAL in statuses:
        return ExitCode.APPROVAL_PENDING
    return ExitCode.OK


def announce(settings: Settings, outcomes: list[Outcome]) -> None:
    """A request held for approval: one attempt at its webhook now (the service retries)."""
    if any(o.status is OutcomeStatus.PENDING_APPROVAL and o.approval_id for o in outcomes):
        common.run(App(settings).approvals.notifications.deliver_due)


def report(outcomes: list[Outcome], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(
            json.dumps([o.model_dump(mode="json") for o in outcomes], indent=2, ensure_ascii=False)
            + "\n"
        )
    else:
        table = Table("Email", "Outcome", "Rule / reason")
        for o in outcomes:
            table.add_row(cell(o.email), o.status.value, cell(o.rule or o.reason))
        render.stdout_console().print(table)
    code = exit_code(outcomes)
    if any(o.status is OutcomeStatus.NOT_FOUND for o in outcomes):
        common.stderr.print(cell(f"hint: {NOT_FOUND_HINT}"), highlight=False)
    waiting = OutcomeStatus.PENDING_APPROVAL
    for held in sorted({o.approval_id for o in outcomes if o.approval_id and o.status is waiting}):
        common.stderr.print(
            f"hint: held for a second person: `stitch-connector approvals show {held}`; they "
            f"approve it with `stitch-connector approvals approve {held} --as NAME`",
            highlight=False,
        )
    if code:
        raise typer.Exit(code)

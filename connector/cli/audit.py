"""`stitch-connector audit verify|show|resolve`: the tamper-evident trail of every removal."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from connector.audit import AuditLog
from connector.cli import common
from connector.cli.render import cell
from connector.errors import AuditBroken, ConfigError, ExitCode

app = typer.Typer(
    help="The audit trail: <state dir>/audit.jsonl, hash-chained.", no_args_is_help=True
)


@app.command()
def verify() -> None:
    """Check the hash chain and the head file; name the first broken record. Exit 14 when it is
    broken, the trail is shorter than its head file says, or missing while the head is not."""
    log = AuditLog(common.settings_from().audit_path)
    count, problem = log.verify()
    if problem:
        print(f"error: audit trail {log.path} is broken: {problem}", file=sys.stderr)
        print(
            "hint: every write (deactivate, apply, the service) is refused until it verifies. "
            f"Keep {log.path.name} and {log.head_path.name} as evidence and find out who changed "
            "them; then restore both from a backup, or move both aside to start a new trail "
            "(README, 'Removing members safely').",
            file=sys.stderr,
        )
        raise typer.Exit(ExitCode.AUDIT_BROKEN)
    print(f"ok: {count} record(s) in {log.path}, chain intact")


@app.command()
def show(
    since: str | None = typer.Option(None, help="Only records from this time (ISO 8601) on."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines, as stored."),
) -> None:
    """List the records, oldest first."""
    log = AuditLog(common.settings_from().audit_path)
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise ConfigError(f"--since {since!r} is not an ISO 8601 time") from None
    try:
        every = log.records()
    except ValueError as exc:  # a line that is not a record: exit 14, as `verify` says
        raise AuditBroken(
            f"the audit trail {log.path} has a line that is not a record: "
            f"{str(exc).splitlines()[0]}",
            hint="Run `stitch-connector audit verify` to find it.",
        ) from None
    records = [r for r in every if start is None or r.started_at >= _aware(start)]
    if as_json:
        for record in records:
            sys.stdout.write(record.model_dump_json() + "\n")
        return
    table = Table("#", "When (UTC)", "Actor", "Target", "Outcome", "Rule / reason")
    for r in records:
        table.add_row(
            str(r.seq),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            cell(r.actor),
            cell(r.target),
            cell(r.outcome),
            cell(r.rule or r.reason),
        )
    Console().print(table)


@app.command()
def resolve(
    email: str = typer.Argument(..., help="The member whose removal ended `unknown`."),
    note: str = typer.Option(
        ..., help="What a person found in Stitch, e.g. 'checked: deactivated at 10:02'."
    ),
    actor: str | None = typer.Option(None, help="Who checked (default: human:<login>)."),
) -> None:
    """Record that a person checked an `unknown` removal in Stitch by hand.

    Until then every entry point refuses to remove that member again (rule unresolved_unknown):
    a second click could be the second click of one removal. Example:

      stitch-connector audit resolve jane@example.com --note "checked: gone from Team Members"
    """
    from connector import __version__
    from connector.policy import requested_emails

    (target,) = requested_emails([email])
    log = AuditLog(common.settings_from().audit_path)
    log.require_sound()  # exit 14: nothing is added to a trail that fails verification
    if target not in log.unresolved_unknowns():
        raise ConfigError(
            f"{target} has no unresolved `unknown` removal in {log.path}",
            hint="`stitch-connector audit show` lists the records.",
        )
    now = datetime.now(UTC)
    record = log.append(
        run_id="audit-resolve",
        request_id=None,
        actor=actor or f"human:{getpass.getuser()}",
        target=target,
        action=None,
        outcome="resolved",
        rule=None,
        reason=note,
        started_at=now,
        finished_at=now,
        connector_version=__version__,
        row_before=None,
        roster_fingerprint_before=None,
        roster_fingerprint_after=None,
        evidence=[],
    )
    print(f"ok: recorded as record {record.seq}; {target} may be removed again")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

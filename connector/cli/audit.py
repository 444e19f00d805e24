"""`stitch-connector audit verify|show|resolve`: the tamper-evident trail of every removal."""

from __future__ import annotations

import sys
from datetime import datetime

import typer
from rich.table import Table

from connector.app import App
from connector.cli import common, render
from connector.cli.render import cell
from connector.errors import ConfigError, ExitCode

app = typer.Typer(
    help="The audit trail: <state dir>/audit.jsonl, hash-chained.", no_args_is_help=True
)


@app.command()
def verify() -> None:
    """Check the hash chain and the head file; name the first broken record. Exit 14 when it is
    broken, the trail is shorter than its head file says, or missing while the head is not."""
    check = App(common.settings_from()).audit_check()
    if check.problem:
        print(f"error: audit trail {check.path} is broken: {check.problem}", file=sys.stderr)
        print(
            "hint: every write (deactivate, apply, the service) is refused until it verifies. "
            f"Keep {check.path.name} and {check.head_path.name} as evidence and find out who "
            "changed them; then restore both from a backup, or move both aside to start a new "
            "trail (README, 'Removing members safely').",
            file=sys.stderr,
        )
        raise typer.Exit(ExitCode.AUDIT_BROKEN)
    print(f"ok: {check.count} record(s) in {check.path}, chain intact")


@app.command()
def show(
    since: str | None = typer.Option(None, help="Only records from this time (ISO 8601) on."),
    approval: str | None = typer.Option(
        None, help="Only one approval request's chain: asked, decided, carried out."
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines, as stored."),
) -> None:
    """List the records, oldest first."""
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise ConfigError(f"--since {since!r} is not an ISO 8601 time") from None
    records = App(common.settings_from()).audit_records(start)
    if approval:
        records = [r for r in records if r.approval_id == approval]
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
    render.stdout_console().print(table)


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
    record = App(common.settings_from()).audit_resolve(email, note, actor)
    print(f"ok: recorded as record {record.seq}; {record.target} may be removed again")

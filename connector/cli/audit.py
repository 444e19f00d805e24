"""`stitch-connector audit verify|show`: the tamper-evident trail of every attempted removal."""

from __future__ import annotations

import sys
from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.audit import AuditLog
from connector.cli import common
from connector.errors import ConfigError, ExitCode

app = typer.Typer(
    help="The audit trail: <state dir>/audit.jsonl, hash-chained.", no_args_is_help=True
)


@app.command()
def verify() -> None:
    """Check the hash chain; name the first broken record. Exit 14 when it is broken."""
    log = AuditLog(common.settings_from().audit_path)
    count, problem = log.verify()
    if problem:
        print(f"error: audit trail {log.path} is broken: {problem}", file=sys.stderr)
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
    records = [r for r in log.records() if start is None or r.started_at >= _aware(start)]
    if as_json:
        for record in records:
            sys.stdout.write(record.model_dump_json() + "\n")
        return
    table = Table("#", "When (UTC)", "Actor", "Target", "Outcome", "Rule / reason")
    for r in records:
        table.add_row(
            str(r.seq),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            escape(r.actor),
            escape(r.target),
            r.outcome,
            escape(r.rule or r.reason or ""),
        )
    Console().print(table)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

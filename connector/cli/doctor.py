"""`stitch-connector doctor`: is every selector still right? Makes no writes."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from connector.app import App, RunOptions
from connector.cli import common, render
from connector.cli.render import cell
from connector.errors import ExitCode
from connector.logs import new_run_id


def doctor(
    rehearse: str | None = typer.Option(
        None,
        metavar="EMAIL",
        help="Also open the Deactivate confirm dialog for this member, then Cancel it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Sign in from scratch and visit every page the connector uses, checking every element
    in selectors/stitch.toml: found, missing, or ambiguous, and which alternative matched.

    Exits 7 when a required element is missing or ambiguous. No request that could change
    anything leaves the browser (everything but GET is blocked after sign-in).
    Example: stitch-connector doctor --rehearse someone@example.com
    """
    settings = common.settings_from()
    settings.require_credentials()  # doctor always signs in from scratch
    run_id = new_run_id()
    common.start_logging(run_id)
    run = RunOptions(run_id=run_id, command=common.command_line())
    report = common.run(lambda: App(settings).doctor(run, rehearse=rehearse))
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        table = Table("Page", "Element", "Status", "Matched alternative, or what was read")
        for c in report.checks:
            status = c.status if c.required or c.status == "found" else f"{c.status} (optional)"
            seen = c.matched + (f" (x{c.count})" if c.count > 1 else "") if c.matched else ""
            table.add_row(c.page, cell(c.element), status, cell(seen or c.detail or ""))
        render.stdout_console().print(table)
    if not report.ok:
        common.stderr.print(
            "A required element is missing or the list does not add up. Add an alternative for "
            "it to selectors/stitch.toml (README: 'Stitch changed its UI'), then run doctor again.",
            highlight=False,
        )
        raise typer.Exit(ExitCode.PAGE_NOT_RECOGNISED)

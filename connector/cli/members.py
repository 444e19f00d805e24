"""`stitch-connector members`: who has access to the Stitch account now."""

from __future__ import annotations

from pathlib import Path

import typer

from connector.app import App, RunOptions
from connector.cli import common, render
from connector.errors import UsageProblem
from connector.logs import new_run_id
from connector.models import MemberList
from connector.settings import Settings


def members(
    as_json: bool = typer.Option(False, "--json", help="Print the MemberList as JSON."),
    as_csv: bool = typer.Option(
        False, "--csv", help="Print CSV (cells starting with = + - @ are prefixed with ')."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE, not stdout."),
    base_url: str | None = typer.Option(
        None, help="Stitch's origin [env: STITCH_BASE_URL; default https://app.stitchdata.com]."
    ),
    email: str | None = typer.Option(None, help="Administrator email [env: STITCH_EMAIL]."),
    state_dir: Path | None = typer.Option(
        None, help="Session, cache and evidence folder [env: STITCH_STATE_DIR]."
    ),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
) -> None:
    """List every member of the Stitch account: name, email, role, status, Invoice Admin.

    The password comes from STITCH_PASSWORD or STITCH_PASSWORD_FILE, never from a flag.
    Examples:

      stitch-connector members

      stitch-connector members --json -o roster.json

      stitch-connector members --csv > roster.csv
    """
    if as_json and as_csv:
        raise UsageProblem("--json and --csv cannot be used together: choose one")
    common.check_writable(output)
    settings = common.settings_from(
        base_url=base_url, email=email, state_dir=state_dir, headless=False if headed else None
    )
    common.require_credentials_unless_saved(settings)
    roster = scrape(settings, progress=not (as_json or as_csv))
    if as_json:
        common.write_output(render.to_json(roster), output)
    elif as_csv:
        common.write_output(render.to_csv(roster), output)
    elif output is not None:
        common.write_output(render.to_json(roster), output)
    else:
        render.print_table(roster, render.stdout_console())


def scrape(settings: Settings, *, progress: bool, run_id: str | None = None) -> MemberList:
    """The one read path shared by `members`, `demo` and `reconcile --fresh`.

    Starts logging for the run unless the caller did (and passed its run id).
    """
    if run_id is None:
        run_id = new_run_id()
        common.start_logging(run_id)

    async def go() -> MemberList:
        with common.progress_reporter(progress) as report:
            run = RunOptions(run_id, command=common.command_line(), on_progress=report)
            return await App(settings).members(run)

    return common.run(go)

"""`sync --all`: every account of STITCH_ACCOUNTS_FILE, one result each (fleet.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from connector import accounts, fleet
from connector.app import App
from connector.cli import common, render
from connector.cli.export import export_roster
from connector.cli.render import cell
from connector.errors import UsageProblem
from connector.logs import new_run_id
from connector.models import MemberList
from connector.operations import SyncOptions


def sync_all(
    options: SyncOptions,
    as_json: bool,
    export: Path | None,
    metrics_file: Path | None,
    headed: bool,
    concurrency: int,
) -> None:
    path = accounts.accounts_file()
    if path is None:
        raise UsageProblem(
            "--all needs STITCH_ACCOUNTS_FILE: the TOML file that names the accounts",
            hint="See the README, 'Many accounts'.",
        )
    if common.state.account:
        raise UsageProblem("--all syncs every account: leave out --account")
    flags = {"headless": False} if headed else {}
    named = accounts.every(path, **flags)
    run_id = new_run_id()
    common.start_logging(run_id)
    started = time.monotonic()

    def done(result: fleet.AccountSync, roster: MemberList | None) -> None:
        app = App(named[result.account])
        if metrics_file is not None and result.report is not None and roster is not None:
            target = _per_account(metrics_file, result.account)
            app.write_sync_metrics(target, time.monotonic() - started, result.report, roster)
        if export is not None and roster is not None:
            export_roster(roster, export / result.account)
        if not as_json:
            common.stderr.print(
                f"{result.account}: "
                + ("ok" if result.exit_code == 0 else f"exit {result.exit_code}"),
                highlight=False,
                markup=False,
            )

    results = common.run(
        lambda: fleet.sync_accounts(
            named, options, run_id=run_id, concurrency=concurrency, on_done=done
        )
    )
    if as_json:
        body = [r.model_dump(mode="json") for r in results]
        sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    else:
        table = Table("Account", "Result", "Members", "Changes", "Error / hint")
        for r in results:
            snap = r.report.snapshot if r.report else None
            table.add_row(
                r.account,
                "ok" if r.exit_code == 0 else f"exit {r.exit_code} ({r.error_kind})",
                str(snap.count) if snap else "",
                str(len(r.report.changes)) if r.report else "",
                cell(r.error or ""),
            )
        render.stdout_console().print(table)
    code = fleet.worst([r.exit_code for r in results])
    if code:
        raise typer.Exit(code)


def _per_account(path: Path, account: str) -> Path:
    """sync.prom → sync.<account>.prom (node-exporter reads every *.prom in its folder)."""
    return path.with_name(f"{path.stem}.{account}{path.suffix}")

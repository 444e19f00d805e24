"""`sync`, `history` and `diff`: the scheduled scrape, its stored snapshots, and what changed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from connector.app import App, RunOptions, SyncOptions
from connector.changes import Change, ChangeKind
from connector.cli import common, render
from connector.cli.export import export_roster
from connector.cli.render import cell
from connector.errors import ConfigError
from connector.failed_sync_metrics import write_failed_sync_metrics
from connector.logs import new_run_id
from connector.models import MemberList, SnapshotInfo
from connector.snapshot_gate import SyncReport


def sync(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    export: Path | None = typer.Option(
        None, "--export", help="Also write roster.json and roster.csv into this folder."
    ),
    max_drop: float = typer.Option(
        0.3,
        "--max-drop",
        min=0.0,
        max=1.0,
        envvar="STITCH_MAX_DROP",
        help="Refuse to store a roster that lost more than this share of the last snapshot.",
    ),
    accept_drop: bool = typer.Option(
        False, "--accept-drop", help="Store it anyway: a human checked that the drop is real."
    ),
    keep: int | None = typer.Option(
        None,
        "--keep",
        min=2,
        envvar="STITCH_KEEP",
        help="Keep the newest N snapshots (N >= 2); default: keep all.",
    ),
    metrics_file: Path | None = typer.Option(
        None,
        "--metrics-file",
        envvar="STITCH_METRICS_FILE",
        help="Write Prometheus metrics here (node-exporter textfile collector: *.prom).",
    ),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window."),
    every: bool = typer.Option(
        False,
        "--all",
        help="Every account of STITCH_ACCOUNTS_FILE, each with its own state and result; exit "
        "code: the worst account's. --export and --metrics-file get one entry per account.",
    ),
    concurrency: int = typer.Option(
        4, "--concurrency", min=1, max=16, help="With --all: accounts read at the same time."
    ),
) -> None:
    """Read the roster, store it as a snapshot, and print what changed since the last one.

    A roster that lost more than --max-drop of the last snapshot, or shrank to the signed-in
    user alone, is not stored (exit 15): that is far likelier UI drift than people leaving. It
    is saved under <state dir>/runs/<run-id>/ for a human to check. Exit codes: 0 stored
    (changes or not), 15 confidence gate, others as for `members`.
    """
    started = time.monotonic()
    if metrics_file is not None:
        common.check_writable(metrics_file)
    app: App | None = None
    options = SyncOptions(max_drop=max_drop, accept_drop=accept_drop, keep=keep)
    if every:
        from connector.cli.sync_all import sync_all

        sync_all(options, as_json, export, metrics_file, headed, concurrency)
        return
    try:
        settings = common.settings_from(headless=False if headed else None)
        app = App(settings)
        common.require_credentials_unless_saved(settings)
        result, roster = _sync(app, export, options, progress=not as_json)
    except (Exception, KeyboardInterrupt) as exc:
        if metrics_file is not None:
            write_failed_sync_metrics(metrics_file, time.monotonic() - started, exc, app)
        raise
    if metrics_file is not None:
        app.write_sync_metrics(metrics_file, time.monotonic() - started, result, roster)
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        _print_sync(result)


def history(
    limit: int = typer.Option(20, "--limit", min=1, help="How many snapshots, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print them as JSON."),
) -> None:
    """List the stored snapshots, newest first."""
    snapshots = App(common.settings_from()).history(limit)
    if as_json:
        rows = [s.model_dump(mode="json") for s in snapshots]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    if not snapshots:
        print("No snapshots yet: run `stitch-connector sync`.")
        return
    table = Table("Id", "Taken (UTC)", "Account", "Members", "Fingerprint", "Connector")
    for s in snapshots:
        table.add_row(
            str(s.id),
            f"{s.taken_at:%Y-%m-%d %H:%M:%S}",
            cell(f"{s.client_id} {s.company_name or ''}".strip()),
            str(s.count),
            s.fingerprint[:19] + "…",
            cell(s.connector_version or "—"),
        )
    render.stdout_console().print(table)


def diff_command(
    first: int | None = typer.Argument(
        None, metavar="A", help="The older snapshot id (default: the 2nd newest)."
    ),
    second: int | None = typer.Argument(
        None, metavar="B", help="The newer snapshot id (default: the newest)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    """What changed between two snapshots (ids from `history`); default: the last two."""
    report = App(common.settings_from()).diff(first, second)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    print(
        f"Snapshot {report.before.id} ({report.before.taken_at:%Y-%m-%d %H:%M} UTC, "
        f"{report.before.count} members) → snapshot {report.after.id} "
        f"({report.after.taken_at:%Y-%m-%d %H:%M} UTC, {report.after.count} members)"
    )
    _print_changes(report.changes, None)


# ---------------------------------------------------------------- the sync itself


def _sync(
    app: App, export: Path | None, options: SyncOptions, *, progress: bool
) -> tuple[SyncReport, MemberList]:
    if export is not None and export.exists() and not export.is_dir():
        raise ConfigError(f"--export {export} is not a folder")
    run_id = new_run_id()
    common.start_logging(run_id)

    async def go() -> tuple[SyncReport, MemberList]:
        with common.progress_reporter(progress) as report:
            run = RunOptions(run_id, command=common.command_line(), on_progress=report)
            return await app.sync(options, run)

    report, roster = common.run(go)
    if export is not None:
        report = report.model_copy(
            update={"exported": [str(p) for p in export_roster(roster, export)]}
        )
    return report, roster


_LABELS = {
    ChangeKind.JOINED: "joined",
    ChangeKind.LEFT: "left",
    ChangeKind.ROLE_CHANGED: "role changed",
    ChangeKind.INVITE_ACCEPTED: "invite accepted",
    ChangeKind.DEACTIVATED: "deactivated",
    ChangeKind.STATUS_CHANGED: "status changed",
    ChangeKind.INVOICE_ADMIN_MOVED: "Invoice Admin",
}


def _print_sync(result: SyncReport) -> None:
    if result.accepted_drop:
        common.stderr.print(
            f"warning: stored despite the confidence gate (--accept-drop): {result.accepted_drop}",
            highlight=False,
            markup=False,
        )
    snap = result.snapshot
    company = f" ({_plain(snap.company_name)})" if snap.company_name else ""
    print(
        f"Stored snapshot {snap.id}: {snap.count} members of account {snap.client_id}{company}, "
        f"read {snap.taken_at:%Y-%m-%d %H:%M} UTC."
    )
    if result.previous is None:
        print("First snapshot: nothing to compare with yet.")
    else:
        _print_changes(result.changes, result.previous)
    if result.pruned:
        print(f"Pruned {result.pruned} old snapshot(s).")
    for path in result.exported:
        print(f"Wrote {path}")


def _print_changes(changes: list[Change], since: SnapshotInfo | None) -> None:
    where = f" since snapshot {since.id} ({since.taken_at:%Y-%m-%d %H:%M} UTC)" if since else ""
    if not changes:
        print(f"No changes{where}.")
        return
    print(f"{len(changes)} change(s){where}:")
    for c in changes:
        print(f"  {_LABELS[c.kind]:<16} {_describe(c)}")


def _describe(c: Change) -> str:
    m = c.member
    if c.kind in (ChangeKind.JOINED, ChangeKind.LEFT) and m is not None:
        name = f"{m.name}, " if m.name else ""
        return _plain(f"{m.email} ({name}{m.role.value}, {m.status.value})")
    if c.by_connector:
        return _plain(f"{c.email}: {c.before} → {c.after} (by this connector; no longer listed)")
    if c.kind == ChangeKind.INVOICE_ADMIN_MOVED:
        return _plain(f"{c.before or 'nobody'} → {c.after or 'nobody'}")
    if c.kind == ChangeKind.INVITE_ACCEPTED and m is not None and m.name:
        return _plain(f"{c.email} ({m.name})")
    return _plain(f"{c.email}: {c.before} → {c.after}")


def _plain(text: str) -> str:
    """Scraped text is untrusted: no control characters reach the terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)

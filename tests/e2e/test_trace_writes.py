"""The trace commands that write record by default ("writes", tracing.py): it starts at the
removal's row lookup, not at sign-in or the plan's read, and it is kept only when the run
fails. A removal that succeeds keeps its screenshots and audit record instead."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from connector import runner
from connector.client import StitchConnector
from connector.logs import new_run_id
from connector.models import OutcomeStatus
from connector.operations import RunOptions
from connector.sandbox.server import RunningSandbox
from tests.conftest import MakeSandbox, settings_for
from tests.e2e.test_deactivate import team_box
from tests.e2e.test_debugging import forms

pytestmark = pytest.mark.e2e


class Boom(Exception):
    """The run fails after its write."""


def run_in_writes_mode(
    box: RunningSandbox,
    state: Path,
    *,
    remove: bool,
    fail: bool,
    expect: OutcomeStatus = OutcomeStatus.DEACTIVATED,
    **over: Any,
) -> tuple[Path, list[str]]:
    """One run in "writes" mode: deactivate a@ (ending `expect`) or only read, then fail with
    an error or not. Its run folder, and the session's cookie values (for the secret scan)."""
    settings = settings_for(box, state, **{"write_timeout_ms": 4_000, **over})
    run = RunOptions(new_run_id(), trace="writes")

    async def go() -> list[str]:
        async with StitchConnector(settings, run) as stitch:
            if remove:
                (outcome,) = await stitch.deactivate(["a@corp.com"], actor="test")
                assert outcome.status is expect
            else:
                await stitch.list_members()
            cookies = [c["value"] for c in await stitch._session.context.cookies()]
            if fail:
                raise Boom(cookies)
            return cookies

    try:
        cookies = runner.run(go)
    except Boom as exc:
        cookies = exc.args[0]
    return settings.runs_dir / run.run_id, cookies


def test_a_successful_removal_keeps_no_trace_but_its_screenshots(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    run_dir, _ = run_in_writes_mode(box, tmp_path / "state", remove=True, fail=False)
    assert not list(run_dir.glob("trace-*.zip"))
    assert len(list(run_dir.glob("*a-corp.com-before.png"))) == 1
    assert len(list(run_dir.glob("*a-corp.com-after.png"))) == 1


def test_a_run_failing_after_a_write_keeps_the_trace_of_the_write(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)  # no saved session: the run signs in first
    run_dir, cookies = run_in_writes_mode(box, tmp_path / "state", remove=True, fail=True)
    (trace,) = run_dir.glob("trace-*.zip")
    with zipfile.ZipFile(trace) as z:
        blobs = {name: z.read(name) for name in z.namelist()}
    steps = b"".join(b for name, b in blobs.items() if name.endswith(".trace"))
    assert steps.count(b'"method":"click"') >= 2  # the row's control, then the confirmation
    assert b"/session/create" not in steps  # the sign-in is not in it: it starts at the write
    # No DOM snapshots (~0.3 s a removal), so no network either: the bundle's network.log
    # holds the write request and its answer instead.
    assert b'"type":"frame-snapshot"' not in steps
    assert re.search(r"HTTP 200 POST \S+/deactivate", (run_dir / "network.log").read_text())
    for secret in [box.options.admin_password, *cookies]:
        for form in forms(secret):
            assert all(form not in blob for blob in blobs.values()), "a secret is in the trace"


def test_a_run_that_writes_nothing_records_no_trace(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    run_dir, _ = run_in_writes_mode(box, tmp_path / "state", remove=False, fail=True)
    assert not list(run_dir.glob("trace-*.zip"))


def test_a_removal_ending_unknown_keeps_the_trace_of_its_write(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """No error escapes the run, but the write did not prove out: its trace is what an
    engineer needs, so it is kept (before: only an escaping error kept it)."""
    box = team_box(make_sandbox, tmp_path, slow_write_ms=3_000, slow_write_mode="act")
    run_dir, _ = run_in_writes_mode(
        box,
        tmp_path / "state",
        remove=True,
        fail=False,
        expect=OutcomeStatus.UNKNOWN,
        write_timeout_ms=1_000,
        early_read_ms=0,
    )
    assert len(list(run_dir.glob("trace-*.zip"))) == 1
    assert re.search(r"SENT POST \S+/deactivate", (run_dir / "network.log").read_text())

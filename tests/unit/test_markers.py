"""The fast layer, `pytest -m "not browser"`, starts no browser, sandbox, CLI or service.

Two proofs, both run here in a child pytest: the collected fast layer has no test that uses a
fixture that starts one (nor any test of tests/e2e/ or marked e2e), and the guard in
tests/browser_marks.py makes a test that starts one anyway, by a path no rule can see, fail.
The guard is on in every run, the full one included: every test not marked `browser` runs under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.browser_marks import STARTING_FIXTURES

ROOT = Path(__file__).resolve().parents[2]

_REPORT = """
import json, os

DESELECTED = []


def row(item):
    return {
        "id": item.nodeid,
        "fixtures": sorted(getattr(item, "fixturenames", ())),
        "marks": sorted({m.name for m in item.iter_markers()}),
    }


def pytest_deselected(items):
    DESELECTED.extend(row(item) for item in items)


def pytest_collection_finish(session):
    layers = {"selected": [row(item) for item in session.items], "deselected": DESELECTED}
    with open(os.environ["COLLECTED_REPORT"], "w", encoding="utf-8") as out:
        json.dump(layers, out)
"""

Rows = list[dict[str, Any]]


def _pytest(
    cwd: Path, *args: str, path: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """A child pytest in `cwd`, importing the repo and `path` (default: `cwd`)."""
    where = os.pathsep.join([str(ROOT), str(path or cwd)])
    child_env = {**os.environ, "PYTHONPATH": where, **env}
    child_env.pop("PYTEST_XDIST_WORKER", None)
    child_env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _collected(tmp_path: Path) -> tuple[Rows, Rows]:
    """The suite as `pytest -m "not browser" --collect-only` sees it: (selected, deselected)."""
    (tmp_path / "collected_report.py").write_text(_REPORT, encoding="utf-8")
    report = tmp_path / "collected.json"
    done = _pytest(
        ROOT,
        "-m",
        "not browser",
        "--collect-only",
        "-q",
        "-p",
        "collected_report",
        "-p",
        "no:xdist",
        path=tmp_path,
        COLLECTED_REPORT=str(report),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    layers: dict[str, Rows] = json.loads(report.read_text(encoding="utf-8"))
    return layers["selected"], layers["deselected"]


def test_the_fast_layer_uses_no_fixture_that_starts_a_browser(tmp_path: Path) -> None:
    fast, heavy = _collected(tmp_path)
    fast_ids = {str(row["id"]) for row in fast}
    heavy_ids = {str(row["id"]) for row in heavy}
    assert not fast_ids & heavy_ids
    assert len(fast) > 500 and len(heavy) > 300  # two real layers, not one empty

    for row in fast:
        assert not set(row["fixtures"]) & STARTING_FIXTURES, row
        assert "e2e" not in row["marks"] and "browser" not in row["marks"], row
        assert not str(row["id"]).startswith("tests/e2e/"), row
    for row in heavy:
        assert "browser" in row["marks"], row
    # Known starters of each kind are in the browser layer, whatever marks they carry themselves.
    for expected in (
        "tests/unit/test_sandbox_server.py::test_two_distinct_origins",  # a module's sandbox
        "tests/unit/test_sandbox_browser.py::",  # the module's Chromium
        "tests/service/test_api.py::",  # `serve` subprocesses
        "tests/e2e/test_cli.py::test_help_teaches_and_does_not_load_playwright",  # the CLI
        "tests/replay/test_fixtures.py::test_replayed_page_extracts_exactly_as_expected",
    ):
        assert any(i.startswith(expected) for i in heavy_ids), expected
        assert not any(i.startswith(expected) for i in fast_ids), expected


_HIDDEN_STARTS = """
import subprocess, sys

import pytest


def _sandbox():
    from connector.sandbox.options import SandboxOptions
    from connector.sandbox import server

    with server.running_sandbox(SandboxOptions(latency_ms=0)):
        pass


def _chromium():
    from playwright.sync_api import sync_playwright as start

    with start():
        pass


def _cli():
    subprocess.run([sys.executable, "-m", "connector.cli", "--help"], check=True)


def _session():  # a browser session: on a worker's running Chromium it starts no driver
    import asyncio

    from connector.browser import BrowserSession
    from connector.settings import Settings

    settings = Settings(
        base_url="http://127.0.0.1:9", email="a@example.com", password="pw", state_dir="state"
    )

    async def go():
        async with BrowserSession(settings):
            pass

    asyncio.run(go())


def test_starts_a_sandbox_unmarked():
    _sandbox()


def test_starts_chromium_unmarked():
    _chromium()


def test_spawns_the_cli_unmarked():
    _cli()


def test_opens_a_browser_session_unmarked():
    _session()


def test_plain_python_subprocess_is_fine():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.browser
def test_marked_may_start_a_sandbox():
    _sandbox()
"""


def test_the_guard_fails_an_unmarked_test_that_starts_one_anyway(tmp_path: Path) -> None:
    (tmp_path / "test_hidden.py").write_text(textwrap.dedent(_HIDDEN_STARTS), encoding="utf-8")
    done = _pytest(tmp_path, "-p", "tests.browser_marks", "-q", "-rfE", "test_hidden.py")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "4 failed, 2 passed" in out, out
    for name in (
        "test_opens_a_browser_session_unmarked",
        "test_starts_a_sandbox_unmarked",
        "test_starts_chromium_unmarked",
        "test_spawns_the_cli_unmarked",
    ):
        assert f"FAILED test_hidden.py::{name}" in out, out
    # One raised guard error per failed test (the summary may repeat it: CI=true does).
    raised = [
        line
        for line in out.splitlines()
        if line.startswith("E") and "BrowserGuardError: a test not marked `browser`" in line
    ]
    assert len(raised) == 4, out

    fast = _pytest(
        tmp_path, "-p", "tests.browser_marks", "--collect-only", "-q", "-m", "not browser"
    )
    assert "5/6 tests collected (1 deselected)" in fast.stdout, fast.stdout

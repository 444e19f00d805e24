"""Remote browsers, for real on 127.0.0.1: a Playwright browser server (`playwright run-server`,
chromium.connect) and a Debian Chromium with --remote-debugging-port (connect_over_cdp) run the
same members, sync and deactivate as a local launch; the URL's token never reaches a log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.browser import chromium_args, find_browser
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli, signed_in_env
from tests.e2e.test_deactivate import team_box, writes

pytestmark = pytest.mark.e2e
TOKEN = "remote-browser-token-0123456789"


def _first_line_matching(stream: object, pattern: str, proc: subprocess.Popen[str]) -> str:
    """Read the process's output until a line matches (it says where it listens)."""
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        found = re.search(pattern, line)
        if found:
            return found.group(1)
    raise AssertionError(f"it exited ({proc.poll()}) without saying where it listens")


@pytest.fixture(scope="module")
def playwright_server() -> Iterator[str]:
    """`playwright run-server` on loopback; --unsafe lets the client name the Chromium binary
    (this machine has no Playwright browser build, only Debian's)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", "0",
         "--unsafe"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield _first_line_matching(proc.stdout, r"Listening on (ws://127\.0\.0\.1:\d+/)", proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the Python wrapper and its Node server
        proc.wait(30)


@pytest.fixture(scope="module")
def cdp_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chromium = find_browser(None, None, headless=True).path
    profile = tmp_path_factory.mktemp("cdp-profile")
    proc = subprocess.Popen(
        [str(chromium), "--headless", *chromium_args(), "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        port = _first_line_matching(
            proc.stderr, r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", proc
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # Debian's launcher script and the browser it runs
        proc.wait(30)


def remote_env(kind: str, ws: str, cdp: str) -> dict[str, str]:
    if kind == "playwright-server":
        local = find_browser(None, None, headless=True).path
        return {
            "STITCH_BROWSER_WS_ENDPOINT": f"{ws}?token={TOKEN}",
            "STITCH_BROWSER_PATH": str(local),
        }
    return {"STITCH_BROWSER_CDP_URL": cdp}


@pytest.mark.parametrize("kind", ["playwright-server", "cdp"])
def test_members_sync_and_deactivate_through_a_remote_browser(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    playwright_server: str,
    cdp_chromium: str,
    kind: str,
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = {
        **signed_in_env(box, tmp_path / "state"),
        "STITCH_WRITE_TIMEOUT_MS": "4000",
        **remote_env(kind, playwright_server, cdp_chromium),
    }
    listed = run_cli("--log-level", "info", "members", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["members"]) == 15
    assert '"browser.connect"' in listed.stderr or "browser.connect" in listed.stderr
    synced = run_cli("sync", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    removed = run_cli(
        "--log-level", "debug", "deactivate", "--yes", "--json", "a@corp.com", env=env
    )
    assert removed.returncode == 0, removed.stderr
    assert [o["status"] for o in json.loads(removed.stdout)] == ["deactivated"]
    assert [w["email"] for w in writes(box)] == ["a@corp.com"]
    for text in (listed.stderr, synced.stderr, removed.stderr):
        assert TOKEN not in text
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log", ".txt", ".html"):
            assert TOKEN not in path.read_text(errors="replace"), path


def test_a_remote_browser_that_does_not_answer_is_a_clear_transient_error(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = {
        **signed_in_env(box, tmp_path / "state"),
        "STITCH_TIMEOUT_MS": "2000",
        "STITCH_BROWSER_WS_ENDPOINT": f"ws://127.0.0.1:9/?token={TOKEN}",  # discard: nobody
    }
    failed = run_cli("members", env=env)
    assert failed.returncode == 8, failed.stderr
    assert "ws://127.0.0.1:9" in failed.stderr and TOKEN not in failed.stderr
    both = run_cli("members", env={**env, "STITCH_BROWSER_CDP_URL": "http://127.0.0.1:9"})
    assert both.returncode == 3 and "not both" in both.stderr
    bad = run_cli("members", env={"STITCH_BROWSER_CDP_URL": f"ftp://x/{TOKEN}"})
    assert bad.returncode == 3 and TOKEN not in bad.stderr


def test_a_remote_browser_gone_mid_write_leaves_it_unknown_and_never_clicks_twice(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """The browser server dies at the click (Stitch acts 20 s later, so nothing can prove it
    first). Like a crash: the outcome is not success, the audit trail holds the click, and
    the next run refuses a second click until a person resolves it."""
    box = team_box(make_sandbox, tmp_path, slow_write_ms=20_000, slow_write_mode="act")
    proc = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", "0",
         "--unsafe"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    ws = _first_line_matching(proc.stdout, r"Listening on (ws://127\.0\.0\.1:\d+/)", proc)
    state = tmp_path / "state"
    env = {
        **signed_in_env(box, state),
        "STITCH_WRITE_TIMEOUT_MS": "30000",
        **remote_env("playwright-server", ws, ""),
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "deactivate", "--yes", "--json", "a@corp.com"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    trail = state / "audit.jsonl"
    try:
        deadline = time.monotonic() + 60
        while '"clicked"' not in (trail.read_text() if trail.exists() else ""):
            assert cli.poll() is None and time.monotonic() < deadline, cli.communicate()
            time.sleep(0.05)  # polling the audit trail for the click's record, bounded
        os.killpg(proc.pid, signal.SIGKILL)  # the server (its Node child too) goes away
        proc.wait(30)
        out, err = cli.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        cli.kill()
    assert cli.returncode != 0, out  # never success
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    outcomes = [r["outcome"] for r in records if r["target"] == "a@corp.com"]
    assert outcomes[0] == "clicked" and "deactivated" not in outcomes, (outcomes, err)
    again = run_cli("deactivate", "--yes", "--json", "a@corp.com", env=signed_in_env(box, state))
    assert again.returncode == 9, again.stderr  # refused: its last click was never proven
    assert json.loads(again.stdout)[0]["rule"] == "unresolved_unknown"
    assert len(writes(box)) <= 1  # never clicked twice

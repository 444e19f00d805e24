"""Debugging runs: traces without secrets, the failure bundle, headed runs, retention."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from connector import runner
from connector.client import StitchConnector
from connector.clock import TestClock
from connector.errors import PageNotRecognised
from connector.logs import new_run_id
from connector.models import LoginReport, OutcomeStatus
from connector.operations import RunOptions
from tests.conftest import MakeSandbox, drifted_selectors, settings_for
from tests.e2e.test_cli import env_for, run_cli
from tests.e2e.test_deactivate import TEAM, team_box, writes
from tests.e2e.test_members import scrape

pytestmark = pytest.mark.e2e
PASSWORD = "Trace-Pw-0071-secret"
TOTP = "KRUGS4ZANFZSA43FMNZGK5BAORXXI4BA"


def forms(secret: str) -> set[bytes]:
    raw = secret.encode()
    return {raw, urllib.parse.quote(secret, safe="").encode(), base64.b64encode(raw)}


def test_trace_of_signin_and_deactivate_holds_no_secret(
    make_sandbox: MakeSandbox, tmp_path: Path, wall_clock: TestClock
) -> None:
    roster = tmp_path / "team.json"
    roster.write_text(json.dumps(TEAM))
    box = make_sandbox(
        members_file=roster,
        latency_ms=10,
        mfa="totp",
        admin_password=PASSWORD,
        totp_secret=TOTP,
        wall_clock=wall_clock.time,
    )
    settings = settings_for(box, tmp_path / "state", trace="on", write_timeout_ms=4_000)

    async def go() -> tuple[list[str], str]:
        async with StitchConnector(settings) as stitch:
            outcomes = await stitch.deactivate(["a@corp.com"], actor="test")
            box.expire_sessions()  # a second sign-in mid-run, with the trace paused
            await stitch.list_members()
            cookies = [c["value"] for c in await stitch._session.context.cookies()]
            assert outcomes[0].status is OutcomeStatus.DEACTIVATED
            return cookies, stitch.run_id

    cookies, run_id = runner.run(go)
    # The second sign-in came in the first one's TOTP window: it waited for the next (at once).
    assert len(wall_clock.slept) == 1 and 0 < wall_clock.slept[0] <= 30.05, wall_clock.slept
    traces = sorted((settings.runs_dir / run_id).glob("trace-*.zip"))
    assert len(traces) == 2, traces  # one chunk before the second sign-in, one after
    secrets = [PASSWORD, TOTP, *cookies]
    assert all(len(c) > 8 for c in cookies)
    seen_files = 0
    for trace in traces:
        with zipfile.ZipFile(trace) as z:
            names = z.namelist()
            assert any(n.endswith(".trace") for n in names)
            for name in names:
                data = z.read(name)
                seen_files += 1
                for secret in secrets:
                    for form in forms(secret):
                        assert form not in data, f"a secret is in {trace.name}:{name}"
    assert seen_files > 5


def test_failure_bundle(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=8, latency_ms=10)
    settings = settings_for(box, tmp_path / "state", trace="retain-on-failure")
    drifted = drifted_selectors(tmp_path, 'role = ["Role"]', 'role = ["Part"]')

    async def go() -> None:
        async with StitchConnector(
            settings, RunOptions(run_id=new_run_id(), command="test run"), selectors=drifted
        ) as stitch:
            await stitch.list_members()

    with pytest.raises(PageNotRecognised) as info:
        runner.run(go)
    run_dir = info.value.artifacts[0].parent
    names = {p.name for p in run_dir.iterdir()}
    assert {"README.txt", "console.log", "network.log", "trace-1.zip"} <= names
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".html") for n in names)
    readme = (run_dir / "README.txt").read_text()
    assert "test run failed" in readme and "PageNotRecognised" in readme
    assert f"stitch-connector show-trace {run_dir / 'trace-1.zip'}" in readme
    session = json.loads(settings.storage_state_path.read_text())
    secrets = [box.options.admin_password, *[c["value"] for c in session["cookies"]]]
    for path in run_dir.iterdir():  # the secret scan over the bundle, trace contents included
        blobs = [path.read_bytes()]
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                blobs += [z.read(n) for n in z.namelist()]
        for blob in blobs:
            for secret in secrets:
                for form in forms(secret):
                    assert form not in blob, f"a secret is in {path.name}"


def test_successful_read_keeps_no_trace_by_default(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(members=4, latency_ms=10)
    settings = settings_for(box, tmp_path / "state", trace="retain-on-failure")

    async def go() -> str:
        async with StitchConnector(settings) as stitch:
            await stitch.list_members()
            return stitch.run_id

    run_id = runner.run(go)
    assert not list((settings.runs_dir / run_id).glob("trace-*.zip"))


def test_old_run_folders_are_pruned(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=3, latency_ms=10)
    settings = settings_for(box, tmp_path / "state", keep_runs=3, keep_runs_days=7)
    runs = settings.runs_dir
    for i in range(6):
        folder = runs / f"old-{i}"
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(b"x")
        age = time.time() - (i + 1) * 60
        os.utime(folder, (age, age))
    ancient = runs / "ancient"
    ancient.mkdir()
    os.utime(ancient, (time.time() - 10 * 86_400,) * 2)

    async def go() -> None:
        async with StitchConnector(settings) as stitch:
            await stitch.list_members()

    runner.run(go)
    assert sorted(p.name for p in runs.iterdir()) == ["old-0", "old-1", "old-2"]


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb (scripts/bootstrap.sh)")
def test_headed_run_under_xvfb(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = {**env_for(box, tmp_path / "state"), "PATH": os.environ["PATH"]}
    result = subprocess.run(
        [
            "xvfb-run",
            "-a",
            sys.executable,
            "-m",
            "connector.cli",
            "--headed",
            "--slow-mo",
            "20",
            "members",
            "--json",
        ],
        env={k: v for k, v in {**os.environ, **env}.items()},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"a@corp.com"' in result.stdout
    launched = [json.loads(line) for line in result.stderr.splitlines() if "browser.launch" in line]
    assert [line["headless"] for line in launched] == [False]  # a real window, on Xvfb
    assert writes(box) == []


def test_show_trace_needs_a_trace(tmp_path: Path) -> None:
    result = run_cli("show-trace", str(tmp_path / "none.zip"), timeout=30)
    assert result.returncode == 3 and "error: no trace at" in result.stderr


def test_step_mode_accept_skip_quit_from_stdin(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = {
        **env_for(box, tmp_path / "state"),
        "STITCH_MAX_FRACTION": "0.5",
        "STITCH_WRITE_TIMEOUT_MS": "4000",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    targets = ["user1@corp.com", "user2@corp.com", "user3@corp.com", "user4@corp.com"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.cli",
            "--step",
            "deactivate",
            "--yes",
            "--json",
            *targets,
        ],
        input="\ns\nq\n",
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Deactivate user1@corp.com (General User) on account 116078" in result.stderr
    got = [(o["email"], o["status"], o["rule"]) for o in json.loads(result.stdout)]
    assert got == [
        ("user1@corp.com", "deactivated", None),
        ("user2@corp.com", "refused", "human_skip"),
        ("user3@corp.com", "refused", "human_quit"),
        ("user4@corp.com", "refused", "human_quit"),
    ]
    assert [w["email"] for w in writes(box)] == ["user1@corp.com"]
    audit = [
        json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()
    ]
    assert [(r["target"], r["outcome"], r["rule"]) for r in audit] == [
        ("user1@corp.com", "clicked", None),
        ("user1@corp.com", "deactivated", None),
        ("user2@corp.com", "refused", "human_skip"),  # no click: no clicked record
        ("user3@corp.com", "refused", "human_quit"),
        ("user4@corp.com", "refused", "human_quit"),
    ]


@pytest.fixture
def x_display(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A private X server, as `xvfb-run` would give: headed browsers need a display."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("needs Xvfb (scripts/bootstrap.sh installs it)")
    display = f":{100 + os.getpid() % 400}"
    proc = subprocess.Popen(
        [xvfb, display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket_path = Path(f"/tmp/.X11-unix/X{display[1:]}")
    deadline = time.monotonic() + 20
    while not socket_path.exists():  # wait on the condition: the server's socket
        assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    monkeypatch.setenv("DISPLAY", display)
    yield display
    proc.terminate()
    proc.wait(10)


def test_login_interactive_then_headless_runs_reuse_the_session(
    make_sandbox: MakeSandbox, tmp_path: Path, x_display: str
) -> None:
    box = make_sandbox(members=6, latency_ms=10, mfa="totp", totp_secret=TOTP)
    # The person knows the password and has the authenticator; the connector is given neither.
    settings = settings_for(
        box, tmp_path / "state", password=None, totp_secret=None, headless=False
    )

    async def person_signs_in(page: Page) -> None:
        import pyotp

        await page.locator("#st-v2-login-email").fill(box.login_email)
        await page.get_by_role("button", name="Continue").click()
        await page.locator("#password").fill(box.options.admin_password)
        await page.get_by_role("button", name="Log in").click()
        await page.locator("input[autocomplete=one-time-code]").fill(pyotp.TOTP(TOTP).now())
        await page.get_by_role("button", name="Verify").click()

    async def login() -> LoginReport:
        async with StitchConnector(settings) as stitch:
            return await stitch.login_interactive(timeout_s=60, on_open=person_signs_in)

    report = runner.run(login)
    assert Path(report.saved_to).stat().st_mode & 0o777 == 0o600
    assert report.expires_at is None  # the sandbox's cookie lasts for the browser session

    headless = settings.model_copy(update={"headless": True})
    roster = scrape(headless)  # no password anywhere, and it still reads the roster
    assert roster.count == 6 and any(m.is_self for m in roster.members)

"""runner.reusing() in a real browser: runs borrow one Chromium and share nothing else."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from connector import runner
from connector.sandbox.server import RunningSandbox
from tests.conftest import MakeSandbox, settings_for
from tests.e2e.test_members import assert_matches_truth, scrape

pytestmark = pytest.mark.e2e


def box_after_one_run(make_sandbox: MakeSandbox, tmp_path: Path) -> RunningSandbox:
    """A sandbox, scraped once: the worker's Chromium for its settings is running now."""
    box = make_sandbox(members=5, latency_ms=10)
    scrape(settings_for(box, tmp_path / "a"))
    return box


def test_runs_borrow_one_chromium_and_each_signs_in_its_own_context(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    log_capture: io.StringIO,
    one_loop_and_chromium_per_worker: runner.Reuse,
) -> None:
    reuse = one_loop_and_chromium_per_worker
    box = box_after_one_run(make_sandbox, tmp_path)
    opened = reuse.opened
    assert_matches_truth(scrape(settings_for(box, tmp_path / "b")), box)
    assert_matches_truth(scrape(settings_for(box, tmp_path / "c")), box)
    assert reuse.opened == opened  # no launch for the second and third run
    events = [json.loads(line)["event"] for line in log_capture.getvalue().splitlines()]
    # Three state dirs, three sign-ins: no cookie crossed from one run's context to the next.
    assert events.count("signin.done") == 3
    assert events.count("browser.launch") <= 1


def test_other_launch_settings_never_borrow_that_chromium(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    log_capture: io.StringIO,
    one_loop_and_chromium_per_worker: runner.Reuse,
) -> None:
    reuse = one_loop_and_chromium_per_worker
    box = box_after_one_run(make_sandbox, tmp_path)
    opened = reuse.opened
    slowed = settings_for(box, tmp_path / "b", slow_mo_ms=7)  # a setting only a launch takes
    assert_matches_truth(scrape(slowed), box)
    assert reuse.opened == opened + 1
    launches = [
        json.loads(line) for line in log_capture.getvalue().splitlines() if "browser.launch" in line
    ]
    assert launches and launches[-1]["headless"] is True

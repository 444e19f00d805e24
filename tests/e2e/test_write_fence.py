"""The fencing check before each click: a run that lost the write lock clicks nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pytest

from connector import runner
from connector.client import StitchConnector
from connector.logs import new_run_id
from connector.models import Outcome, OutcomeStatus
from connector.operations import RunOptions
from tests.conftest import MakeSandbox
from tests.e2e.test_deactivate import statuses, team_box, writes, wsettings

pytestmark = pytest.mark.e2e


def test_a_run_whose_lock_was_replaced_clicks_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    settings = wsettings(box, tmp_path / "state")

    async def step(_: str) -> Literal["go", "skip", "quit"]:
        # Between the row check and the click, someone replaces write.lock by hand.
        lock = settings.state_dir / "write.lock"
        spare = settings.state_dir / "other.lock"
        spare.write_text("")
        os.replace(spare, lock)
        return "go"

    async def go() -> list[Outcome]:
        async with StitchConnector(settings, RunOptions(run_id=new_run_id(), step=step)) as stitch:
            return await stitch.deactivate(["a@corp.com"], actor="test")

    (outcome,) = runner.run(go)
    assert outcome.status is OutcomeStatus.FAILED, outcome
    assert "LockLost" in (outcome.reason or "")
    assert writes(box) == [] and statuses(box)["a@corp.com"] == "active"


def test_a_session_that_ends_mid_removal_is_signed_in_again_and_retried_once(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Was: Stitch answered 401 to the write and changed nothing, yet the run waited for the
    banner, reported `unknown`, stopped the batch and the member needed `audit resolve`."""
    box = team_box(make_sandbox, tmp_path)
    settings = wsettings(box, tmp_path / "state", write_timeout_ms=15_000)
    expired: list[bool] = []

    async def step(_: str) -> Literal["go", "skip", "quit"]:
        if not expired:  # the session ends between the row check and the first click
            box.expire_sessions()
            expired.append(True)
        return "go"

    async def go() -> list[Outcome]:
        async with StitchConnector(settings, RunOptions(run_id=new_run_id(), step=step)) as stitch:
            return await stitch.deactivate(["a@corp.com"], actor="test")

    (outcome,) = runner.run(go)
    assert outcome.status is OutcomeStatus.DEACTIVATED, outcome
    assert [(w["email"], w["status"]) for w in writes(box)] == [
        ("a@corp.com", 401),
        ("a@corp.com", 200),
    ]
    assert statuses(box)["a@corp.com"] == "deactivated"

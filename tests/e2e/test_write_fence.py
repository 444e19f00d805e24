"""The fencing check before each click: a run that lost the write lock clicks nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Literal

import pytest

from connector.client import StitchConnector
from connector.models import Outcome, OutcomeStatus
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
        async with StitchConnector(settings, step=step) as stitch:
            return await stitch.deactivate(["a@corp.com"], actor="test")

    (outcome,) = asyncio.run(go())
    assert outcome.status is OutcomeStatus.FAILED, outcome
    assert "LockLost" in (outcome.reason or "")
    assert writes(box) == [] and statuses(box)["a@corp.com"] == "active"

"""The typed inputs and results of the App's operations (connector/app.py): how a run is
named and watched, how a sync gates, and what diff, a write run and the audit check return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from connector.changes import Change
from connector.models import MemberList, Outcome, Progress, SnapshotInfo
from connector.removal import (
    StepPrompt as StepPrompt,  # asked before each state-changing click (--step)
)

if TYPE_CHECKING:  # Playwright loads with these: not at import, so `--help` stays quick
    from connector.browser import SharedBrowser
    from connector.tracing import TraceMode

ProgressCallback = Callable[[Progress], None]


class DiffReport(BaseModel):
    """Two stored snapshots and what changed between them (`diff --json`)."""

    before: SnapshotInfo
    after: SnapshotInfo
    changes: list[Change]


class SyncOptions(BaseModel):
    """How the scheduled sync gates and keeps what it reads."""

    max_drop: float = 0.3
    accept_drop: bool = False
    keep: int | None = None


@dataclass(frozen=True)
class RunOptions:
    """How one run against Stitch is named and watched: its id, the command line that started
    it (for its failure bundle), progress, Playwright tracing, and the --step prompt."""

    run_id: str
    command: str = "stitch-connector"
    on_progress: ProgressCallback | None = None
    trace: TraceMode = "off"
    step: StepPrompt | None = None
    browser: SharedBrowser | None = None  # a running browser to use (the service's worker)


@dataclass(frozen=True)
class Removal:
    """A write run's outcomes, and the roster as its last read (the verification read after
    the removals) saw it; None when the run read no roster."""

    outcomes: list[Outcome]
    roster: MemberList | None


@dataclass(frozen=True)
class AuditCheck:
    """The trail's verification: how many records, and the first problem (None: intact)."""

    count: int
    problem: str | None
    path: Path
    head_path: Path

"""The sync's Prometheus file after a run that stored nothing (metrics.py writes it)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import ConfidenceGate, ConfigError
from connector.models import MemberList

if TYPE_CHECKING:
    from connector.app import App


def write_failed_sync_metrics(
    path: Path, duration_s: float, failure: BaseException, app: App | None
) -> None:
    """The sync's Prometheus file after a run that stored nothing. The members and the last
    success stay those of the last stored snapshot, so a failing run never looks like an empty
    account; without settings (`app` None) there is nothing stored to report."""
    from connector.metrics import SyncOutcome, write_sync_metrics

    gated = isinstance(failure, ConfidenceGate)
    stored: MemberList | None = None
    last: datetime | None = None
    if app is not None:
        with suppress(ConfigError):  # the store may be the very thing that failed
            stored, last = app.last_stored()
    with suppress(ConfigError):  # never hide the run's own error behind this one
        write_sync_metrics(
            path,
            outcome=SyncOutcome.CONFIDENCE_GATE if gated else SyncOutcome.ERROR,
            duration_seconds=duration_s,
            roster=stored,
            last_success=last,
        )

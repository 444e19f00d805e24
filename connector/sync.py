"""The scheduled job's core, shared by `stitch-connector sync` and the service's POST /v1/sync:
gate a fresh roster against the last snapshot, store it, and say what changed.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel

from connector import __version__
from connector.changes import Change, confidence_problem, diff
from connector.errors import ConfidenceGate, ConfigError
from connector.logs import get_logger
from connector.models import MemberList
from connector.store import SnapshotInfo, SnapshotStore

log = get_logger(__name__)


class SyncReport(BaseModel):
    """What `sync --json` prints, and what POST /v1/sync answers."""

    snapshot: SnapshotInfo
    previous: SnapshotInfo | None
    changes: list[Change]
    accepted_drop: str | None = None  # the gate's finding that --accept-drop overrode
    pruned: int = 0
    exported: list[str] = []


def store_roster(
    store: SnapshotStore,
    roster: MemberList,
    *,
    evidence_dir: Path,
    max_drop: float,
    accept_drop: bool = False,
    keep: int | None = None,
    removed_by_us: Collection[str] = (),
) -> SyncReport:
    """Store `roster` as the newest snapshot unless the confidence gate refuses it.

    `removed_by_us`: emails this connector just removed and proved removed; they do not count as
    a suspicious drop (the gate is for rows the page stopped showing, not verified removals).
    """
    newest = store.history(1)
    previous_info = newest[0] if newest else None
    previous = store.get(previous_info.id) if previous_info else None
    if previous is not None and previous.account.client_id != roster.account.client_id:
        raise ConfigError(
            f"the snapshots in {store.path} are of account {previous.account.client_id}, "
            f"this is account {roster.account.client_id}",
            hint="Use one STITCH_STATE_DIR per Stitch account.",
        )
    problem = None
    if previous is not None:
        gone = set(removed_by_us)
        expected = previous.model_copy(
            update={"members": [m for m in previous.members if m.email not in gone]}
        )
        problem = confidence_problem(expected, roster, max_drop=max_drop)
    if problem and not accept_drop:
        evidence = evidence_dir / "rejected-roster.json"
        _write_private(evidence, roster.model_dump_json(indent=2) + "\n")
        log.warning("sync.confidence_gate", problem=problem, evidence=str(evidence))
        raise ConfidenceGate(
            f"not stored: {problem}. This is far likelier UI drift than a mass exodus",
            artifacts=[evidence],
        )
    snapshot_id = store.save(roster, connector_version=__version__)
    pruned = store.prune(keep) if keep is not None else 0
    changes = diff(previous, roster) if previous is not None else []
    log.info(
        "sync.stored",
        snapshot_id=snapshot_id,
        count=roster.count,
        changes=len(changes),
        pruned=pruned,
        accepted_drop=problem,
    )
    return SyncReport(
        snapshot=store.info(snapshot_id),
        previous=previous_info,
        changes=changes,
        accepted_drop=problem,
        pruned=pruned,
    )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)

"""The confidence gate in front of the snapshot store, for `stitch-connector sync` and the service:
gate a fresh roster against the last snapshot, store it, and say what changed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from connector import __version__
from connector.changes import Change, confidence_problem, diff
from connector.errors import ConfidenceGate, ConfigError
from connector.logs import get_logger
from connector.models import MemberList
from connector.private_files import write_private_text
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


RATCHET_DAYS = 7  # the longer baselines look this far back ...
RATCHET_SNAPSHOTS = 50  # ... and at most this many snapshots


class Baseline(BaseModel):
    """One roster the confidence gate compares a new one with."""

    label: str
    snapshot: SnapshotInfo


def baselines(store: SnapshotStore, now: datetime) -> list[Baseline]:
    """What a new roster read at `now` is compared with: the last snapshot; the largest of the
    recent ones (a slow drop, 10 points a run, must not pass one step at a time); and the last
    one a person accepted past the gate. The recent window never reaches back before that
    acceptance: a drop a person confirmed is the new normal."""
    recent = store.history(RATCHET_SNAPSHOTS)
    if not recent:
        return []
    found = [Baseline(label="the last snapshot", snapshot=recent[0])]
    accepted = store.last_accepted()
    start = now - timedelta(days=RATCHET_DAYS)
    if accepted is not None and accepted.taken_at > start:
        start = accepted.taken_at
    window = [s for s in recent if s.taken_at >= start]
    if window:
        largest = max(window, key=lambda s: (s.count, s.id))  # the newest of equal ones
        if largest.count > recent[0].count:
            found.append(
                Baseline(
                    label=f"the largest snapshot of the last {RATCHET_DAYS} days",
                    snapshot=largest,
                )
            )
    if (
        accepted is not None
        and accepted.taken_at >= now - timedelta(days=RATCHET_DAYS)
        and all(b.snapshot.id != accepted.id for b in found)
    ):
        found.append(
            Baseline(label="the last snapshot a person accepted (--accept-drop)", snapshot=accepted)
        )
    return found


def store_roster(
    store: SnapshotStore,
    roster: MemberList,
    *,
    evidence_dir: Path,
    max_drop: float,
    accept_drop: bool = False,
    keep: int | None = None,
    removed_by_us: Collection[str] = (),
    removed_by_connector: Mapping[str, datetime] | None = None,
) -> SyncReport:
    """Store `roster` as the newest snapshot unless the confidence gate refuses it.

    `removed_by_us`: emails this connector just removed and proved removed; they do not count as
    a suspicious drop (the gate is for rows the page stopped showing, not verified removals).
    `removed_by_connector`: email -> when this connector proved it removed them (the audit
    trail's view): not a drop against any baseline older than that, and reported as
    `deactivated` (by the connector) rather than `left`.
    """
    ours = dict(removed_by_connector or {})
    compare_with = baselines(store, roster.scraped_at)
    previous_info = compare_with[0].snapshot if compare_with else None
    previous = store.get(previous_info.id) if previous_info else None
    _same_account(store, previous, roster)
    loaded = {previous_info.id: previous} if previous_info and previous else {}
    problem = _gate(
        store, roster, compare_with, loaded, set(removed_by_us), ours, max_drop=max_drop
    )
    if problem and not accept_drop:
        evidence = evidence_dir / "rejected-roster.json"
        write_private_text(evidence, roster.model_dump_json(indent=2) + "\n")
        log.warning("sync.confidence_gate", problem=problem, evidence=str(evidence))
        raise ConfidenceGate(
            f"not stored: {problem}. This is far likelier UI drift than a mass exodus",
            artifacts=[evidence],
        )
    snapshot_id = store.save(roster, connector_version=__version__, accepted_drop=problem)
    pruned = store.prune(keep) if keep is not None else 0
    changes = diff(previous, roster, removed_by_connector=ours) if previous is not None else []
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


def _same_account(store: SnapshotStore, previous: MemberList | None, roster: MemberList) -> None:
    if previous is not None and previous.account.client_id != roster.account.client_id:
        raise ConfigError(
            f"the snapshots in {store.path} are of account {previous.account.client_id}, "
            f"this is account {roster.account.client_id}",
            hint="Use one STITCH_STATE_DIR per Stitch account.",
        )


def _gate(
    store: SnapshotStore,
    roster: MemberList,
    compare_with: list[Baseline],
    loaded: Mapping[int, MemberList],
    removed_by_us: set[str],
    ours: Mapping[str, datetime],
    *,
    max_drop: float,
) -> str | None:
    """The first baseline that refuses `roster`, as the gate's finding (None: every one passes).

    Members this connector proved removed are taken out of a baseline older than the removal:
    a verified removal is not a drop. `loaded`: snapshots already read (the last one), by id."""
    for baseline in compare_with:
        before = loaded.get(baseline.snapshot.id) or store.get(baseline.snapshot.id)
        gone = removed_by_us | {e for e, at in ours.items() if at >= baseline.snapshot.taken_at}
        expected = before.model_copy(
            update={"members": [m for m in before.members if m.email not in gone]}
        )
        problem = confidence_problem(expected, roster, max_drop=max_drop, baseline=baseline.label)
        if problem:
            return (
                f"{problem} (the baseline that refused it: snapshot {baseline.snapshot.id} of "
                f"{baseline.snapshot.taken_at:%Y-%m-%d %H:%M} UTC)"
            )
    return None

"""The confidence gate's ratchet: a roster is compared with the last snapshot, the largest
recent one and the last one a person accepted; and members this connector removed are neither a
suspicious drop nor `left`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.changes import ChangeKind
from connector.errors import ConfidenceGate
from connector.models import MemberList
from connector.snapshot_gate import store_roster
from connector.store import SnapshotStore
from tests.unit.test_store import START, roster


def sized(count: int, *, at: float) -> MemberList:
    """The signed-in admin and count - 1 others; smaller rosters lose the highest numbers."""
    team = roster(*[f"u{i:03}@example.com" for i in range(count - 1)])
    return team.model_copy(update={"scraped_at": START + timedelta(hours=at)})


def test_a_slow_drop_is_refused_once_it_passes_the_largest_recent_snapshot(
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "snapshots.sqlite3")
    stored: list[int] = []
    refusal = None
    for run, count in enumerate([100, 90, 80, 70, 60, 50, 40]):
        try:
            store_roster(store, sized(count, at=run), evidence_dir=tmp_path, max_drop=0.3)
        except ConfidenceGate as exc:
            refusal = str(exc)
            break
        stored.append(count)
    assert stored == [100, 90, 80, 70]  # 70 is 30 % below 100: allowed; 60 is not
    assert refusal is not None
    assert "40 of the 100 members of the largest snapshot of the last 7 days" in refusal
    assert "the baseline that refused it: snapshot 1 of" in refusal

    accepted = store_roster(
        store, sized(60, at=4), evidence_dir=tmp_path, max_drop=0.3, accept_drop=True
    )  # a person checked: the drop is real
    assert accepted.snapshot.accepted_drop is not None
    assert "largest snapshot" in accepted.snapshot.accepted_drop
    assert store.last_accepted() == accepted.snapshot
    store_roster(store, sized(50, at=5), evidence_dir=tmp_path, max_drop=0.3)  # from 60: fine
    with pytest.raises(ConfidenceGate, match="20 of the 60 members of the largest snapshot"):
        store_roster(store, sized(40, at=6), evidence_dir=tmp_path, max_drop=0.3)


def test_the_longer_baselines_look_back_seven_days(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots.sqlite3")
    store_roster(store, sized(100, at=0), evidence_dir=tmp_path, max_drop=0.3)
    store_roster(store, sized(80, at=24 * 8), evidence_dir=tmp_path, max_drop=0.3)
    report = store_roster(store, sized(60, at=24 * 8 + 1), evidence_dir=tmp_path, max_drop=0.3)
    assert report.snapshot.count == 60  # 100 is too old to count; 80 -> 60 is 25 %


def test_a_person_accepted_snapshot_is_a_baseline(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots.sqlite3")
    store_roster(store, sized(10, at=0), evidence_dir=tmp_path, max_drop=0.3)
    store_roster(store, sized(5, at=1), evidence_dir=tmp_path, max_drop=0.3, accept_drop=True)
    # The accepted roster, then one that swaps every member but the admin: each step is small.
    swapped = roster(*[f"n{i}@example.com" for i in range(4)])
    store_roster(
        store,
        swapped.model_copy(update={"scraped_at": START + timedelta(hours=2)}),
        evidence_dir=tmp_path,
        max_drop=1.0,
    )
    with pytest.raises(ConfidenceGate, match="last snapshot a person accepted"):
        store_roster(
            store,
            swapped.model_copy(update={"scraped_at": START + timedelta(hours=3)}),
            evidence_dir=tmp_path,
            max_drop=0.3,
        )


def test_members_this_connector_removed_are_no_drop_and_not_left(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots.sqlite3")
    store_roster(store, sized(10, at=0), evidence_dir=tmp_path, max_drop=0.3)
    after = sized(6, at=2)  # u005 .. u008 are gone: the connector deactivated them an hour ago
    ours = {f"u{i:03}@example.com": START + timedelta(hours=1) for i in range(5, 9)}
    ours["u000@example.com"] = START + timedelta(hours=1)  # removed, then invited again: listed
    report = store_roster(
        store, after, evidence_dir=tmp_path, max_drop=0.3, removed_by_connector=ours
    )
    assert report.accepted_drop is None
    kinds = {(c.kind, c.email, c.by_connector) for c in report.changes}
    assert kinds == {(ChangeKind.DEACTIVATED, f"u{i:03}@example.com", True) for i in range(5, 9)}
    older = {"u004@example.com": START - timedelta(hours=1)}  # before the last snapshot: left
    report = store_roster(
        store,
        sized(5, at=3),
        evidence_dir=tmp_path,
        max_drop=0.3,
        removed_by_connector={**ours, **older},
    )
    assert [(c.kind, c.by_connector) for c in report.changes] == [(ChangeKind.LEFT, False)]

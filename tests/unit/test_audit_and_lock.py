"""The audit chain verifies, and breaks at the first edited byte; the write lock is exclusive."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.audit import AuditLog
from connector.errors import LockHeld
from connector.lock import WriteLock


def record(target: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return dict(
        run_id="r1",
        request_id="req-1",
        actor="cron",
        target=target,
        action="deactivate",
        outcome="deactivated",
        rule=None,
        reason=None,
        started_at=now,
        finished_at=now,
        connector_version="0.1.0",
        row_before=None,
        roster_fingerprint_before="sha256:a",
        roster_fingerprint_after="sha256:b",
        evidence=[],
    )


def test_chain_verifies_and_any_one_byte_edit_breaks_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(5):
        log.append(**record(f"u{i}@example.com"))
    assert log.verify() == (5, None)
    assert [r.seq for r in log.records()] == [1, 2, 3, 4, 5]
    data = log.path.read_bytes()
    third = data.index(b"u2@example.com")
    for position, replacement in ((third, b"U"), (data.index(b"cron"), b"Cron")):
        edited = data[:position] + replacement + data[position + 1 :]
        log.path.write_bytes(edited)
        count, problem = log.verify()
        assert problem is not None and problem.startswith("line ")
        assert count < 5
    log.path.write_bytes(data)
    assert log.verify() == (5, None)


def test_deleting_or_reordering_records_breaks_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(3):
        log.append(**record(f"u{i}@example.com"))
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert log.verify() == (1, "line 2 (seq 3): the chain is broken here")
    log.path.write_text("\n".join([lines[1], lines[0], lines[2]]) + "\n")
    assert log.verify()[1] == "line 1 (seq 2): the chain is broken here"


def _hold_lock(state: str, ready: Any, release: Any) -> None:
    with WriteLock(Path(state), owner="other", run_id="r-other"):
        ready.set()
        release.wait(30)


def test_second_writer_fails_fast_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(LockHeld, match=r"other .*pid"),
            WriteLock(tmp_path, owner="me", run_id="r-me"),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    with WriteLock(tmp_path, owner="me", run_id="r-me"):  # free again once released
        assert json.loads((tmp_path / "write.lock").read_text())["owner"] == "me"
    assert (tmp_path / "write.lock").read_bytes() == b""  # kept (never deleted), details cleared


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = multiprocessing.get_context("spawn").Process(target=os.getpid)
    dead.start()
    dead.join()
    (tmp_path / "write.lock").write_text(
        json.dumps(
            {
                "owner": "crashed",
                "pid": dead.pid,
                "host": socket.gethostname(),
                "started_at": "2026-01-01T00:00:00+00:00",
                "run_id": "r0",
            }
        )
    )
    with WriteLock(tmp_path, owner="me", run_id="r1"):
        assert json.loads((tmp_path / "write.lock").read_text())["owner"] == "me"


def test_records_cut_off_the_end_are_found_by_the_head_file(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(3):
        log.append(**record(f"u{i}@example.com"))
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:2]) + "\n")  # the chain that is left is valid
    assert log.verify() == (2, "truncated: the head file says 3 records, the trail holds 2")
    log.path.write_text("")
    assert log.verify()[1] == "truncated: the head file says 3 records, the trail holds 0"


def test_the_questions_the_guards_ask_of_the_trail(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    outcomes = [
        ("a@x.com", "clicked"),  # a run died mid-click
        ("b@x.com", "clicked"),
        ("b@x.com", "deactivated"),
        ("c@x.com", "unknown"),
        ("c@x.com", "refused"),  # refusing it again settles nothing
        ("d@x.com", "unknown"),
        ("d@x.com", "resolved"),  # a person checked
    ]
    for target, outcome in outcomes:
        log.append(**{**record(target), "outcome": outcome, "run_id": f"run-{target[0]}"})
    assert log.unresolved_unknowns() == {"a@x.com", "c@x.com"}
    # b's proven removal, and a's click that its run never settled (it may have removed a)
    assert log.removals_since(datetime.now(UTC) - timedelta(days=1)) == 2
    assert log.removals_since(datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert log.run_ids() == {"run-a", "run-b", "run-c", "run-d"}


def test_pruning_keeps_the_runs_the_audit_trail_refers_to(tmp_path: Path) -> None:
    from connector.tracing import prune_runs

    runs = tmp_path / "runs"
    for age, name in enumerate(["new", "old-2", "old-1", "audited"]):
        (runs / name).mkdir(parents=True)
        os.utime(runs / name, (1_800_000_000 - age * 60, 1_800_000_000 - age * 60))
    assert prune_runs(runs, keep=1, max_age_days=30, audited=frozenset({"audited"})) == 2
    assert sorted(p.name for p in runs.iterdir()) == ["audited", "new"]
    assert prune_runs(runs, keep=0, max_age_days=30, audited=frozenset({"*"})) == 0

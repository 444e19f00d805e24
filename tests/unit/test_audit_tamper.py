"""A missing, shortened or edited audit trail stops every write (exit 14); the budget counts
clicks a killed run never settled; an override of the budget is a field of its records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.audit import AuditLog
from connector.errors import AuditBroken, ExitCode
from tests.unit.test_audit_and_lock import record


def trail(tmp_path: Path, n: int) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(n):
        log.append(**record(f"u{i}@example.com"))
    return log


def test_a_deleted_trail_with_its_head_left_fails_verify_and_refuses_writes(
    tmp_path: Path,
) -> None:
    log = trail(tmp_path, 5)
    head = log.head_path.read_bytes()
    log.path.unlink()
    assert log.verify() == (0, "the trail is missing but its head says 5 records")
    with pytest.raises(AuditBroken, match="head says 5 records") as broken:
        log.append(**record("next@example.com"))  # never a new chain at seq 1
    assert broken.value.exit_code == ExitCode.AUDIT_BROKEN
    assert log.head_path.read_bytes() == head and not log.path.exists()
    with pytest.raises(AuditBroken, match="head says 5") as refused:
        log.require_sound()
    assert "stitch-connector audit verify" in refused.value.hint
    assert log.removals_since(datetime.now(UTC) - timedelta(days=1)) == 0  # a read: no error


def test_a_trail_shorter_than_its_head_is_tampering_and_refuses_writes(tmp_path: Path) -> None:
    log = trail(tmp_path, 3)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(AuditBroken, match="truncated: the head file says 3 records"):
        log.append(**record("next@example.com"))
    log.path.write_text("")
    with pytest.raises(AuditBroken, match="the trail holds 0"):
        log.append(**record("next@example.com"))
    assert json.loads(log.head_path.read_text())["seq"] == 3


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda raw: raw.replace(b"u1@example.com", b"x1@example.com"), "content was changed"),
        (lambda raw: raw + b"not json\n", "not valid JSON"),
        (lambda raw: b"\n".join(raw.splitlines()[1:]) + b"\n", "chain is broken"),
        (lambda raw: raw + raw.splitlines()[-1] + b"\n", "chain is broken"),
    ],
    ids=["edited", "not-json", "deleted", "appended"],
)
def test_writes_never_go_on_over_a_broken_trail(tmp_path: Path, tamper: Any, problem: str) -> None:
    log = trail(tmp_path, 3)
    log.path.write_bytes(tamper(log.path.read_bytes()))
    before = log.path.read_bytes()
    with pytest.raises(AuditBroken, match=problem):
        log.require_sound()
    with pytest.raises(AuditBroken, match=problem):
        log.append(**record("next@example.com"))
    assert log.path.read_bytes() == before


def test_a_sound_or_new_trail_is_writable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.require_sound()  # no trail, no head: a new state dir
    trail(tmp_path, 2).require_sound()
    (tmp_path / "audit.jsonl.head").unlink()  # a trail from before the head file existed
    log.require_sound()
    assert log.append(**record("x@example.com")).seq == 3


def click(target: str, run: str, outcome: str, at: datetime) -> dict[str, Any]:
    return {
        **record(target),
        "run_id": run,
        "outcome": outcome,
        "started_at": at,
        "finished_at": at,
    }


def test_a_killed_runs_click_counts_against_the_days_budget(tmp_path: Path) -> None:
    """The killed run's removal is found by the re-run as `already_absent`: it still counts."""
    now = datetime.now(UTC)
    day_ago = now - timedelta(days=1)
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(**click("a@x.com", "run-1", "clicked", now))  # killed mid-click
    log.append(**click("a@x.com", "run-2", "already_absent", now))  # the re-run finds it gone
    assert log.removals_since(day_ago) == 1
    log.append(**click("b@x.com", "run-2", "clicked", now))
    log.append(**click("b@x.com", "run-2", "deactivated", now))
    assert log.removals_since(day_ago) == 2
    log.append(**click("c@x.com", "run-3", "clicked", now))  # killed: it may have removed c
    assert log.removals_since(day_ago) == 3
    log.append(**click("c@x.com", "run-4", "refused", now))  # refused: still unsettled
    log.append(**click("c@x.com", "audit-resolve", "resolved", now))
    assert log.removals_since(day_ago) == 3
    log.append(**click("c@x.com", "run-5", "clicked", now))
    log.append(**click("c@x.com", "run-5", "deactivated", now))  # counted once, not twice
    assert log.removals_since(day_ago) == 3
    log.append(**click("d@x.com", "run-6", "clicked", now))  # killed ...
    log.append(**click("d@x.com", "run-7", "clicked", now))
    log.append(**click("d@x.com", "run-7", "failed", now))  # ... and proven to remove nobody
    assert log.removals_since(day_ago) == 3
    assert log.removals_since(now + timedelta(minutes=1)) == 0  # out of the window


def test_an_override_of_the_budget_is_a_field_of_the_records(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    plain = log.append(**record("a@x.com"))
    overridden = log.append(**{**record("b@x.com"), "override_budget": True})
    assert plain.override_budget is False and overridden.override_budget is True
    stored = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [r["override_budget"] for r in stored] == [False, True]
    assert log.verify() == (2, None)


def test_a_run_killed_between_a_record_and_its_head_is_no_tampering(tmp_path: Path) -> None:
    """The head file is written just after the record: a kill in between leaves it one
    behind, naming the record before the last. That is sound, and the next append heals it."""
    log = trail(tmp_path, 3)
    head = log.head_path.read_text()
    log.append(**record("killed@example.com"))
    log.head_path.write_text(head)  # as if killed before the head was replaced
    assert log.verify() == (4, None)
    assert log.append(**record("next@example.com")).seq == 5
    assert json.loads(log.head_path.read_text())["seq"] == 5
    log.head_path.write_text(head)  # two behind: records were added by hand
    assert log.verify()[1] == "the head file names seq 3, but the trail goes on to 5"

"""A trail that fails verification stops every write, from the command line and from Python:
exit 14 (AuditBroken), and not one write request reaches Stitch."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.audit import AuditLog
from connector.errors import AuditBroken, ExitCode
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli, signed_in_env
from tests.e2e.test_deactivate import TEAM, deactivate, statuses, team_box, writes, wsettings
from tests.unit.test_audit_and_lock import record

pytestmark = pytest.mark.e2e


def seeded_trail(state: Path) -> AuditLog:
    log = AuditLog(state / "audit.jsonl")
    for target in ("old1@corp.com", "old2@corp.com"):
        log.append(**record(target))
    return log


def test_cli_refuses_every_write_over_a_hand_edited_trail(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    log = seeded_trail(state)
    env = signed_in_env(box, state)
    data = log.path.read_bytes()
    log.path.write_bytes(data.replace(b'"cron"', b'"crow"', 1))  # still valid JSON
    refused = run_cli("deactivate", "--yes", "user1@corp.com", env=env)
    assert refused.returncode == ExitCode.AUDIT_BROKEN, refused.stderr
    assert (
        "error: the audit trail" in refused.stderr and "its content was changed" in refused.stderr
    )
    assert "hint: Nothing was clicked. Run `stitch-connector audit verify`" in refused.stderr

    log.path.write_bytes(data + b"this is not json\n")  # exit 14, never "internal error" (1)
    for args in (
        ["deactivate", "--yes", "user1@corp.com"],
        ["deactivate", "--dry-run", "a@corp.com"],
    ):
        garbled = run_cli(*args, env=env)
        assert garbled.returncode == ExitCode.AUDIT_BROKEN, garbled.stderr
        assert "not valid JSON" in garbled.stderr and "internal error" not in garbled.stderr
    assert writes(box) == [] and statuses(box) == {p["email"]: p["status"] for p in TEAM}
    assert log.path.read_bytes() == data + b"this is not json\n"  # nothing appended


def test_python_api_refuses_writes_when_the_trail_is_gone_but_its_head_is_not(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    log = seeded_trail(state)
    log.path.unlink()  # deleted: the day's budget must not reset with it
    settings = wsettings(box, state)
    for dry_run in (True, False):
        with pytest.raises(AuditBroken, match="the trail is missing but its head says 2 records"):
            deactivate(settings, ["user1@corp.com"], dry_run=dry_run)
    assert writes(box) == [] and statuses(box)["user1@corp.com"] == "active"
    assert not log.path.exists()


def test_an_override_of_the_budget_is_on_every_record_it_allowed(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    settings = wsettings(box, state, max_removals=1, max_fraction=0.5)
    outcomes = deactivate(settings, ["user1@corp.com", "user2@corp.com"], override_budget=True)
    assert [o.status.value for o in outcomes] == ["deactivated", "deactivated"]
    deactivate(settings, ["user3@corp.com"])
    records = AuditLog(state / "audit.jsonl").records()
    assert [(r.target, r.outcome, r.override_budget) for r in records] == [
        ("user1@corp.com", "clicked", True),
        ("user1@corp.com", "deactivated", True),
        ("user2@corp.com", "clicked", True),
        ("user2@corp.com", "deactivated", True),
        ("user3@corp.com", "clicked", False),
        ("user3@corp.com", "deactivated", False),
    ]


def test_offboard_raises_at_once_over_a_broken_trail(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    from connector import offboard

    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    log = seeded_trail(state)
    log.path.write_bytes(log.path.read_bytes() + b"{not json\n")
    with pytest.raises(AuditBroken, match="not valid JSON"):
        offboard("user1@corp.com", request_id="HR-1", settings=wsettings(box, state), timeout_s=60)
    assert writes(box) == [] and statuses(box)["user1@corp.com"] == "active"

"""Approvals from the command line, against the real sandbox and browser: a held write is never
clicked, the requester cannot approve it, a second person's approval runs it once, a replay
changes nothing, a rejection never runs, a roster change asks again, and the audit trail tells
the request's whole chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ExitCode
from connector.models import Role
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli
from tests.e2e.test_cli_lifecycle import env_for
from tests.e2e.test_deactivate import team_box, writes

pytestmark = pytest.mark.e2e


def rules_env(box: object, tmp_path: Path, **extra: str) -> dict[str, str]:
    return env_for(box, tmp_path, STITCH_APPROVE_ADMIN_REMOVALS="true", **extra)


def held(result: Any) -> dict[str, Any]:
    assert result.returncode == ExitCode.APPROVAL_PENDING, result.stderr
    (waiting,) = [o for o in json.loads(result.stdout) if o["status"] == "pending_approval"]
    assert waiting["approval_id"].startswith("apr_")
    assert "approvals approve" in result.stderr  # the hint says what to do next
    return waiting  # type: ignore[no-any-return]


def test_a_held_removal_waits_runs_once_on_a_second_persons_approval(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = rules_env(box, tmp_path)
    asked = run_cli(
        "deactivate", "--yes", "--json", "--actor", "human:alice", "boss@corp.com", "a@corp.com",
        env=env,
    )  # fmt: skip
    waiting = held(asked)
    assert waiting["email"] == "boss@corp.com" and waiting["rule"] == "admin-removal"
    assert [w["email"] for w in writes(box)] == ["a@corp.com"]  # the rest went ahead
    approval_id = waiting["approval_id"]

    listed = json.loads(run_cli("approvals", "list", "--json", env=env).stdout)
    assert [(a["id"], a["status"], a["requested_by"]) for a in listed] == [
        (approval_id, "pending", "human:alice")
    ]
    nobody = run_cli("approvals", "approve", approval_id, env=env)
    assert nobody.returncode == ExitCode.USAGE and "--as" in nobody.stderr
    own = run_cli("approvals", "approve", approval_id, "--as", "alice", env=env)
    assert own.returncode == ExitCode.APPROVAL_REFUSED and "four eyes" in own.stderr
    assert [w["email"] for w in writes(box)] == ["a@corp.com"]

    approved = run_cli(
        "approvals", "approve", approval_id, "--as", "bob", "--note", "HR-42", "--json", env=env
    )
    assert approved.returncode == 0, approved.stderr
    (done,) = json.loads(approved.stdout)
    assert (done["email"], done["status"], done["approval_id"]) == (
        "boss@corp.com",
        "deactivated",
        approval_id,
    )
    for replay in (["--as", "bob"], ["--as", "carol"]):
        again = run_cli("approvals", "approve", approval_id, *replay, "--json", env=env)
        assert again.returncode == 0, again.stderr
    assert [w["email"] for w in writes(box) if w["outcome"] == "ok"] == [
        "a@corp.com",
        "boss@corp.com",
    ]
    shown = json.loads(run_cli("approvals", "show", approval_id, "--json", env=env).stdout)
    assert (shown["status"], shown["decided_by"], shown["note"]) == (
        "executed",
        "human:bob",
        "HR-42",
    )
    chain = run_cli("audit", "show", "--approval", approval_id, "--json", env=env)
    records = [json.loads(line) for line in chain.stdout.splitlines()]
    assert [(r["outcome"], r["actor"]) for r in records] == [
        ("approval_requested", "human:alice"),
        ("approval_approved", "human:bob"),
        ("clicked", "human:alice"),
        ("deactivated", "human:alice"),
    ]
    assert run_cli("audit", "verify", env=env).returncode == 0


def test_a_rejected_request_never_runs(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = rules_env(box, tmp_path)
    approval_id = held(
        run_cli("deactivate", "--yes", "--json", "--actor", "alice", "boss@corp.com", env=env)
    )["approval_id"]
    rejected = run_cli(
        "approvals", "reject", approval_id, "--as", "bob", "--note", "not a leaver", "--json",
        env=env,
    )  # fmt: skip
    assert rejected.returncode == 0 and json.loads(rejected.stdout)["status"] == "rejected"
    late = run_cli("approvals", "approve", approval_id, "--as", "carol", env=env)
    assert late.returncode == ExitCode.APPROVAL_REFUSED and "rejected" in late.stderr
    assert writes(box) == []


def test_a_roster_change_since_the_request_asks_again(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = rules_env(box, tmp_path)
    first = held(
        run_cli("deactivate", "--yes", "--json", "--actor", "alice", "boss@corp.com", env=env)
    )["approval_id"]
    box.set_role("boss@corp.com", Role.GENERAL_USER)  # someone changed the row meanwhile
    approved = run_cli("approvals", "approve", first, "--as", "bob", "--json", env=env)
    again = held(approved)
    assert again["approval_id"] != first and again["rule"] == "roster_changed"
    shown = json.loads(run_cli("approvals", "show", first, "--json", env=env).stdout)
    assert (shown["status"], shown["superseded_by"]) == ("stale", again["approval_id"])
    assert writes(box) == []


def test_a_dry_run_names_the_rule_and_holds_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = rules_env(box, tmp_path)
    dry = run_cli("deactivate", "--dry-run", "--json", "boss@corp.com", env=env)
    assert dry.returncode == ExitCode.APPROVAL_PENDING, dry.stderr
    (planned,) = json.loads(dry.stdout)
    assert (planned["status"], planned["rule"], planned["approval_id"]) == (
        "pending_approval",
        "admin-removal",
        None,
    )
    assert json.loads(run_cli("approvals", "list", "--json", env=env).stdout) == []
    assert writes(box) == []


def test_the_python_api_holds_an_offboarding_and_another_person_approves_it(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    from connector import approve, list_approvals, offboard
    from connector.errors import OwnRequest
    from tests.conftest import settings_for, signed_in

    box = team_box(make_sandbox, tmp_path)
    settings = signed_in(
        box,
        settings_for(box, tmp_path / "state", write_timeout_ms=4_000, approve_admin_removals=True),
    )
    first = offboard("boss@corp.com", request_id="hr-9", settings=settings)
    assert (first.status.value, first.rule) == ("pending_approval", "admin-removal")
    assert first.approval_id is not None and writes(box) == []
    (pending,) = list_approvals("pending", settings=settings)
    assert pending.id == first.approval_id and pending.requested_by.startswith("python:")
    with pytest.raises(OwnRequest):  # the same login asking and approving: four eyes
        approve(pending.id, approver=pending.requested_by.split(":", 1)[1], settings=settings)
    done = approve(pending.id, approver="bob", note="checked", settings=settings)
    assert done.status.value == "executed" and done.decided_by == "python:bob"
    assert [o.status.value for o in done.outcomes or []] == ["deactivated"]
    again = offboard("boss@corp.com", request_id="hr-9", settings=settings)  # the same job
    assert (again.status.value, again.approval_id) == ("deactivated", pending.id)
    assert [w["email"] for w in writes(box) if w["outcome"] == "ok"] == ["boss@corp.com"]


def test_a_bulk_request_over_the_budget_waits_whole_and_its_approval_lets_it_past(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nname = "bulk"\nwhen = "more_than"\ntargets = 2\n'
        '[[rule]]\nname = "over-budget"\nwhen = "over_budget"\n'
    )
    env = env_for(box, tmp_path, STITCH_APPROVAL_RULES_FILE=str(rules), STITCH_MAX_REMOVALS="3")
    leavers = [f"user{i}@corp.com" for i in range(4)]
    asked = run_cli("deactivate", "--yes", "--json", "--actor", "alice", *leavers, env=env)
    assert asked.returncode == ExitCode.APPROVAL_PENDING, asked.stderr
    outcomes = json.loads(asked.stdout)
    assert {(o["status"], o["rule"]) for o in outcomes} == {("pending_approval", "over-budget")}
    (approval_id,) = {o["approval_id"] for o in outcomes}  # one request, held whole
    shown = json.loads(run_cli("approvals", "show", approval_id, "--json", env=env).stdout)
    assert shown["rules"] == ["over-budget", "bulk"]
    assert writes(box) == []
    done = run_cli("approvals", "approve", approval_id, "--as", "bob", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [o["status"] for o in json.loads(done.stdout)] == ["deactivated"] * 4
    records = [
        json.loads(line)
        for line in run_cli(
            "audit", "show", "--approval", approval_id, "--json", env=env
        ).stdout.splitlines()
    ]
    assert all(r["override_budget"] for r in records if r["outcome"] == "deactivated")


def test_a_reviewed_plan_holds_what_a_rule_names_when_applied(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = rules_env(box, tmp_path)
    plan_file = tmp_path / "plan.json"
    made = run_cli("plan", "-d", "boss@corp.com", "-d", "a@corp.com", "-o", str(plan_file), env=env)
    assert made.returncode == 0, made.stderr
    targets = json.loads(plan_file.read_text())["targets"]
    assert [(t["email"], t["approval"]) for t in targets] == [
        ("boss@corp.com", "admin-removal"),
        ("a@corp.com", None),
    ]
    applied = run_cli("apply", str(plan_file), "--yes", "--json", "--actor", "alice", env=env)
    assert held(applied)["email"] == "boss@corp.com"
    assert [w["email"] for w in writes(box)] == ["a@corp.com"]

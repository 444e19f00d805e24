"""plan / apply / deactivate / audit from the command line: files, prompts and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.errors import ExitCode
from connector.models import Plan
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli, signed_in_env
from tests.e2e.test_deactivate import TEAM, statuses, team_box, writes

pytestmark = pytest.mark.e2e


def test_plan_then_apply_then_audit(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = {**signed_in_env(box, tmp_path / "state"), "STITCH_WRITE_TIMEOUT_MS": "4000"}
    plan_file = tmp_path / "plan.json"
    made = run_cli(
        "plan",
        "-d",
        "a@corp.com",
        "-d",
        "pay@corp.com",
        "-o",
        str(plan_file),
        "--reason",
        "left the company",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    plan = Plan.model_validate_json(plan_file.read_text())
    assert [(t.email, t.expected.value) for t in plan.targets] == [
        ("a@corp.com", "deactivated"),
        ("pay@corp.com", "refused"),
    ]
    assert writes(box) == []  # a plan changes nothing

    unattended = run_cli("apply", str(plan_file), env=env)
    assert unattended.returncode == ExitCode.USAGE and "--yes" in unattended.stderr
    assert writes(box) == []

    applied = run_cli("apply", str(plan_file), "--yes", "--json", "--actor", "cron", env=env)
    assert applied.returncode == ExitCode.POLICY_REFUSED  # one target was refused by policy
    outcomes = json.loads(applied.stdout)
    assert [(o["email"], o["status"], o["rule"]) for o in outcomes] == [
        ("a@corp.com", "deactivated", None),
        ("pay@corp.com", "refused", "invoice_admin"),
    ]
    assert statuses(box)["a@corp.com"] == "deactivated"

    again = run_cli("apply", str(plan_file), "--yes", env=env)
    assert again.returncode == ExitCode.PLAN_STALE and "error: the roster changed" in again.stderr

    verify = run_cli("audit", "verify", env=env)
    assert verify.returncode == 0 and "3 record(s)" in verify.stdout
    shown = run_cli("audit", "show", "--json", env=env)
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["actor"], r["target"], r["outcome"]) for r in records] == [
        ("cron", "a@corp.com", "clicked"),  # written just before the click
        ("cron", "a@corp.com", "deactivated"),
        ("cron", "pay@corp.com", "refused"),
    ]

    audit = tmp_path / "state" / "audit.jsonl"
    data = audit.read_bytes()
    at = data.index(b"deactivated")
    audit.write_bytes(data[:at] + b"D" + data[at + 1 :])  # one byte
    broken = run_cli("audit", "verify", env=env)
    assert broken.returncode == ExitCode.AUDIT_BROKEN
    assert "line 2 (seq 2): its content was changed" in broken.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["deactivate", "--yes", "not-an-email"], ExitCode.USAGE, "not an email address"),
        (["deactivate", "a@corp.com"], ExitCode.USAGE, "pass --yes"),
        (["apply", "--yes", "PLAN"], ExitCode.CONFIG, "is not a stitch-connector plan"),
        (["apply", "--yes", "/no/such/plan.json"], ExitCode.CONFIG, "cannot read the plan"),
    ],
)
def test_bad_write_input_changes_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    box = team_box(make_sandbox, tmp_path)
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"targets": "everyone"}))
    args = [str(bogus) if a == "PLAN" else a for a in args]
    result = run_cli(*args, env=signed_in_env(box, tmp_path / "state"))
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr.splitlines()[0]
    assert writes(box) == [] and len(statuses(box)) == len(TEAM)


def test_deactivate_dry_run_json(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    result = run_cli(
        "deactivate",
        "--dry-run",
        "--json",
        "aa@corp.com",
        env=signed_in_env(box, tmp_path / "state"),
    )
    assert result.returncode == 0, result.stderr
    assert [(o["email"], o["status"]) for o in json.loads(result.stdout)] == [
        ("aa@corp.com", "planned")
    ]
    assert writes(box) == []

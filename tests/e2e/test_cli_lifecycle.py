"""invite / set-role / reactivate / resend, and plans that mix them with removals, from the
command line: dry runs, prompts, --json, exit codes, and bad input that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.errors import ExitCode
from connector.models import Plan
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli, signed_in_env
from tests.e2e.test_deactivate import team_box, writes

pytestmark = pytest.mark.e2e


def env_for(box: object, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = signed_in_env(box, tmp_path / "state")  # type: ignore[arg-type]
    return {**base, "STITCH_WRITE_TIMEOUT_MS": "4000", "STITCH_INVITE_DOMAINS": "corp.com", **extra}


def test_invite_dry_run_then_for_real_then_again(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = env_for(box, tmp_path)
    dry = run_cli("invite", "--dry-run", "--json", "joe@corp.com", env=env)
    assert dry.returncode == 0, dry.stderr
    (planned,) = json.loads(dry.stdout)
    assert (planned["status"], planned["action"], planned["role"]) == (
        "planned",
        "invite",
        "General User",
    )
    assert writes(box) == []
    unattended = run_cli("invite", "joe@corp.com", env=env)
    assert unattended.returncode == ExitCode.USAGE and "--yes" in unattended.stderr
    done = run_cli("invite", "--yes", "--json", "joe@corp.com", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["status"] == "invited"
    again = run_cli("invite", "--yes", "--json", "joe@corp.com", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)[0]["status"] == "already_invited"
    assert [w["action"] for w in writes(box)] == ["invite"]


def test_guards_refuse_with_their_rule_and_exit_code(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    nowhere = env_for(box, tmp_path, STITCH_INVITE_DOMAINS="")
    refused = run_cli("invite", "--yes", "--json", "joe@corp.com", env=nowhere)
    assert refused.returncode == ExitCode.POLICY_REFUSED
    assert json.loads(refused.stdout)[0]["rule"] == "invite_domain_not_allowed"
    env = env_for(box, tmp_path)
    promote = run_cli(
        "set-role", "--yes", "--json", "--role", "Administrator", "a@corp.com", env=env
    )
    assert promote.returncode == ExitCode.POLICY_REFUSED
    assert json.loads(promote.stdout)[0]["rule"] == "administrator_needs_flag"
    self_demote = run_cli(
        "set-role", "--yes", "--json", "--role", "General User", "me@corp.com", env=env
    )
    assert json.loads(self_demote.stdout)[0]["rule"] == "signed_in_account"
    assert writes(box) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invite", "--yes", "not-an-email"], "not an email address"),
        (["set-role", "--yes", "--role", "Owner", "a@corp.com"], "Owner"),
        (["plan", "--set-role", "a@corp.com", "-o", "p.json"], "say the role"),
        (["plan", "--invite", "a@corp.com=Boss", "-o", "p.json"], "the role is one of"),
        (["plan", "-o", "p.json"], "asks for nothing"),
    ],
)
def test_bad_input_is_a_usage_error_before_any_browser(
    make_sandbox: MakeSandbox, tmp_path: Path, args: list[str], message: str
) -> None:
    box = team_box(make_sandbox, tmp_path)
    result = run_cli(*args, env=env_for(box, tmp_path))
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert message in result.stderr
    assert writes(box) == [] and box.state()["list_reads"] == 0


def test_a_plan_mixes_a_removal_an_invitation_and_a_promotion(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = env_for(box, tmp_path)
    plan_file = tmp_path / "plan.json"
    made = run_cli(
        "plan", "-d", "a@corp.com", "--invite", "joe@corp.com",
        "--set-role", "user1@corp.com=Administrator", "--allow-administrator",
        "-o", str(plan_file), env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    plan = Plan.model_validate_json(plan_file.read_text())
    assert [(t.email, t.expected.value) for t in plan.targets] == [
        ("a@corp.com", "deactivated"),
        ("joe@corp.com", "invited"),
        ("user1@corp.com", "changed"),
    ]
    applied = run_cli("apply", str(plan_file), "--yes", "--json", env=env)
    assert applied.returncode == 0, applied.stderr
    assert [o["status"] for o in json.loads(applied.stdout)] == [
        "deactivated",
        "invited",
        "changed",
    ]
    assert [w["action"] for w in writes(box)] == ["deactivate", "invite", "set_role"]
    stale = run_cli("apply", str(plan_file), "--yes", env=env)
    assert stale.returncode == ExitCode.PLAN_STALE

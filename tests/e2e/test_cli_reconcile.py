"""`stitch-connector reconcile` as a user runs it: against a fresh scrape of the sandbox, against
the latest snapshot, and its plan carried out by `apply`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ExitCode
from connector.models import Plan
from tests.conftest import MakeSandbox
from tests.e2e.test_cli import run_cli, signed_in_env
from tests.e2e.test_deactivate import statuses, team_box, writes
from tests.unit.test_reconcile import EXPECTED

DATA = Path(__file__).parents[1] / "data" / "idp"
TEAM: list[dict[str, Any]] = json.loads((DATA / "stitch-roster.json").read_text())
ORPHANS = ["gone@corp.com", "left@corp.com", "sus@corp.com", "ann+etl@corp.com"]


def report_of(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def classes(report: dict[str, Any]) -> dict[str, str]:
    return {r["email"]: r["classification"] for r in report["rows"]}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sample", "fmt"),
    [("okta-export.csv", "okta"), ("generic.csv", "csv"), ("directory.json", "json")],
)
def test_fresh_with_each_format(
    make_sandbox: MakeSandbox, tmp_path: Path, sample: str, fmt: str
) -> None:
    box = team_box(make_sandbox, tmp_path, TEAM)
    env = signed_in_env(box, tmp_path / "state")
    report = report_of(
        run_cli("reconcile", "--idp", str(DATA / sample), "--fresh", "--json", env=env)
    )
    assert classes(report) == EXPECTED
    assert report["idp"] == {
        "path": str(DATA / sample),
        "format": fmt,
        "users": 19,
        "active": 16,
    }
    assert report["source"]["kind"] == "fresh" and report["source"]["snapshot_id"] is None
    assert report["account"] == {"client_id": 116078, "company_name": "Stitch - Doc Testing"}
    assert report["counts"]["orphan"] == 4 and report["counts"]["ok"] == 14
    alias = next(r for r in report["rows"] if r["email"] == "ann+etl@corp.com")["alias_of"]
    assert alias["email"] == "ann@corp.com" and alias["in_idp"] is True
    assert writes(box) == []  # reading only

    table = run_cli("reconcile", "--idp", str(DATA / sample), "--fresh", env=env)
    assert table.returncode == 0, table.stderr
    for text in ("orphan", "unmatched_domain", "invoice_admin", *ORPHANS, "alias of"):
        assert text in table.stdout
    assert "user3@corp.com" not in table.stdout  # ok rows are counted, not listed


@pytest.mark.e2e
def test_plan_is_accepted_by_apply(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path, TEAM)
    env = {**signed_in_env(box, tmp_path / "state"), "STITCH_WRITE_TIMEOUT_MS": "4000"}
    plan_file = tmp_path / "plan.json"
    idp = str(DATA / "okta-export.csv")
    made = run_cli("reconcile", "--idp", idp, "--fresh", "--plan", str(plan_file), env=env)
    assert made.returncode == 0, made.stderr
    assert "plan: 4 target(s)" in made.stderr
    plan = Plan.model_validate_json(plan_file.read_text())
    assert sorted(t.email for t in plan.targets) == sorted(ORPHANS)  # pay@ is protected
    assert writes(box) == []

    applied = run_cli("apply", str(plan_file), "--yes", "--json", "--actor", "reconcile", env=env)
    assert applied.returncode == 0, applied.stderr
    outcomes = json.loads(applied.stdout)
    assert sorted((o["email"], o["status"]) for o in outcomes) == sorted(
        (e, "deactivated") for e in ORPHANS
    )
    now = statuses(box)
    assert all(now[e] == "deactivated" for e in ORPHANS) and now["pay@corp.com"] == "active"

    after = report_of(run_cli("reconcile", "--idp", idp, "--fresh", "--json", env=env))
    assert after["counts"]["orphan"] == 0 and after["counts"]["ok"] == 14


@pytest.mark.e2e
def test_snapshot_then_plan_bound_to_it(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path, TEAM)
    env = {**signed_in_env(box, tmp_path / "state"), "STITCH_WRITE_TIMEOUT_MS": "4000"}
    idp = str(DATA / "generic.csv")
    plan_file = tmp_path / "plan.json"

    missing = run_cli("reconcile", "--idp", idp, "--plan", str(plan_file), env=env)
    assert missing.returncode == ExitCode.CONFIG
    assert missing.stderr.startswith("error: no roster snapshot yet")
    assert "stitch-connector sync" in missing.stderr and "--fresh" in missing.stderr
    assert not plan_file.exists() and not (tmp_path / "state" / "snapshots.sqlite3").exists()

    synced = run_cli("sync", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    snapshot_id = json.loads(synced.stdout)["snapshot"]["id"]

    offline = {"STITCH_STATE_DIR": env["STITCH_STATE_DIR"], "STITCH_BASE_URL": box.app_url}
    report = report_of(  # no credentials, no browser: the snapshot only
        run_cli("reconcile", "--idp", idp, "--json", "--plan", str(plan_file), env=offline)
    )
    assert report["source"]["kind"] == "snapshot"
    assert report["source"]["snapshot_id"] == snapshot_id
    assert classes(report) == EXPECTED

    domains = report_of(
        run_cli(
            "reconcile", "--idp", idp, "--json", "--company-domain", "corp.com",
            "--company-domain", "@Partner.io", env=offline,
        )
    )  # fmt: skip
    assert domains["domains_from"] == "flag"
    assert classes(domains)["ext@partner.io"] == "orphan"

    # The plan is bound to the snapshot's roster: once Stitch changes, apply refuses it.
    assert run_cli("deactivate", "--yes", "user0@corp.com", env=env).returncode == 0
    stale = run_cli("apply", str(plan_file), "--yes", env=env)
    assert stale.returncode == ExitCode.PLAN_STALE, stale.stderr
    assert all(statuses(box)[e] == "active" for e in ORPHANS)


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ("bad-duplicate.csv", "line 6: duplicate email b@corp.com (first on line 3)"),
        ("bad-columns.csv", "line 1: need the columns 'email' and 'status'"),
        ("bad-encoding.csv", "line 3: not UTF-8 text"),
        ("empty.csv", "line 1: the file is empty"),
        ("bad-no-email.csv", "line 4: no email"),
        ("bad-json.json", "line 4: invalid JSON"),
        ("bad-okta-status.csv", "line 3: unknown status 'RETIRED'"),
    ],
)
def test_malformed_idp_file_writes_nothing(tmp_path: Path, sample: str, message: str) -> None:
    idp = tmp_path / sample
    shutil.copy(DATA / sample, idp)
    plan_file = tmp_path / "plan.json"
    state = tmp_path / "state"
    env = {  # nothing listens here: the file is refused before any browser starts
        "STITCH_BASE_URL": "http://127.0.0.1:9",
        "STITCH_EMAIL": "admin@corp.com",
        "STITCH_PASSWORD": "pw-pw-pw",
        "STITCH_STATE_DIR": str(state),
    }
    for extra in (["--fresh"], []):
        result = run_cli("reconcile", "--idp", str(idp), *extra, "--plan", str(plan_file), env=env)
        assert result.returncode == ExitCode.CONFIG, result.stderr
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"error: {idp} {message}"), first
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert not plan_file.exists() and not state.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["reconcile"], ExitCode.USAGE, "Missing option '--idp'"),
        (["reconcile", "--idp", "x.csv", "--format", "xml"], ExitCode.USAGE, "'xml' is not one of"),
        (["reconcile", "--idp", "/no/such.csv"], ExitCode.CONFIG, "cannot read the IdP file"),
        (
            ["reconcile", "--idp", "IDP", "--company-domain", "a@b.com"],
            ExitCode.USAGE,
            "--company-domain 'a@b.com' is not a domain",
        ),
        (["reconcile", "--idp", "IDP", "--plan", "/no/p.json"], ExitCode.CONFIG, "does not exist"),
    ],
)  # fmt: skip
def test_bad_usage(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    args = [str(DATA / "generic.csv") if a == "IDP" else a for a in args]
    result = run_cli(*args, env={"STITCH_STATE_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr.splitlines()[0]


@pytest.mark.e2e
def test_a_plan_never_lists_an_orphan_whose_last_removal_is_unresolved(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Issue 13: the CLI's reconcile plan decides on the history apply decides on. An orphan
    whose last click ended `unknown` (no person has resolved it) is refused by apply, so the plan
    says so instead of listing it as a removal."""
    from datetime import UTC, datetime

    from connector import __version__
    from connector.audit import AuditLog

    box = team_box(make_sandbox, tmp_path, TEAM)
    state = tmp_path / "state"
    env = signed_in_env(box, state)
    now = datetime.now(UTC)
    AuditLog(state / "audit.jsonl").append(
        run_id="earlier-run", request_id=None, actor="cli", target="gone@corp.com",
        action="deactivate", outcome="unknown", rule=None, reason="no banner, row still there",
        started_at=now, finished_at=now, connector_version=__version__, row_before=None,
        roster_fingerprint_before=None, roster_fingerprint_after=None, evidence=[],
    )  # fmt: skip
    plan_file = tmp_path / "plan.json"
    idp = str(DATA / "okta-export.csv")
    made = run_cli("reconcile", "--idp", idp, "--fresh", "--plan", str(plan_file), env=env)
    assert made.returncode == 0, made.stderr
    plan = Plan.model_validate_json(plan_file.read_text())
    acting = sorted(t.email for t in plan.targets if t.action is not None)
    assert acting == sorted(set(ORPHANS) - {"gone@corp.com"})
    gone = [t for t in plan.targets if t.email == "gone@corp.com"]
    assert all(t.action is None and t.rule == "unresolved_unknown" for t in gone)
    assert writes(box) == []


@pytest.mark.e2e
def test_joiners_and_role_drift_planned_then_applied(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Both directions in one reviewed plan: the IdP's joiner is invited with its role, the role
    drift set, an orphan removed; applying it again is refused as stale."""
    people = [
        {"email": "me@corp.com", "name": "Me", "role": "Administrator", "status": "active",
         "invoice_admin": False, "is_login_user": True},
        {"email": "pay@corp.com", "name": "Pay", "role": "General User", "status": "active",
         "invoice_admin": True},
        {"email": "bo@corp.com", "name": "Bo", "role": "General User", "status": "active",
         "invoice_admin": False},
        {"email": "left@corp.com", "name": "Left", "role": "General User", "status": "active",
         "invoice_admin": False},
    ]  # fmt: skip
    box = team_box(make_sandbox, tmp_path, people)
    idp = tmp_path / "okta.csv"
    idp.write_text(
        "email,status,stitch,role\n"
        "me@corp.com,active,yes,Administrator\npay@corp.com,active,yes,\n"
        "bo@corp.com,active,yes,Administrator\nnew@corp.com,active,yes,General User\n"
        "left@corp.com,deprovisioned,yes,\nother@corp.com,active,no,\n"
    )
    env = {**signed_in_env(box, tmp_path / "state"), "STITCH_INVITE_DOMAINS": "corp.com",
           "STITCH_WRITE_TIMEOUT_MS": "4000"}  # fmt: skip
    plan_file = tmp_path / "plan.json"
    report = report_of(run_cli(
        "reconcile", "--idp", str(idp), "--fresh", "--assigned", "stitch",
        "--allow-administrator", "--plan", str(plan_file), "--json", env=env,
    ))  # fmt: skip
    assert [j["email"] for j in report["joiners"]] == ["new@corp.com"]
    assert [(d["email"], d["idp_role"]) for d in report["role_drift"]] == [
        ("bo@corp.com", "Administrator")
    ]
    plan = Plan.model_validate_json(plan_file.read_text())
    assert [(t.email, t.expected.value) for t in plan.targets] == [
        ("left@corp.com", "deactivated"),
        ("new@corp.com", "invited"),
        ("bo@corp.com", "changed"),
    ]
    applied = run_cli("apply", str(plan_file), "--yes", "--json", env=env)
    assert applied.returncode == 0, applied.stderr
    assert [o["status"] for o in json.loads(applied.stdout)] == [
        "deactivated",
        "invited",
        "changed",
    ]
    members = {m["email"]: (m["status"], m["role"]) for m in box.state()["members"]}  # type: ignore[union-attr]
    assert members["new@corp.com"] == ("pending", "General User")
    assert members["bo@corp.com"] == ("active", "Administrator")
    assert "left@corp.com" not in members or members["left@corp.com"][0] == "deactivated"
    stale = run_cli("apply", str(plan_file), "--yes", env=env)
    assert stale.returncode == ExitCode.PLAN_STALE

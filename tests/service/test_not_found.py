"""An address nobody ever had is `not_found`, not `already_absent`, and not success: in the jobs
API, the CLI's exit code and the Python API. A member who was there and is gone stays
`already_absent` (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector import OutcomeStatus, offboard
from connector.audit import AuditLog
from connector.errors import ExitCode
from tests.conftest import MakeSandbox, settings_for
from tests.e2e.test_cli import env_for, run_cli
from tests.service.conftest import StartService, all_writes, team_box

pytestmark = pytest.mark.e2e
TYPO = "nobody.two@corp.com"


def test_the_jobs_api_says_not_found_for_a_typo(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box)
    with svc.client() as http:
        assert http.post("/v1/sync").status_code == 200  # the history: user7 was a member
        box.remove_member("user7@corp.com")  # ...and has left since, by hand
        typo = http.post(
            "/v1/offboardings",
            json={"email": TYPO, "request_id": "HR-1", "requested_by": "airflow"},
        ).json()
        leaver = http.post(
            "/v1/offboardings",
            json={"email": "user7@corp.com", "request_id": "HR-2", "requested_by": "airflow"},
        ).json()
    typo_job = svc.wait_job(typo["id"])
    assert typo_job["status"] == "not_found", typo_job  # not "succeeded"
    assert typo_job["outcome"]["status"] == "not_found"
    assert "typo" in typo_job["outcome"]["reason"]
    leaver_job = svc.wait_job(leaver["id"])
    assert leaver_job["status"] == "succeeded", leaver_job
    assert leaver_job["outcome"]["status"] == "already_absent"
    assert all_writes(box) == []  # nothing was clicked for either
    with svc.client() as http:
        metrics = http.get("/metrics").text
    assert 'stitch_service_jobs{status="not_found"} 1.0' in metrics


def test_the_cli_and_the_python_api_say_not_found_for_a_typo(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    env = {**env_for(box, state), "STITCH_WRITE_TIMEOUT_MS": "4000"}
    assert run_cli("sync", env=env).returncode == 0  # the history
    box.remove_member("user8@corp.com")  # a real leaver, gone by hand since

    ran = run_cli("deactivate", "--yes", "--json", TYPO, "user8@corp.com", env=env)
    assert ran.returncode == ExitCode.NOT_FOUND == 17, ran.stderr
    outcomes = json.loads(ran.stdout)
    assert [(o["email"], o["status"]) for o in outcomes] == [
        (TYPO, "not_found"),
        ("user8@corp.com", "already_absent"),
    ]
    assert "typo" in ran.stderr  # the hint
    audit = [(r.target, r.outcome) for r in AuditLog(state / "audit.jsonl").records()]
    assert audit == [(TYPO, "not_found"), ("user8@corp.com", "already_absent")]

    # Asked again (its not_found record is no history of membership): still not_found.
    settings = settings_for(box, state, write_timeout_ms=4_000)
    outcome = offboard(TYPO, request_id="T-1", requested_by="prefect", settings=settings)
    assert outcome.status is OutcomeStatus.NOT_FOUND and not outcome.status.ok
    leaver = offboard("user8@corp.com", request_id="T-2", settings=settings)
    assert leaver.status is OutcomeStatus.ALREADY_ABSENT and leaver.status.ok
    assert all_writes(box) == []


def test_a_first_run_without_history_keeps_already_absent(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    env = env_for(box, tmp_path / "state")
    ran = run_cli("deactivate", "--yes", "--json", TYPO, env=env)
    assert ran.returncode == 0, ran.stderr
    assert [o["status"] for o in json.loads(ran.stdout)] == ["already_absent"]

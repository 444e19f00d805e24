"""Who did it is the token, not the body: named tokens with scopes (NAME:SCOPE:TOKEN), the
principal in every job and audit record, `requested_by` kept as the caller's unverified word,
SCIM and jobs tokens kept apart, and tokens rotated by SIGHUP without a restart."""

from __future__ import annotations

import getpass
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from connector import offboard
from connector.audit import AuditLog
from connector.offboard_queue.jobs import JobStore
from tests.conftest import MakeSandbox, settings_for
from tests.service.conftest import (
    READ_TOKEN,
    WRITE_TOKEN,
    RunningService,
    StartService,
    ok_writes,
    statuses,
    team_box,
)

OKTA = "okta-token-0123456789abcdef"
AIRFLOW = "airflow-token-0123456789abcdef"
NEW_OKTA = "okta-token-NEW-0123456789abcdef"
SCIM = "application/scim+json"
SCIM_ERROR = ["urn:ietf:params:scim:api:messages:2.0:Error"]
NAMED = (
    f"okta:scim:{OKTA},airflow:jobs:{AIRFLOW},ops:write:{WRITE_TOKEN},dashboard:read:{READ_TOKEN}"
)


def body(email: str, request_id: str, requested_by: str = "hr-system") -> dict[str, Any]:
    return {"email": email, "request_id": request_id, "requested_by": requested_by}


def user_id_of(svc: RunningService, token: str, email: str) -> str:
    with svc.client(token) as http:
        found = http.get("/scim/v2/Users", params={"filter": f'userName eq "{email}"'})
    assert found.status_code == 200, found.text
    return str(found.json()["Resources"][0]["id"])


# ---------------------------------------------------------------------- parsing (no service)


def test_token_entries_name_the_principal_and_old_forms_get_a_name() -> None:
    from connector.service_tokens import parse_tokens

    parsed = parse_tokens(
        f"okta:scim:{OKTA}, airflow:jobs:{AIRFLOW}, read:{READ_TOKEN}, {WRITE_TOKEN}"
    )
    assert [(t.name, t.scope, t.token, t.legacy) for t in parsed] == [
        ("okta", "scim", OKTA, False),
        ("airflow", "jobs", AIRFLOW, False),
        ("token-3", "read", READ_TOKEN, True),
        ("token-4", "write", WRITE_TOKEN, True),
    ]
    assert OKTA not in repr(parsed)
    # A rotation: one name, two tokens, one scope. Anything ambiguous is refused, by position.
    assert len(parse_tokens(f"okta:scim:{OKTA},okta:scim:{NEW_OKTA}")) == 2
    for bad in (
        f"okta:admin:{OKTA}",
        f"okta:scim:{OKTA},okta:write:{NEW_OKTA}",
        f"okta:scim:{OKTA},other:scim:{OKTA}",
        "okta:scim:short",
    ):
        with pytest.raises(ValueError) as refused:
            parse_tokens(bad)
        assert OKTA not in str(refused.value) and NEW_OKTA not in str(refused.value)


def test_scopes_grant_what_they_say() -> None:
    from connector.service.auth import Principal

    def may(scope: Any) -> list[bool]:
        p = Principal("p", frozenset({scope}))
        return [p.may("api", False), p.may("api", True), p.may("scim", False), p.may("scim", True)]

    #                     api read, api write, scim read, scim write
    assert may("read") == [True, False, True, False]
    assert may("jobs") == [True, True, False, False]
    assert may("scim") == [False, False, True, True]
    assert may("write") == [True, True, True, True]


# ---------------------------------------------------------------------- the real service


@pytest.mark.e2e
def test_the_actor_is_the_token_and_requested_by_is_kept_apart(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box, None, STITCH_SERVICE_TOKENS=NAMED)
    with svc.client(AIRFLOW) as http:
        # The body claims HR's system asked; the token says Airflow called.
        answer = http.post("/v1/offboardings", json=body("user2@corp.com", "HR-77"))
        assert answer.status_code == 202, answer.text
        assert answer.json()["principal"] == "airflow"
        assert answer.json()["requested_by"] == "hr-system"
    done = svc.wait_job(answer.json()["id"])
    assert done["status"] == "succeeded" and done["principal"] == "airflow"
    job = JobStore.in_state_dir(svc.state_dir).get(done["id"])
    assert job is not None and job.principal == "airflow" and job.requested_by == "hr-system"
    records = AuditLog(svc.state_dir / "audit.jsonl").records()
    assert [(r.outcome, r.actor, r.requested_by, r.request_id) for r in records] == [
        ("clicked", "api:airflow", "hr-system", "HR-77"),
        ("deactivated", "api:airflow", "hr-system", "HR-77"),
    ]
    assert statuses(box)["user2@corp.com"] == "deactivated"


@pytest.mark.e2e
def test_scim_tokens_and_jobs_tokens_are_kept_apart(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box, None, STITCH_SERVICE_TOKENS=NAMED)
    with svc.client(WRITE_TOKEN) as http:
        assert http.post("/v1/sync").status_code == 200
    target = user_id_of(svc, OKTA, "user4@corp.com")
    # Okta's token: SCIM only.
    with svc.client(OKTA) as okta:
        for method, path in [
            ("POST", "/v1/offboardings"),
            ("GET", "/v1/members"),
            ("POST", "/v1/sync"),
            ("GET", "/metrics"),
        ]:
            refused = okta.request(method, path, json=body("user1@corp.com", "o-1"))
            assert refused.status_code == 403, (method, path, refused.text)
            assert "okta" in refused.json()["error"]["message"]
            assert OKTA not in refused.text
        deleted = okta.delete(f"/scim/v2/Users/{target}")
        assert deleted.status_code == 204, deleted.text
    # Airflow's token: the jobs API only.
    with svc.client(AIRFLOW) as airflow:
        for method, path in [("GET", "/scim/v2/Users"), ("DELETE", f"/scim/v2/Users/{target}")]:
            refused = airflow.request(method, path, headers={"Content-Type": SCIM})
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["schemas"] == SCIM_ERROR
        assert airflow.get("/v1/members").status_code == 200
    # A read token reads both, writes neither.
    with svc.client(READ_TOKEN) as reader:
        assert reader.get("/scim/v2/Users").status_code == 200
        assert reader.get("/v1/members").status_code == 200
        refused = reader.post("/v1/offboardings", json=body("user1@corp.com", "r-1"))
        assert refused.status_code == 403 and "read" in refused.json()["error"]["message"]
        other = user_id_of(svc, READ_TOKEN, "user5@corp.com")
        assert reader.delete(f"/scim/v2/Users/{other}").status_code == 403
    # Only Okta's delete was queued and carried out, and it is Okta's in the trail.
    jobs = JobStore.in_state_dir(svc.state_dir)
    assert sum(jobs.counts().values()) == 1
    assert ok_writes(box) == {"user4@corp.com": 1}
    actors = {r.actor for r in AuditLog(svc.state_dir / "audit.jsonl").records()}
    assert actors == {"scim:okta"}


@pytest.mark.e2e
def test_old_token_forms_still_work_with_a_generated_name(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(
        box,
        None,
        own_process=True,
        STITCH_SERVICE_TOKENS=f"read:{READ_TOKEN},{WRITE_TOKEN},write:{AIRFLOW}",
    )
    with svc.client(AIRFLOW) as http:
        answer = http.post("/v1/offboardings", json=body("user6@corp.com", "old-1"))
        assert answer.status_code == 202 and answer.json()["principal"] == "token-3"
    svc.wait_job(answer.json()["id"])
    with svc.client(READ_TOKEN) as reader:
        assert (
            reader.post("/v1/offboardings", json=body("user7@corp.com", "old-2")).status_code == 403
        )
    log = svc.log.read_text()
    assert "service.token_unnamed" in log and "NAME:SCOPE:TOKEN" in log
    for secret in (READ_TOKEN, WRITE_TOKEN, AIRFLOW):
        assert secret not in log
    actors = {r.actor for r in AuditLog(svc.state_dir / "audit.jsonl").records()}
    assert actors == {"api:token-3"}


@pytest.mark.e2e
def test_sighup_rotates_tokens_without_a_restart(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    tokens = tmp_path / "tokens"
    base = f"dashboard:read:{READ_TOKEN},ops:write:{WRITE_TOKEN}"
    tokens.write_text(f"okta:scim:{OKTA},{base}\n", encoding="utf-8")
    svc = start_service(
        team_box(make_sandbox, tmp_path),
        None,
        own_process=True,
        STITCH_SERVICE_TOKENS="",
        STITCH_SERVICE_TOKENS_FILE=str(tokens),
    )
    pid = svc.proc.pid

    def status(token: str) -> int:
        with svc.client(token) as http:
            return http.get("/scim/v2/ServiceProviderConfig").status_code

    def hangup_until(token: str, wanted: int) -> None:
        svc.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while status(token) != wanted:
            assert svc.proc.poll() is None, svc.log.read_text()
            assert time.monotonic() < deadline, svc.log.read_text()
            time.sleep(0.05)  # polling the service's answer after the signal, bounded

    assert (status(OKTA), status(NEW_OKTA)) == (200, 401)
    # Step 1: both valid at once (the IdP is switched over in the meantime).
    tokens.write_text(f"okta:scim:{OKTA},okta:scim:{NEW_OKTA},{base}\n", encoding="utf-8")
    hangup_until(NEW_OKTA, 200)
    assert status(OKTA) == 200
    # Step 2: the old one goes.
    tokens.write_text(f"okta:scim:{NEW_OKTA},{base}\n", encoding="utf-8")
    hangup_until(OKTA, 401)
    assert status(NEW_OKTA) == 200
    # A broken file keeps the tokens in use, and says so.
    tokens.write_text("okta:admin:whatever-it-is-0123456789\n", encoding="utf-8")
    svc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "service.tokens_not_reloaded" not in svc.log.read_text():
        assert time.monotonic() < deadline, svc.log.read_text()
        time.sleep(0.05)  # polling the log after the signal, bounded
    assert (status(OKTA), status(NEW_OKTA)) == (401, 200)
    # The same process all along, and its log names tokens, never shows them.
    assert svc.proc.poll() is None and svc.proc.pid == pid
    log = svc.log.read_text()
    assert "service.tokens" in log and "okta" in log
    for secret in (OKTA, NEW_OKTA, READ_TOKEN, WRITE_TOKEN, "whatever-it-is-0123456789"):
        assert secret not in log


@pytest.mark.e2e
def test_the_python_api_records_who_ran_it(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = team_box(make_sandbox, tmp_path)
    settings = settings_for(box, tmp_path / "state", write_timeout_ms=4_000)
    outcome = offboard(
        "user8@corp.com", request_id="P-1", requested_by="prefect", settings=settings
    )
    assert outcome.status.ok
    records = AuditLog(settings.audit_path).records()
    assert {(r.actor, r.requested_by) for r in records} == {
        (f"python:{getpass.getuser()}", "prefect")
    }
    (job_id,) = _job_ids(settings.state_dir)
    job = JobStore.in_state_dir(settings.state_dir).get(job_id)
    assert job is not None and job.principal == getpass.getuser()


def _job_ids(state_dir: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(JobStore.in_state_dir(state_dir).path) as db:
        return [r[0] for r in db.execute("SELECT id FROM jobs")]

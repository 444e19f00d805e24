"""Approvals through the real service and sandbox: a request a rule matches is held with no
click; the requester cannot approve it; a second principal approves and it runs once; a replay
changes nothing; rejection and expiry never run it; a roster change is asked again; a restart
keeps pending requests; SCIM answers 202 and the member stays until approved; the webhook is
signed and renders in a chat tool."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.errors import ExitCode
from connector.models import Role
from tests.cli import run_cli
from tests.conftest import MakeSandbox
from tests.service.conftest import (
    CALLBACK_SECRET,
    READ_TOKEN,
    WRITE_NAME,
    WRITE_TOKEN,
    RunningService,
    StartService,
    ok_writes,
    team_box,
)
from tests.service.receiver import Receiver
from tests.service.test_scim import PATCH_OP, find, scim

pytestmark = pytest.mark.e2e

ALICE = "alice-approves-0123456789"  # another principal, scope approve
TOKENS = f"{WRITE_NAME}:write:{WRITE_TOKEN},dashboard:read:{READ_TOKEN},alice:approve:{ALICE}"


def start(start_service: StartService, box: Any, **env: str) -> RunningService:
    return start_service(
        box, STITCH_SERVICE_TOKENS=TOKENS, STITCH_APPROVE_ADMIN_REMOVALS="true", **env
    )


def offboard(svc: RunningService, email: str, request_id: str) -> dict[str, Any]:
    with svc.client() as http:
        made = http.post(
            "/v1/offboardings",
            json={"email": email, "request_id": request_id, "requested_by": "hr"},
        )
    assert made.status_code == 202, made.text
    return svc.wait_job(made.json()["id"])


def decide(
    svc: RunningService, approval_id: str, verb: str, token: str, note: str = ""
) -> httpx.Response:
    with svc.client(token) as http:
        return http.post(
            f"/v1/approvals/{approval_id}/{verb}", json={"note": note} if note else None
        )


def approval(svc: RunningService, approval_id: str) -> dict[str, Any]:
    with svc.client(READ_TOKEN) as http:
        found = http.get(f"/v1/approvals/{approval_id}")
    assert found.status_code == 200, found.text
    return found.json()  # type: ignore[no-any-return]


def wait_settled(svc: RunningService, job_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll the job until it has left pending_approval too (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        job = svc.wait_job(job_id, timeout)
        if job["status"] != "pending_approval":
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)  # polling the condition above, bounded by the deadline


def test_a_held_removal_is_approved_by_a_second_principal_and_runs_once(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    hook = Receiver()
    try:
        svc = start(
            start_service,
            box,
            STITCH_CALLBACK_HOSTS=f"127.0.0.1:{hook.port}",
            STITCH_APPROVAL_WEBHOOK_URL=f"http://127.0.0.1:{hook.port}/hooks/approvals",
        )
        job = offboard(svc, "boss@corp.com", "hr-1")
        assert job["status"] == "pending_approval", job
        assert ok_writes(box) == {}  # held: nothing clicked
        approval_id = job["approval_id"]
        assert job["links"]["approval"] == f"/v1/approvals/{approval_id}"
        with svc.client(READ_TOKEN) as http:
            pending = http.get("/v1/approvals", params={"status": "pending"}).json()["approvals"]
        assert [a["id"] for a in pending] == [approval_id]
        held = pending[0]
        assert (held["requested_by"], held["source"], held["rules"]) == (
            f"api:{WRITE_NAME}",
            "api",
            ["admin-removal"],
        )
        assert [t["email"] for t in held["plan"]["targets"]] == ["boss@corp.com"]
        assert held["plan"]["roster_fingerprint"].startswith("sha256:")

        assert decide(svc, approval_id, "approve", WRITE_TOKEN).status_code == 403  # no scope
        # A token names one principal with one scope, so the orchestrator has no approve token;
        # the same name through another entry point is still the requester (four eyes).
        own = run_cli("approvals", "approve", approval_id, "--as", WRITE_NAME, env=svc.env)
        assert own.returncode == ExitCode.APPROVAL_REFUSED and "four eyes" in own.stderr
        assert ok_writes(box) == {}

        approved = decide(svc, approval_id, "approve", ALICE, note="HR-1 checked")
        assert approved.status_code == 200, approved.text
        assert approved.json()["decided_by"] == "api:alice"
        done = wait_settled(svc, job["id"])
        assert done["status"] == "succeeded", done
        assert (done["outcome"]["status"], done["outcome"]["approval_id"]) == (
            "deactivated",
            approval_id,
        )
        for _ in range(2):  # replays: the same answer, no second click
            again = decide(svc, approval_id, "approve", ALICE)
            assert again.status_code == 200 and again.json()["status"] in ("approved", "executed")
        assert decide(svc, approval_id, "reject", ALICE).status_code == 409
        assert ok_writes(box) == {"boss@corp.com": 1}
        assert approval(svc, approval_id)["status"] == "executed"

        deadline = time.monotonic() + 30
        while len(hook.posts) < 3:  # requested, approved, executed
            assert time.monotonic() < deadline, hook.posts
            time.sleep(0.05)  # polling the receiver, bounded
        events = []
        for headers, raw in hook.posts:
            signed = f"{headers['X-Stitch-Timestamp']}.{headers['X-Stitch-Delivery']}.".encode()
            mac = hmac.new(CALLBACK_SECRET.encode(), signed + raw, hashlib.sha256).hexdigest()
            assert headers["X-Stitch-Signature"] == f"sha256={mac}"
            body = json.loads(raw)
            assert body["blocks"][0]["text"]["type"] == "mrkdwn" and approval_id in body["text"]
            events.append(body["approval"]["event"])
        assert events[:3] == ["requested", "approved", "executed"]
    finally:
        hook.close()


def test_rejected_and_expired_requests_never_run(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start(start_service, box, STITCH_APPROVAL_TTL_HOURS="0.0005")  # 1.8 s
    rejected = offboard(svc, "boss@corp.com", "hr-2")
    answer = decide(svc, rejected["approval_id"], "reject", ALICE, note="not a leaver")
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    finished = wait_settled(svc, rejected["id"])
    assert (finished["status"], finished["outcome"]["rule"]) == ("refused", "approval_rejected")
    assert decide(svc, rejected["approval_id"], "approve", ALICE).status_code == 409

    box.set_role("user1@corp.com", Role.ADMINISTRATOR)
    lapsed = offboard(svc, "user1@corp.com", "hr-3")
    deadline = time.monotonic() + 30
    while approval(svc, lapsed["approval_id"])["status"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.1)  # polling until the expiry has passed, bounded
    assert approval(svc, lapsed["approval_id"])["status"] == "expired"
    assert decide(svc, lapsed["approval_id"], "approve", ALICE).status_code == 409
    closed = wait_settled(svc, lapsed["id"])
    assert (closed["status"], closed["outcome"]["rule"]) == ("refused", "approval_expired")
    assert ok_writes(box) == {}


def test_a_roster_change_is_asked_again_and_a_restart_keeps_the_request(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    svc = start(start_service, box)
    job = offboard(svc, "boss@corp.com", "hr-4")
    first = job["approval_id"]
    svc.stop()
    svc = start(start_service, box)  # the same state dir: the request survives the restart
    assert svc.state_dir == state
    assert approval(svc, first)["status"] == "pending"
    box.set_role("boss@corp.com", Role.GENERAL_USER)  # the row changed since it was asked
    assert decide(svc, first, "approve", ALICE).status_code == 200
    deadline = time.monotonic() + 60
    while approval(svc, first)["status"] in ("approved", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)  # polling the worker's run, bounded
    stale = approval(svc, first)
    assert stale["status"] == "stale" and stale["superseded_by"]
    assert ok_writes(box) == {}
    held = svc.wait_job(job["id"])
    assert (held["status"], held["approval_id"]) == ("pending_approval", stale["superseded_by"])
    assert decide(svc, stale["superseded_by"], "approve", ALICE).status_code == 200
    assert wait_settled(svc, job["id"])["outcome"]["status"] == "deactivated"
    assert ok_writes(box) == {"boss@corp.com": 1}


def test_scim_deprovisioning_that_needs_approval_answers_202_and_the_member_stays(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start(start_service, box)
    with svc.client() as http:
        assert http.post("/v1/sync").status_code == 200
    boss = find(svc, "boss@corp.com")
    off = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}
    answers = [scim(svc, "PATCH", f"/Users/{boss['id']}", json=off) for _ in range(2)]
    for answer in answers:  # Entra's next cycle sends it again: it joins the same request
        assert answer.status_code == 202, answer.text
        assert answer.json()["active"] is True  # Stitch still has them, until approved
    approval_ids = {a.headers["Stitch-Approval"] for a in answers}
    assert len(approval_ids) == 1
    assert ok_writes(box) == {}
    approval_id = approval_ids.pop().rsplit("/", 1)[-1]
    assert approval(svc, approval_id)["requested_by"].startswith("scim:")
    assert decide(svc, approval_id, "approve", ALICE).status_code == 200
    deadline = time.monotonic() + 60
    while approval(svc, approval_id)["status"] != "executed":
        assert time.monotonic() < deadline
        time.sleep(0.1)  # polling the worker's run, bounded
    assert ok_writes(box) == {"boss@corp.com": 1}
    assert scim(svc, "PATCH", f"/Users/{boss['id']}", json=off).status_code == 200
    box.set_role("user1@corp.com", Role.ADMINISTRATOR)
    with svc.client() as http:
        assert http.post("/v1/sync").status_code == 200
    deleted = scim(svc, "DELETE", f"/Users/{find(svc, 'user1@corp.com')['id']}")
    assert deleted.status_code == 202 and deleted.content == b""  # a whole, well-formed answer
    assert deleted.headers["Stitch-Approval"].startswith(f"{svc.url}/v1/approvals/apr_")
    assert ok_writes(box) == {"boss@corp.com": 1}

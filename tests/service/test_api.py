"""The offboarding service's HTTP API against the real sandbox: auth, idempotency, jobs,
evidence, members, sync, restarts, graceful shutdown and signed callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.audit import AuditLog
from connector.models import Outcome
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import OffboardingRequest
from tests.conftest import MakeSandbox
from tests.service.conftest import (
    CALLBACK_SECRET,
    READ_TOKEN,
    WRITE_TOKEN,
    StartService,
    all_writes,
    ok_writes,
    statuses,
    team_box,
)

pytestmark = pytest.mark.e2e


def body(email: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "request_id": request_id, "requested_by": "test-orchestrator", **extra}


def test_tokens_guard_every_endpoint_but_healthz(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    svc = start_service(team_box(make_sandbox, tmp_path))
    anonymous = httpx.Client(base_url=svc.url)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    for method, path in [
        ("GET", "/v1/members"),
        ("POST", "/v1/offboardings"),
        ("GET", "/v1/offboardings/x"),
        ("POST", "/v1/sync"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/scim/v2/Users"),
    ]:
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token-of-ours-at-all"},
            {"Authorization": f"Basic {WRITE_TOKEN}"},
        ):
            answer = anonymous.request(method, path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers)
            assert WRITE_TOKEN not in answer.text and READ_TOKEN not in answer.text
    # Before anything else: a malformed body, the API's own description.
    broken = anonymous.post(
        "/v1/offboardings", content=b"{broken", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 401
    assert anonymous.get("/openapi.json").status_code == 401
    assert anonymous.get("/docs").status_code == 401
    # A read token reads but never writes, and a refused write changes nothing.
    with svc.client(READ_TOKEN) as reader:
        assert reader.get("/v1/members").status_code in (200, 404)
        refused = reader.post("/v1/offboardings", json=body("user1@corp.com", "r-read"))
        assert refused.status_code == 403
        assert "read" in refused.json()["error"]["message"]
    assert JobStore.in_state_dir(svc.state_dir).counts()["queued"] == 0


def test_offboarding_is_proven_audited_and_idempotent(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box)
    with svc.client() as http:
        first = http.post("/v1/offboardings", json=body("User3@Corp.com", "HR-1", reason="left"))
        assert first.status_code == 202
        job = first.json()
        assert job["status"] in ("queued", "running") and job["email"] == "user3@corp.com"
        assert first.headers["Location"] == f"/v1/offboardings/{job['id']}"

        done = svc.wait_job(job["id"])
        outcome = Outcome.model_validate(done["outcome"])
        assert done["status"] == "succeeded" and outcome.status.value == "deactivated"
        assert statuses(box)["user3@corp.com"] == "deactivated"
        # Evidence: the row before the click and the banner after, served to the caller.
        assert len(done["links"]["evidence"]) >= 2
        for link in done["links"]["evidence"]:
            got = http.get(link)
            assert got.status_code == 200 and len(got.content) > 100
        assert http.get("/v1/evidence/../audit.jsonl").status_code == 404

        # The same request again: the same job, no second click.
        replay = http.post("/v1/offboardings", json=body("user3@corp.com", "HR-1", reason="left"))
        assert replay.status_code == 200 and replay.json()["id"] == job["id"]
        assert replay.headers["Idempotent-Replayed"] == "true"
        # The same request id for something else: 409, and nothing is queued.
        clash = http.post("/v1/offboardings", json=body("user4@corp.com", "HR-1"))
        assert clash.status_code == 409
        assert clash.json()["error"]["kind"] == "IdempotencyConflict"
        assert statuses(box)["user4@corp.com"] == "active"
    assert ok_writes(box) == {"user3@corp.com": 1}
    records = AuditLog(svc.state_dir / "audit.jsonl").records()
    # The actor is the token's principal; the body's requested_by is kept beside it.
    assert [
        (r.outcome, r.request_id, r.actor, r.requested_by, r.request_reason) for r in records
    ] == [
        ("clicked", "HR-1", "api:orchestrator", "test-orchestrator", "left"),
        ("deactivated", "HR-1", "api:orchestrator", "test-orchestrator", "left"),
    ]


def test_bad_requests_get_clear_errors_and_change_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box)
    bad: list[Any] = [
        {"email": "not-an-email", "request_id": "b1", "requested_by": "t"},
        {"email": "user1@corp.com", "requested_by": "t"},  # no request id
        {"email": "user1@corp.com", "request_id": "has space", "requested_by": "t"},
        {"email": "user1@corp.com", "request_id": "b2", "requested_by": "t", "extra": 1},
        {
            "email": "user1@corp.com",
            "request_id": "b3",
            "requested_by": "t",
            "callback_url": "ftp://example.com/x",
        },
        [1, 2, 3],
        "just a string",
    ]
    with svc.client() as http:
        for payload in bad:
            answer = http.post("/v1/offboardings", json=payload)
            assert answer.status_code == 422, payload
            error = answer.json()["error"]
            assert error["kind"] == "InvalidRequest" and error["message"]
        raw = http.post(
            "/v1/offboardings", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert raw.status_code == 422
        assert http.get("/v1/offboardings/does-not-exist").status_code == 404
    assert JobStore.in_state_dir(svc.state_dir).counts()["queued"] == 0
    assert all_writes(box) == []


def test_members_sync_readiness_and_metrics(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box)
    with svc.client() as http:
        synced = http.post("/v1/sync")
        assert synced.status_code == 200, synced.text
        box.add_member("joiner@corp.com", "Jo Iner")
        second = http.post("/v1/sync").json()
        assert [(c["kind"], c["email"]) for c in second["changes"]] == [
            ("joined", "joiner@corp.com")
        ]
        members = http.get("/v1/members").json()
        emails = {m["email"] for m in members["roster"]["members"]}
        assert emails == {m["email"] for m in box.state()["members"]}  # type: ignore[union-attr]
        assert 0 <= members["age_seconds"] < 60
        assert members["snapshot"]["id"] == second["snapshot"]["id"]

        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["account"]["client_id"] == 116078

        text = http.get("/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["stitch_service_members"].samples[0].value == len(emails)
        assert "stitch_service_jobs" in families
    assert all_writes(box) == []


def test_readyz_says_not_ready_when_sign_in_fails(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    svc = start_service(
        team_box(make_sandbox, tmp_path),
        saved_session=False,
        own_process=True,
        STITCH_PASSWORD="wrong-password",
    )
    with svc.client() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["kind"] == "AuthFailed"
    assert "wrong-password" not in svc.log.read_text()


def test_restart_resumes_queued_and_verifies_interrupted_jobs(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    jobs = JobStore.in_state_dir(state)
    # Before the service starts, as a crash would leave it: one job queued, one mid-run whose
    # click had already landed in Stitch.
    queued, _ = jobs.submit(
        OffboardingRequest(email="user1@corp.com", request_id="q1", requested_by="t"),
        source="api",
    )
    jobs.submit(
        OffboardingRequest(email="user2@corp.com", request_id="q2", requested_by="t"),
        source="api",
    )
    (interrupted,) = jobs.claim(
        1,
        "crashed-run",
        only=jobs.submit(
            OffboardingRequest(email="user5@corp.com", request_id="q3", requested_by="t"),
            source="api",
        )[0].id,
    )
    box.remove_member("user5@corp.com")  # the click the crashed run made
    now = datetime.now(UTC)  # ...and the `clicked` record it wrote just before it (apply.py)
    AuditLog(state / "audit.jsonl").append(
        run_id="crashed-run",
        request_id="q3",
        actor="api:t",
        target="user5@corp.com",
        action="deactivate",
        outcome="clicked",
        rule=None,
        reason=None,
        started_at=now,
        finished_at=now,
        connector_version="test",
        row_before=None,
        roster_fingerprint_before=None,
        roster_fingerprint_after=None,
        evidence=[],
    )
    svc = start_service(box, state)
    done = svc.wait_job(queued.id)
    again = svc.wait_job(interrupted.id)
    assert done["outcome"]["status"] == "deactivated"
    assert again["status"] == "succeeded" and again["outcome"]["status"] == "already_absent"
    assert "verified on a fresh read" in again["note"] and again["attempts"] == 2
    assert statuses(box)["user2@corp.com"] == "deactivated"
    assert "user5@corp.com" not in ok_writes(box)  # verified, never clicked again


def test_sigterm_finishes_the_removal_in_progress(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path, slow_write_ms=2_000)
    svc = start_service(box, own_process=True)
    with svc.client() as http:
        job = http.post("/v1/offboardings", json=body("user6@corp.com", "slow-1")).json()
    deadline = time.monotonic() + 60
    while not all_writes(box):  # the click has reached Stitch
        assert time.monotonic() < deadline
        time.sleep(0.05)  # polling the sandbox's write log, bounded
    # uvicorn shuts down gracefully, then ends by the signal it caught (as a container expects).
    assert svc.stop() in (0, -signal.SIGTERM)
    assert '"service.stopped"' in svc.log.read_text()
    finished = JobStore.in_state_dir(svc.state_dir).get(job["id"])
    assert finished is not None and finished.status.value == "succeeded"
    assert statuses(box)["user6@corp.com"] == "deactivated"
    assert ok_writes(box) == {"user6@corp.com": 1}


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 1

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).calls.append((dict(self.headers), self.rfile.read(length)))
        status = 500 if len(type(self).calls) <= type(self).fail_first else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_callbacks_are_signed_and_retried(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    _Receiver.calls = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        box = team_box(make_sandbox, tmp_path)
        port = receiver.server_address[1]
        svc = start_service(box, None, own_process=True, STITCH_CALLBACK_HOSTS=f"127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}/hook"
        with svc.client() as http:
            job = http.post(
                "/v1/offboardings", json=body("user7@corp.com", "cb-1", callback_url=url)
            ).json()
        svc.wait_job(job["id"])
        deadline = time.monotonic() + 60
        while len(_Receiver.calls) < 2:
            assert time.monotonic() < deadline, _Receiver.calls
            time.sleep(0.05)  # polling the receiver, bounded
    finally:
        receiver.shutdown()
    assert len({headers["X-Stitch-Delivery"] for headers, _ in _Receiver.calls}) == 1  # a retry
    for headers, raw in _Receiver.calls:
        signed = f"{headers['X-Stitch-Timestamp']}.{headers['X-Stitch-Delivery']}.".encode() + raw
        expected = hmac.new(CALLBACK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Stitch-Signature"] == f"sha256={expected}"
        sent = json.loads(raw)
        assert sent["id"] == job["id"] and sent["outcome"]["status"] == "deactivated"
    stored = JobStore.in_state_dir(svc.state_dir).get(job["id"])
    assert stored is not None and stored.callback_status is not None
    deadline = time.monotonic() + 30
    while JobStore.in_state_dir(svc.state_dir).get(job["id"]).callback_status.value != "delivered":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)  # the receiver answered; the store catches up
    assert CALLBACK_SECRET not in svc.log.read_text()


def test_the_daily_budget_holds_jobs_instead_of_removing_more(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box, None, STITCH_MAX_REMOVALS_PER_DAY="1")
    with svc.client() as http:
        one = http.post("/v1/offboardings", json=body("user1@corp.com", "day-1")).json()
        assert svc.wait_job(one["id"])["outcome"]["status"] == "deactivated"
        two = http.post("/v1/offboardings", json=body("user2@corp.com", "day-2")).json()
        deadline = time.monotonic() + 60
        while "daily budget" not in (
            http.get(f"/v1/offboardings/{two['id']}").json()["note"] or ""
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)  # polling the job's note, bounded
        held = http.get(f"/v1/offboardings/{two['id']}").json()
        assert held["status"] == "queued"
        families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
        assert families["stitch_service_held"].samples[0].value == 1
    assert statuses(box)["user2@corp.com"] == "active"
    assert ok_writes(box) == {"user1@corp.com": 1}


@pytest.mark.slow
def test_sigterm_stops_between_removals_and_the_rest_waits_for_the_next_start(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path, slow_write_ms=2_000)
    state = tmp_path / "state"
    jobs = JobStore.in_state_dir(state)
    for i in (8, 9):  # queued before the start, so they go in one run
        jobs.submit(
            OffboardingRequest(email=f"user{i}@corp.com", request_id=f"two-{i}", requested_by="t"),
            source="api",
        )
    svc = start_service(box, state, own_process=True, STITCH_MAX_FRACTION="0.5")
    deadline = time.monotonic() + 60
    while not all_writes(box):  # the first click has reached Stitch
        assert time.monotonic() < deadline
        time.sleep(0.05)  # polling the sandbox's write log, bounded
    assert svc.stop() in (0, -signal.SIGTERM)
    by_email = {j.email: j for j in (jobs.get(i) for i in _job_ids(jobs)) if j is not None}
    assert by_email["user8@corp.com"].status.value == "succeeded"
    assert by_email["user9@corp.com"].status.value == "queued"
    assert "stopping" in (by_email["user9@corp.com"].note or "")
    assert ok_writes(box) == {"user8@corp.com": 1}
    again = start_service(box, state)
    assert again.wait_job(by_email["user9@corp.com"].id)["outcome"]["status"] == "deactivated"
    assert ok_writes(box) == {"user8@corp.com": 1, "user9@corp.com": 1}


def _job_ids(jobs: JobStore) -> list[str]:
    import sqlite3

    with sqlite3.connect(jobs.path) as db:
        return [r[0] for r in db.execute("SELECT id FROM jobs")]

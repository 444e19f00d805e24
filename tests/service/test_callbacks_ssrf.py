"""Callbacks go only where the allow-list says, to the one address resolved for each attempt,
from a durable outbox. Every server here listens on 127.0.0.x; the resolver is replaced (it is
the DNS server we cannot run) and any other lookup fails the test: no traffic leaves the host."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr

from connector.app import App
from connector.models import Outcome, OutcomeStatus
from connector.offboard_queue import addresses, callbacks
from connector.offboard_queue.callbacks import CallbackSender
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import CallbackStatus, Job, OffboardingRequest
from connector.offboard_queue.worker import Worker
from connector.settings import Settings
from tests.conftest import MakeSandbox
from tests.service.conftest import CALLBACK_SECRET, StartService, team_box
from tests.service.receiver import Receiver

if TYPE_CHECKING:
    from connector.offboard_queue.addresses import IPAddress

SECRET = SecretStr(CALLBACK_SECRET)
SUBJECT = ("-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test")


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def numeric_lookups_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real DNS lookup would be traffic we do not control: only numeric hosts (and
    localhost, from /etc/hosts) resolve."""
    real = socket.getaddrinfo

    def numeric(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = str(host.decode() if isinstance(host, bytes) else host)
        if name != "localhost":  # /etc/hosts: the sandbox listens there
            try:
                ipaddress.ip_address(name)
            except ValueError:
                raise AssertionError(f"a real DNS lookup of {host!r}") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric)


class Resolver:
    """Stands in for DNS: the first lookup of each attempt answers `first`, any further lookup
    in the same attempt answers `then` (a rebinding server)."""

    def __init__(self, first: str, then: str) -> None:
        self.first = ipaddress.ip_address(first)
        self.then = ipaddress.ip_address(then)
        self.calls: list[tuple[str, int]] = []
        self.in_attempt = 0

    def next_attempt(self) -> None:
        self.in_attempt = 0

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        self.in_attempt += 1
        return [self.first if self.in_attempt == 1 else self.then]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def finished_job(jobs: JobStore, url: str, request_id: str = "cb-1") -> Job:
    job, _ = jobs.submit(
        OffboardingRequest(
            email="gone@corp.com", request_id=request_id, requested_by="t", callback_url=url
        ),
        source="api",
    )
    jobs.claim(1, "run-1", only=job.id)
    done = jobs.finish(
        job.id, Outcome(email="gone@corp.com", status=OutcomeStatus.DEACTIVATED), run_id="run-1"
    )
    assert done is not None and done.callback_status is CallbackStatus.PENDING
    return done


def deliver(sender: CallbackSender, jobs: JobStore) -> None:
    async def run() -> None:
        await sender.deliver_pending(jobs)
        await sender.close()

    asyncio.run(run())


def genuine(headers: dict[str, str], raw: bytes) -> bool:
    signed = f"{headers['X-Stitch-Timestamp']}.{headers['X-Stitch-Delivery']}.".encode() + raw
    mac = hmac.new(CALLBACK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Stitch-Signature"], f"sha256={mac}")


def test_a_callback_to_an_unlisted_port_is_never_posted_and_ends_refused(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    listed, unlisted = Receiver(), Receiver()
    receivers += [listed, unlisted]
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    # Accepted before the allow-list existed (or by an older version): checked again at delivery.
    job = finished_job(jobs, f"http://127.0.0.1:{unlisted.port}/hook")
    sender = CallbackSender(SECRET, tmp_path, hosts=[f"127.0.0.1:{listed.port}"])
    deliver(sender, jobs)
    assert unlisted.connections == [] and unlisted.posts == []
    stored = jobs.get(job.id)
    assert stored is not None and stored.callback_status is CallbackStatus.REFUSED
    assert stored.callback_attempts == 0 and "not on STITCH_CALLBACK_HOSTS" in (
        stored.callback_error or ""
    )
    # The same answer whether anything listens there or not: no port scanner.
    unlisted.close()
    receivers.remove(unlisted)
    other = finished_job(jobs, f"http://127.0.0.1:{unlisted.port}/hook", "cb-2")
    deliver(CallbackSender(SECRET, tmp_path, hosts=[f"127.0.0.1:{listed.port}"]), jobs)
    again = jobs.get(other.id)
    assert again is not None and again.callback_status is CallbackStatus.REFUSED
    assert again.callback_error == stored.callback_error
    assert jobs.callbacks_due() == []


def test_dns_rebinding_to_loopback_is_not_connected_to(
    tmp_path: Path, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = Receiver()
    receivers.append(target)
    resolver = Resolver("127.0.0.1", "127.0.0.1")
    monkeypatch.setattr(callbacks, "resolve", resolver)
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    url = f"https://hooks.test:{target.port}/hook"
    allow = addresses.AllowList.parse(["hooks.test"])
    addresses.check_callback_url(url, allow)  # accepted at submit, with no lookup
    assert resolver.calls == []
    job = finished_job(jobs, url)
    deliver(CallbackSender(SECRET, tmp_path, hosts=allow), jobs)  # now it names 127.0.0.1
    assert resolver.calls == [("hooks.test", target.port)]
    assert target.connections == []
    stored = jobs.get(job.id)
    assert stored is not None and stored.callback_status is CallbackStatus.REFUSED
    assert "127.0.0.1 is loopback" in (stored.callback_error or "")


def test_delivery_connects_to_the_one_address_resolved_for_each_attempt(
    tmp_path: Path, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = Receiver(statuses=[503])
    rebound = Receiver(host="127.0.0.2", port=allowed.port)  # where a second lookup points
    receivers += [allowed, rebound]
    resolver = Resolver("127.0.0.1", "127.0.0.2")
    monkeypatch.setattr(callbacks, "resolve", resolver)
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job = finished_job(jobs, f"http://localhost:{allowed.port}/hook?token=t0k")
    clock = Clock(datetime.now(UTC))
    hosts = [f"localhost:{allowed.port}", f"127.0.0.1:{allowed.port}"]
    sender = CallbackSender(SECRET, tmp_path, hosts=hosts, clock=clock)
    deliver(sender, jobs)  # attempt 1: 503
    resolver.next_attempt()
    clock.now += timedelta(hours=2)
    deliver(sender, jobs)  # attempt 2: 204
    assert resolver.calls == [("localhost", allowed.port)] * 2  # once per attempt
    assert rebound.connections == []
    assert len(allowed.posts) == 2
    for headers, raw in allowed.posts:
        assert headers["Host"] == f"localhost:{allowed.port}"  # the name, not the address
        assert genuine(headers, raw)
    assert allowed.posts[0][0]["X-Stitch-Delivery"] == allowed.posts[1][0]["X-Stitch-Delivery"]
    stored = jobs.get(job.id)
    assert stored is not None and stored.callback_status is CallbackStatus.DELIVERED
    assert stored.callback_attempts == 2


def test_a_pinned_https_callback_keeps_the_names_sni_and_certificate(
    tmp_path: Path, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    subprocess.run(  # a certificate for hooks.test only (not for 127.0.0.1)
        [*make.split(), "-keyout", str(key), "-out", str(cert), *SUBJECT],
        check=True,
        capture_output=True,
    )
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    names: list[str | None] = []
    served.sni_callback = lambda _sock, name, _ctx: names.append(name)
    receiver = Receiver(tls=served)
    receivers.append(receiver)
    resolver = Resolver("127.0.0.1", "127.0.0.2")
    monkeypatch.setattr(callbacks, "resolve", resolver)
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job = finished_job(jobs, f"https://hooks.test:{receiver.port}/hook")
    hosts = [f"hooks.test:{receiver.port}", f"127.0.0.1:{receiver.port}"]
    trusting = ssl.create_default_context(cafile=str(cert))
    deliver(CallbackSender(SECRET, tmp_path, hosts=hosts, tls=trusting), jobs)
    stored = jobs.get(job.id)
    assert stored is not None and stored.callback_status is CallbackStatus.DELIVERED, stored
    assert names == ["hooks.test"] and resolver.calls == [("hooks.test", receiver.port)]
    ((headers, raw),) = receiver.posts
    assert headers["Host"] == f"hooks.test:{receiver.port}" and genuine(headers, raw)


def test_a_failed_delivery_is_retried_after_a_restart_with_the_same_delivery_id(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(statuses=[500])
    receivers.append(receiver)
    path = tmp_path / "jobs.sqlite3"
    url = f"http://127.0.0.1:{receiver.port}/hook"
    hosts = [f"127.0.0.1:{receiver.port}"]
    job = finished_job(JobStore(path), url)
    start = job.finished_at or datetime.now(UTC)
    first = CallbackSender(SECRET, tmp_path, hosts=hosts, clock=Clock(start), jitter=lambda w: w)
    deliver(first, JobStore(path))
    pending = JobStore(path).get(job.id)
    assert pending is not None and pending.callback_status is CallbackStatus.PENDING
    assert pending.callback_attempts == 1 and pending.callback_error == (
        "the receiver answered HTTP 500"
    )
    assert pending.callback_next_at == start + timedelta(seconds=1)
    # The process restarts: a new store and sender on the same file.
    clock = Clock(start)
    second = CallbackSender(SECRET, tmp_path, hosts=hosts, clock=clock)
    deliver(second, JobStore(path))
    assert len(receiver.posts) == 1  # not due yet
    clock.now = start + timedelta(seconds=5)
    deliver(second, JobStore(path))
    assert len(receiver.posts) == 2
    ids = {headers["X-Stitch-Delivery"] for headers, _ in receiver.posts}
    assert ids == {pending.callback_delivery} and len(ids.pop() or "") >= 32
    assert all(genuine(h, raw) for h, raw in receiver.posts)
    assert json.loads(receiver.posts[1][1])["id"] == job.id
    done = JobStore(path).get(job.id)
    assert done is not None and done.callback_status is CallbackStatus.DELIVERED
    assert done.callback_attempts == 2 and done.callback_next_at is None


def test_the_worker_looks_again_when_a_retry_falls_due_not_at_its_next_idle_poll(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    """A failed delivery wakes the worker, which then waits only until the retry is due
    (its idle poll is 5 s; the first retry comes after about 1 s)."""
    receiver = Receiver(statuses=[500])
    receivers.append(receiver)
    jobs = JobStore.in_state_dir(tmp_path)
    job = finished_job(jobs, f"http://127.0.0.1:{receiver.port}/hook")
    start = job.finished_at or datetime.now(UTC)
    clock = Clock(start)
    hosts = [f"127.0.0.1:{receiver.port}"]
    sender = CallbackSender(SECRET, tmp_path, hosts=hosts, clock=clock, jitter=lambda w: w)
    worker = Worker(App(Settings(state_dir=tmp_path)), callbacks=sender)
    assert sender.on_retry == worker.wake
    assert sender.seconds_until_due(jobs) == 0.0  # never attempted: due now
    woken: list[str] = []
    sender.on_retry = lambda: woken.append("retry")
    deliver(sender, jobs)
    assert len(receiver.posts) == 1 and woken == ["retry"]
    assert sender.seconds_until_due(jobs) == 1.0
    clock.now = start + timedelta(seconds=0.25)
    assert worker.idle_wait_s() == 0.75
    clock.now = start + timedelta(seconds=3)
    assert worker.idle_wait_s() == 0.05  # overdue: look now (never a busy loop)
    deliver(sender, jobs)  # delivered: nothing pending, so the idle poll
    assert len(receiver.posts) == 2 and sender.seconds_until_due(jobs) is None
    assert worker.idle_wait_s() == 5.0


def test_failed_deliveries_back_off_for_a_day_each_wait_at_most_an_hour(
    tmp_path: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(statuses=[500] * 1000)
    receivers.append(receiver)
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    job = finished_job(jobs, f"http://127.0.0.1:{receiver.port}/hook")
    start = job.finished_at or datetime.now(UTC)
    clock = Clock(start)
    sender = CallbackSender(SECRET, tmp_path, hosts=[f"127.0.0.1:{receiver.port}"], clock=clock)
    waits: list[float] = []
    while True:
        deliver(sender, jobs)
        stored = jobs.get(job.id)
        assert stored is not None
        if stored.callback_next_at is None:
            break
        waits.append((stored.callback_next_at - clock.now).total_seconds())
        clock.now = stored.callback_next_at
        assert len(waits) < 200
    assert stored.callback_status is CallbackStatus.GAVE_UP
    assert all(0 < w <= 3600 for w in waits) and waits[0] <= 1.0
    assert waits[:6] == sorted(waits[:6]) or max(waits[:6]) < 64  # doubling, jittered
    assert timedelta(hours=20) < clock.now - start <= timedelta(hours=24)
    assert len(receiver.posts) == stored.callback_attempts == len(waits) + 1 > 20
    assert len({h["X-Stitch-Delivery"] for h, _ in receiver.posts}) == 1


@pytest.mark.e2e
def test_the_api_refuses_unlisted_callbacks_and_hides_the_callback_urls_secrets(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    start_service: StartService,
    receivers: list[Receiver],
) -> None:
    listed, unlisted = Receiver(), Receiver()
    receivers += [listed, unlisted]
    state = tmp_path / "state"
    old, _ = JobStore.in_state_dir(state).submit(  # queued before the allow-list was set
        OffboardingRequest(
            email="user3@corp.com",
            request_id="old-1",
            requested_by="t",
            callback_url=f"http://127.0.0.1:{unlisted.port}/hook",
        ),
        source="api",
    )
    svc = start_service(
        team_box(make_sandbox, tmp_path),
        state,
        own_process=True,
        STITCH_CALLBACK_HOSTS=f"127.0.0.1:{listed.port}",
    )
    base = {"email": "user4@corp.com", "requested_by": "t"}
    with svc.client() as http:
        for request_id, url, message in [
            ("u-1", f"http://127.0.0.1:{unlisted.port}/hook", "not on STITCH_CALLBACK_HOSTS"),
            ("u-2", f"http://2130706433:{unlisted.port}/hook", "not on STITCH_CALLBACK_HOSTS"),
            ("u-3", f"http://user:pw@127.0.0.1:{listed.port}/hook", "user name or password"),
            ("u-4", "https://169.254.169.254/latest/meta-data/", "not on STITCH_CALLBACK_HOSTS"),
        ]:
            answer = http.post(
                "/v1/offboardings", json={**base, "request_id": request_id, "callback_url": url}
            )
            assert answer.status_code == 422, answer.text
            assert message in answer.json()["error"]["message"]
        secret_url = f"http://127.0.0.1:{listed.port}/hook?token=s3cret#frag"
        made = http.post(
            "/v1/offboardings",
            json={**base, "request_id": "ok-1", "callback_url": secret_url},
        )
        assert made.status_code == 202, made.text
        job = made.json()
        shown = f"http://127.0.0.1:{listed.port}/hook"
        assert job["callback_url"] == shown
        assert http.get(f"/v1/offboardings/{job['id']}").json()["callback_url"] == shown
        assert "s3cret" not in http.get(f"/v1/offboardings/{job['id']}").text
    svc.wait_job(job["id"])
    svc.wait_job(old.id)
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=svc.url, headers=svc.read, timeout=30) as http:
        while True:
            mine = http.get(f"/v1/offboardings/{job['id']}").json()
            theirs = http.get(f"/v1/offboardings/{old.id}").json()
            if mine["callback_status"] != "pending" and theirs["callback_status"] != "pending":
                break
            assert time.monotonic() < deadline, (mine, theirs)
            time.sleep(0.1)  # polling the jobs' callback state, bounded
    assert mine["callback_status"] == "delivered" and theirs["callback_status"] == "refused"
    assert unlisted.connections == [] and unlisted.posts == []
    ((headers, raw),) = listed.posts
    assert genuine(headers, raw) and headers["X-Stitch-Delivery"] == mine["callback_delivery"]
    assert json.loads(raw)["callback_url"] == shown and b"s3cret" not in raw
    assert "s3cret" not in svc.log.read_text()

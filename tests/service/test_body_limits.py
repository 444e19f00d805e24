"""Every request body is bounded as it arrives (STITCH_MAX_BODY_BYTES, 64 KiB), on every route:
a Content-Length over the limit is refused before a byte of the body is read, a chunked body
is cut off at the limit, and the 413 has the route family's error shape. Against the real
`stitch-connector serve`, as the other service tests run it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from connector.offboard_queue.jobs import JobStore
from tests.conftest import MakeSandbox
from tests.service.conftest import WRITE_TOKEN, RunningService, StartService, all_writes, team_box

pytestmark = pytest.mark.e2e

LIMIT = 64 * 1024
MIB = 1024 * 1024
ROUTES = ["/v1/offboardings", "/scim/v2/Users"]


def raw_exchange(
    svc: RunningService, path: str, headers: dict[str, str], parts: Iterable[bytes]
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a plain socket: the headers, then only `parts` of the body
    (never all of what a Content-Length declares, nor a chunked body's end). A server that
    waited for the whole body would never answer: the socket times out and the test fails."""
    where = urlsplit(svc.url)
    assert where.hostname and where.port
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        lines = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            for part in parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed before taking all of it: the answer is still there
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        length = int(got.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(status_line.split()[1]), got, rest


def auth(path: str) -> dict[str, str]:
    content_type = "application/scim+json" if path.startswith("/scim") else "application/json"
    return {"Authorization": f"Bearer {WRITE_TOKEN}", "Content-Type": content_type}


def assert_413_shape(path: str, body: dict[str, Any]) -> None:
    if path.startswith("/scim"):
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"], body
        assert body["status"] == "413" and str(LIMIT) in body["detail"]
    else:
        assert body["error"]["kind"] == "PayloadTooLarge", body
        assert str(LIMIT) in body["error"]["message"]


@pytest.fixture
def svc(make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService) -> RunningService:
    return start_service(team_box(make_sandbox, tmp_path))


@pytest.mark.parametrize("path", ROUTES)
def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    svc: RunningService, path: str
) -> None:
    # 5 MiB declared, 1 KiB sent: the answer comes without the rest ever being sent.
    status, headers, raw = raw_exchange(
        svc, path, {**auth(path), "Content-Length": str(5 * MIB)}, [b"{" + b" " * 1023]
    )
    assert status == 413
    assert headers.get("connection") == "close"
    assert_413_shape(path, json.loads(raw))


@pytest.mark.parametrize("path", ROUTES)
def test_a_chunked_body_is_cut_off_at_the_limit(svc: RunningService, path: str) -> None:
    # No Content-Length: 80 KiB of chunks and no final chunk. Reading to the end would wait
    # forever; counting as it arrives answers once the limit is passed.
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"  # 16 KiB each
    status, _, raw = raw_exchange(
        svc, path, {**auth(path), "Transfer-Encoding": "chunked"}, [chunk] * 5
    )
    assert status == 413
    assert_413_shape(path, json.loads(raw))


@pytest.mark.parametrize("path", ROUTES)
def test_five_mib_with_and_without_content_length_gets_413_and_changes_nothing(
    svc: RunningService, path: str
) -> None:
    big = json.dumps(
        {"email": "user1@corp.com", "request_id": "big", "requested_by": "x" * (5 * MIB)}
    ).encode()

    def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    with httpx.Client(base_url=svc.url, headers=auth(path), timeout=60) as http:
        declared = http.post(path, content=big)
        assert declared.status_code == 413, declared.text
        assert_413_shape(path, declared.json())
        chunked = http.post(path, content=chunks())
        assert chunked.status_code == 413, chunked.text
        assert_413_shape(path, chunked.json())
        # The service is fine, and a body under the limit, chunked or not, is served.
        small = {"email": "user1@corp.com", "request_id": "small", "requested_by": "t"}
        if path.startswith("/v1"):
            accepted = http.post(path, content=iter([json.dumps(small).encode()]))
            assert accepted.status_code == 202, accepted.text
        else:
            user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}
            answered = http.post(path, content=iter([json.dumps(user).encode()]))
            assert answered.status_code not in (413, 500), answered.text
    jobs = JobStore.in_state_dir(svc.state_dir)
    assert sum(jobs.counts().values()) == (1 if path.startswith("/v1") else 0)


def test_the_limit_is_a_setting(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box, None, STITCH_MAX_BODY_BYTES="2048")
    body = {"email": "user1@corp.com", "request_id": "r-1", "requested_by": "t"}
    with svc.client() as http:
        over = http.post("/v1/offboardings", json={**body, "reason": "x" * 3000})
        assert over.status_code == 413 and "2048" in over.json()["error"]["message"]
        under = http.post("/v1/offboardings", json={**body, "reason": "x" * 1000})
        assert under.status_code == 202, under.text
        svc.wait_job(under.json()["id"])
    assert [w["email"] for w in all_writes(box)] == ["user1@corp.com"]

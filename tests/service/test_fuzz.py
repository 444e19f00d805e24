"""Schemathesis fuzzes the service's OpenAPI document: no 5xx, and no invalid request changes
anything in Stitch or queues any job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connector.offboard_queue.jobs import JobStore
from tests.conftest import MakeSandbox
from tests.service.conftest import WRITE_TOKEN, StartService, all_writes, statuses, team_box
from tests.service.receiver import Receiver

pytestmark = pytest.mark.e2e
# Left to the API and SCIM tests: the two endpoints that start a browser run (a sync, a
# readiness sign-in), where fuzzing would only time Chromium, and POST /scim/v2/Users, whose
# answer to a valid request is a browser run too (an invitation; test_scim_provisioning.py).
_EXCLUDED = [
    "--exclude-path",
    "/v1/sync",
    "--exclude-path",
    "/readyz",
    "--exclude-operation-id",
    "create_user_scim_v2_Users_post",
]


def schemathesis(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    schema = tmp_path / "openapi.json"  # the document needs a token too: fetch it with one
    answer = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
    schema.write_bytes(answer.raise_for_status().content)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(schema),
            "--url",
            url,
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {WRITE_TOKEN}",
            "--seed",
            "116078",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--no-color",
            "--suppress-health-check",
            "filter_too_much",
            *_EXCLUDED,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        check=False,
    )


def ran(output: str) -> int:
    """How many test cases passed, from schemathesis' summary ("714 generated, 714 passed")."""
    found = re.search(r"(\d+) generated, (\d+) passed", output)
    assert found, output[-2000:]
    return int(found.group(2))


@pytest.mark.slow
def test_fuzzing_finds_no_server_error_and_changes_nothing(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box)
    before = statuses(box)
    invalid = schemathesis(svc.url, tmp_path, "--mode", "negative", "--max-examples", "30")
    assert invalid.returncode == 0, invalid.stdout[-4000:] + invalid.stderr[-2000:]
    assert ran(invalid.stdout) > 200  # it really ran
    reads = schemathesis(
        svc.url, tmp_path, "--mode", "positive", "--include-method", "GET", "--max-examples", "20"
    )
    assert reads.returncode == 0, reads.stdout[-4000:] + reads.stderr[-2000:]
    assert ran(reads.stdout) > 50
    assert all_writes(box) == []
    assert statuses(box) == before
    assert sum(JobStore.in_state_dir(svc.state_dir).counts().values()) == 0


# Installed in the service's process through PYTHONPATH: every IP connection that process opens
# (Python's own audit event, below any library the connector uses) goes into a file.
_CONNECT_RECORDER = """
import os, socket, sys
_path = os.environ["CONNECT_LOG"]
def _record(event, args):
    if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        with open(_path, "a", encoding="utf-8") as out:
            out.write(f"{args[1][0]} {args[1][1]}\\n")
sys.addaudithook(_record)
"""


@pytest.mark.slow
def test_fuzzing_with_callbacks_allowed_to_one_port_connects_nowhere_else(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    allowed, trap = Receiver(), Receiver()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_CONNECT_RECORDER, encoding="utf-8")
    connects = tmp_path / "connects.txt"
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(
        box,
        None,
        own_process=True,  # the recorder is installed in its process alone
        STITCH_CALLBACK_HOSTS=f"127.0.0.1:{allowed.port}",
        PYTHONPATH=os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p),
        CONNECT_LOG=str(connects),
    )
    try:
        fuzzed = schemathesis(
            svc.url,
            tmp_path,
            "--include-path",
            "/v1/offboardings",
            "--include-method",
            "POST",
            "--max-examples",
            "40",
        )
        assert fuzzed.returncode == 0, fuzzed.stdout[-4000:] + fuzzed.stderr[-2000:]
        assert ran(fuzzed.stdout) > 40
        # Then by hand: the trap port is refused at submit; the allowed one is delivered to.
        with svc.client() as http:
            refused = http.post(
                "/v1/offboardings",
                json={
                    "email": "nobody.two@example.com",
                    "request_id": "trap-1",
                    "requested_by": "fuzz",
                    "callback_url": f"http://127.0.0.1:{trap.port}/hook",
                },
            )
            assert refused.status_code == 422, refused.text
            job = http.post(
                "/v1/offboardings",
                json={
                    "email": "nobody.two@example.com",
                    "request_id": "allowed-1",
                    "requested_by": "fuzz",
                    "callback_url": f"http://127.0.0.1:{allowed.port}/hook",
                },
            ).json()
        svc.wait_job(job["id"], timeout=300)
        deadline = time.monotonic() + 60
        while not allowed.posts:
            assert time.monotonic() < deadline, "the allowed callback never arrived"
            time.sleep(0.05)  # polling the receiver, bounded
    finally:
        allowed.close()
        trap.close()
    seen = set(connects.read_text(encoding="utf-8").split("\n")) - {""}
    assert seen == {f"127.0.0.1 {allowed.port}"}, seen  # the recorder works, and nothing else
    assert trap.connections == []

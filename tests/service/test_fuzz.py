"""Schemathesis fuzzes the service's OpenAPI document: no 5xx, and no invalid request changes
anything in Stitch or queues any job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connector.service.jobs import JobStore
from tests.conftest import MakeSandbox
from tests.service.conftest import WRITE_TOKEN, StartService, all_writes, statuses, team_box

pytestmark = pytest.mark.e2e
# Left to the API and SCIM tests: the two endpoints that start a browser run (a sync, a
# readiness sign-in), where fuzzing would only time Chromium, and POST /scim/v2/Users, whose
# answer to a valid request is a deliberate 501 (creating users is not supported).
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

"""What the connector writes is private: the CLI (and `serve`, which runs through it) starts with
umask 077, so the audit trail and its head, traces, screenshots, undo records and runs/ are the
running user's alone, whatever umask the shell, cron or the container runtime gave it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MakeSandbox
from tests.e2e.test_cli import env_for, run_cli
from tests.e2e.test_deactivate import statuses, team_box
from tests.service import conftest as service_conftest
from tests.service.conftest import StartService

start_service = service_conftest.start_service  # the service tests' fixture, here too

SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO


def test_the_command_starts_with_a_private_umask() -> None:
    probe = (
        "import os, sys; from connector.cli.app import main\n"
        "sys.argv = ['stitch-connector', '--help']\n"
        "os.umask(0o022)\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(oct(os.umask(0)), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stderr.strip().splitlines()[-1] == "0o77"


@pytest.mark.e2e
def test_a_real_deactivate_leaves_nothing_readable_by_group_or_others(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = team_box(make_sandbox, tmp_path)
    state = tmp_path / "state"
    env = {**env_for(box, state), "STITCH_WRITE_TIMEOUT_MS": "4000"}
    # A permissive umask, as a shell or a container runtime may hand down: the command undoes it.
    result = subprocess.run(
        [
            "sh",
            "-c",
            'umask 000 && exec "$@"',
            "sh",
            sys.executable,
            "-m",
            "connector.cli",
            "--trace",
            "on",
            "deactivate",
            "--yes",
            "--json",
            "--reason",
            "left",
            "a@corp.com",
        ],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [o["status"] for o in json.loads(result.stdout)] == ["deactivated"]
    assert statuses(box)["a@corp.com"] == "deactivated"

    made = sorted(p.relative_to(state).as_posix() for p in state.rglob("*"))
    assert "audit.jsonl" in made and "audit.jsonl.head" in made
    assert any(p.startswith("runs/") and p.endswith("undo.json") for p in made), made
    assert any(p.endswith(".png") for p in made), made  # the before/after screenshots
    assert any(p.endswith(".zip") for p in made), made  # the trace (--trace on)
    shared = {
        p.relative_to(state).as_posix(): oct(p.stat().st_mode & 0o777)
        for p in [state, *state.rglob("*")]
        if p.stat().st_mode & SHARED_BITS
    }
    assert shared == {}, f"readable by group or others: {shared}"

    # A read-only command after it (audit verify) keeps it that way.
    assert run_cli("audit", "verify", env=env).returncode == 0
    assert not [p for p in state.rglob("*") if p.stat().st_mode & SHARED_BITS]


def shared_files(state: Path) -> dict[str, str]:
    return {
        p.relative_to(state).as_posix(): oct(p.stat().st_mode & 0o777)
        for p in [state, *state.rglob("*")]
        if p.stat().st_mode & SHARED_BITS
    }


def offboard_through_the_service(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> tuple[Path, dict[str, object]]:
    box = team_box(make_sandbox, tmp_path)
    before = os.umask(0)  # the service inherits a permissive umask, and undoes it
    try:
        svc = start_service(box, saved_session=False, own_process=True)  # writes every file
    finally:
        os.umask(before)
    with svc.client() as http:
        made = http.post(
            "/v1/offboardings",
            json={"email": "a@corp.com", "request_id": "HR-7", "requested_by": "test"},
        )
        assert made.status_code == 202, made.text
        done = svc.wait_job(made.json()["id"])
    assert done["status"] == "succeeded", done
    assert statuses(box)["a@corp.com"] == "deactivated"
    svc.stop()
    return svc.state_dir, done


@pytest.mark.e2e
def test_the_service_leaves_nothing_readable_by_group_or_others(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    state, _ = offboard_through_the_service(make_sandbox, tmp_path, start_service)
    made = {p.relative_to(state).as_posix() for p in state.rglob("*")}
    assert "service.sqlite3" in made and "audit.jsonl" in made, made
    assert shared_files(state) == {}


@pytest.mark.e2e
def test_the_services_answers_name_no_absolute_path_of_the_state_dir(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    state, done = offboard_through_the_service(make_sandbox, tmp_path, start_service)
    links = done["links"]
    assert isinstance(links, dict) and links["evidence"]
    assert all(str(link).startswith("/v1/evidence/") for link in links["evidence"])
    answer = json.dumps(done)
    assert str(state) not in answer and str(tmp_path) not in answer

"""The offboarding service, run for real: `stitch-connector serve` in a subprocess on a free
loopback port, pointed at an in-process sandbox."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.sandbox.server import RunningSandbox
from tests.conftest import MakeSandbox, child_env, settings_for, signed_in
from tests.service.in_process import InProcessService, ServiceLoop

WRITE_TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
WRITE_NAME = "orchestrator"  # the principals these tokens are (NAME:SCOPE:TOKEN)
READ_NAME = "dashboard"
CALLBACK_SECRET = "callback-secret-0123456789"
_URL = re.compile(r"stitch-connector service: (http://\S+)")


def person(
    email: str, name: str | None, role: str = "General User", **extra: Any
) -> dict[str, Any]:
    return {
        "email": email,
        "name": name,
        "role": role,
        "status": "active",
        "invoice_admin": False,
        **extra,
    }


TEAM = [
    person("me@corp.com", "Morgan Me", "Administrator", is_login_user=True),
    person("boss@corp.com", "Bo Boss", "Administrator"),
    person("pay@corp.com", "Pat Pay", invoice_admin=True),
    person("invitee@corp.com", None, status="pending"),
    *[person(f"user{i}@corp.com", f"User {i}") for i in range(10)],
]


def team_box(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    people: list[dict[str, Any]] = TEAM,
    **options: Any,
) -> RunningSandbox:
    roster = tmp_path / "team.json"
    roster.write_text(json.dumps(people), encoding="utf-8")
    return make_sandbox(members_file=roster, latency_ms=10, **options)


def statuses(box: RunningSandbox) -> dict[str, str]:
    return {m["email"]: m["status"] for m in box.state()["members"]}  # type: ignore[union-attr]


def ok_writes(box: RunningSandbox) -> Counter[str]:
    writes: list[dict[str, Any]] = box.state()["writes"]  # type: ignore[assignment]
    return Counter(w["email"] for w in writes if w["outcome"] == "ok")


def all_writes(box: RunningSandbox) -> list[dict[str, Any]]:
    return list(box.state()["writes"])  # type: ignore[arg-type]


@dataclass
class RunningService:
    url: str
    state_dir: Path
    env: dict[str, str] = field(repr=False)
    own: subprocess.Popen[bytes] | None = None  # own_process=True: a `serve` child process
    own_log: Path | None = None
    served: InProcessService | None = None  # else: served in this process

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.own, "start_service(..., own_process=True): this test is about the process"
        return self.own

    @property
    def log(self) -> Path:
        assert self.own_log, "start_service(..., own_process=True): this test reads its log"
        return self.own_log

    @property
    def write(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {WRITE_TOKEN}"}

    @property
    def read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {READ_TOKEN}"}

    def client(self, token: str | None = WRITE_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        if self.served is not None:
            self.served.stop(timeout)
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def wait_job(self, job_id: str, timeout: float = 90) -> dict[str, Any]:
        """Poll the job until it has finished (bounded)."""
        deadline = time.monotonic() + timeout
        with self.client(READ_TOKEN) as http:
            while True:
                job: dict[str, Any] = http.get(f"/v1/offboardings/{job_id}").json()
                if job["status"] not in ("queued", "running"):
                    return job
                assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
                time.sleep(0.1)  # polling the condition above, bounded by the deadline


StartService = Callable[..., RunningService]


@pytest.fixture
def start_service(tmp_path: Path, service_loop: ServiceLoop) -> Iterator[StartService]:
    started: list[RunningService] = []

    def start(
        box: RunningSandbox,
        state_dir: Path | None = None,
        *args: str,
        saved_session: bool = True,
        own_process: bool = False,
        **env_over: str,
    ) -> RunningService:
        """saved_session: start signed in, as a service does after its first sign-in (False
        for a test about signing in). own_process: `stitch-connector serve` as a child process,
        for a test about the process (signals, its log, a restart, what it connects to); else
        the same app, from the same environment, served in this process (in_process.py)."""
        state = state_dir or tmp_path / "state"
        if saved_session:
            signed_in(box, settings_for(box, state))
        env = child_env(box, state)
        env.update(
            {
                "STITCH_SERVICE_TOKENS": (
                    f"{WRITE_NAME}:write:{WRITE_TOKEN},{READ_NAME}:read:{READ_TOKEN}"
                ),
                "STITCH_CALLBACK_SECRET": CALLBACK_SECRET,
                "STITCH_WRITE_TIMEOUT_MS": "4000",
                "STITCH_TIMEOUT_MS": "15000",
                **(
                    {"STITCH_TOTP_SECRET": box.options.totp_secret}
                    if box.options.mfa == "totp"
                    else {}
                ),
                **env_over,
            }
        )
        if own_process:
            service = _serve_process(tmp_path / f"service-{len(started)}.log", state, env, args)
        else:
            assert not args, "serve's flags need own_process=True"
            served = InProcessService(service_loop, env)
            service = RunningService(served.url, state, env, served=served)
        started.append(service)
        assert httpx.get(service.url + "/healthz").status_code == 200
        return service

    yield start
    for service in started:
        if service.served is not None:
            service.served.stop()
        elif service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait(30)


def _serve_process(
    log: Path, state: Path, env: dict[str, str], args: tuple[str, ...]
) -> RunningService:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector.cli",
                "--log-level",
                "info",
                "serve",
                "--port",
                "0",
                *args,
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
    service = RunningService("", state, env, own=proc, own_log=log)
    deadline = time.monotonic() + 60
    while not (found := _URL.search(log.read_text(encoding="utf-8", errors="replace"))):
        if proc.poll() is not None:
            raise AssertionError(f"the service exited: {log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the service printed no URL")
        time.sleep(0.05)  # polling the log file for the URL line, bounded
    service.url = found.group(1)
    return service

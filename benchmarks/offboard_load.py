"""50 concurrent offboardings of 50 distinct members plus 200 duplicate replays, through `serve`.

    .venv/bin/python benchmarks/offboard_load.py [REMOVALS]

The full-size version of tests/service/test_load.py (which proves the same at 10 removals): a real
`stitch-connector serve` on a free loopback port, pointed at an in-process sandbox whose roster is
60 members over two pages (3 protected, REMOVALS leavers, the rest stay). Every request is sent
at once, in a shuffled order. Checks what the test checks (each leaver deactivated exactly
once, every replay answered with its first job, the protected and the stayers untouched, not one
extra write request) and prints the figures: how long the 250 answers took, how long until every
job had finished, the time per proven removal. Exits 1 if a check fails. Run by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox

TOKEN = "bench-write-token-0123456789abcdef"
SCIM_TOKEN = "bench-scim-token-0123456789abcdef"  # benchmarks/scim_deactivate.py
MEMBERS = 60  # two pages of 50 at the start: a proof re-reads both while the roster spans them
REPLAYS = 200
_URL = re.compile(r"stitch-connector service: (http://\S+)")


def person(email: str, name: str, role: str = "General User", **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "name": name,
        "role": role,
        "status": "active",
        "invoice_admin": False,
        **extra,
    }


def team(leavers: list[str]) -> list[dict[str, Any]]:
    protected = [
        person("me@corp.com", "Morgan Me", "Administrator", is_login_user=True),
        person("boss@corp.com", "Bo Boss", "Administrator"),
        person("pay@corp.com", "Pat Pay", invoice_admin=True),
    ]
    stays = MEMBERS - len(protected) - len(leavers)
    return [
        *protected,
        *[person(f"stays{i:02d}@corp.com", f"Stays {i}") for i in range(stays)],
        *[person(email, f"Leaver {i}") for i, email in enumerate(leavers)],
    ]


def start_service(box: RunningSandbox, state: Path, log: Path, removals: int) -> tuple[Any, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    env.update(
        {
            "STITCH_BASE_URL": box.app_url,
            "STITCH_EMAIL": box.login_email,
            "STITCH_PASSWORD": box.options.admin_password,
            "STITCH_STATE_DIR": str(state),
            "STITCH_SERVICE_TOKENS": f"bench:write:{TOKEN},okta:scim:{SCIM_TOKEN}",
            "STITCH_WRITE_TIMEOUT_MS": "4000",
            "STITCH_TIMEOUT_MS": "15000",
            "STITCH_MAX_REMOVALS": str(removals),
            "STITCH_MAX_FRACTION": "1.0",
            "STITCH_MAX_REMOVALS_PER_DAY": str(removals),
        }
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "--log-level", "info", "serve", "--port", "0"],
            env=env,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 60
    while not (found := _URL.search(log.read_text(encoding="utf-8", errors="replace"))):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service did not start: {log.read_text()}")
        time.sleep(0.05)  # polling the log for the URL line, bounded
    return proc, found.group(1)


async def fire(url: str, requests: list[tuple[str, str]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=50)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/v1/offboardings",
                    json={"email": email, "request_id": rid, "requested_by": "benchmark"},
                )
                for email, rid in requests
            )
        )


def wait_all(url: str, job_of: dict[str, str], timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    finished: dict[str, Any] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        while len(finished) < len(job_of):
            for email, job_id in job_of.items():
                if email not in finished:
                    job = http.get(f"/v1/offboardings/{job_id}").json()
                    if job["status"] not in ("queued", "running"):
                        finished[email] = job
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(job_of) - len(finished)} jobs still running")
            time.sleep(0.2)  # polling the jobs above, bounded by the deadline
    return finished


def check(what: str, ok: bool, failures: list[str]) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def main(removals: int = 50) -> int:
    leavers = [f"leaver{i:02d}@corp.com" for i in range(removals)]
    people = team(leavers)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        roster = Path(tmp) / "team.json"
        roster.write_text(json.dumps(people), encoding="utf-8")
        options = SandboxOptions(members_file=roster, latency_ms=10, variant="current")
        with running_sandbox(options) as box:
            proc, url = start_service(box, Path(tmp) / "state", Path(tmp) / "service.log", removals)
            try:
                originals = [(email, f"load-{email}") for email in leavers]
                shuffled = originals + [originals[i % removals] for i in range(REPLAYS)]
                random.Random(7).shuffle(shuffled)
                started = time.perf_counter()
                answers = asyncio.run(fire(url, shuffled))
                answered = time.perf_counter() - started
                job_of: dict[str, str] = {}
                same_job = True
                for (email, _), answer in zip(shuffled, answers, strict=True):
                    same_job &= job_of.setdefault(email, answer.json()["id"]) == answer.json()["id"]
                finished = wait_all(url, job_of)
                done = time.perf_counter() - started
            finally:
                proc.terminate()
                proc.wait(90)
            state: dict[str, Any] = box.state()
    now = {m["email"]: m["status"] for m in state["members"]}
    writes = state["writes"]
    ok_writes = Counter(w["email"] for w in writes if w["outcome"] == "ok")
    codes = Counter(a.status_code for a in answers)

    print(f"{removals} removals + {REPLAYS} replays against {len(people)} members (2 pages)")
    check(f"answers {dict(codes)}", codes == Counter({202: removals, 200: REPLAYS}), failures)
    check("every replay answered with its first job", same_job, failures)
    check(
        f"{len(set(job_of.values()))} distinct jobs",
        len(set(job_of.values())) == removals,
        failures,
    )
    outcomes = {j["outcome"]["status"] for j in finished.values()}
    check(f"outcomes {sorted(outcomes)}", outcomes == {"deactivated"}, failures)
    check("every leaver deactivated", all(now[e] == "deactivated" for e in leavers), failures)
    untouched = all(now[m["email"]] == "active" for m in people if m["email"] not in leavers)
    check("the protected and the stayers untouched", untouched, failures)
    check("one ok write per leaver", ok_writes == Counter(dict.fromkeys(leavers, 1)), failures)
    check(f"{len(writes)} write requests in all", len(writes) == removals, failures)
    print(f"all {len(shuffled)} requests answered in {answered:.2f} s")
    print(f"every job finished after {done:.1f} s: {done / removals:.2f} s per proven removal")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))

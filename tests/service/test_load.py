"""Load: 10 concurrent offboardings of 10 distinct members, within budget, plus 200 duplicate
replays, on a 60-member roster over two pages. Every member ends deactivated exactly once; the
sandbox's write log shows no second click; the protected and the other members are untouched.

The 50-removal version (same roster, same checks, with its figures printed) is
benchmarks/offboard_load.py, run by hand."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeSandbox
from tests.service.conftest import (
    WRITE_TOKEN,
    StartService,
    all_writes,
    ok_writes,
    person,
    statuses,
    team_box,
)

pytestmark = pytest.mark.e2e
REMOVALS = 10
REPLAYS = 200
LEAVERS = [f"leaver{i:02d}@corp.com" for i in range(REMOVALS)]
TEAM = [
    person("me@corp.com", "Morgan Me", "Administrator", is_login_user=True),
    person("boss@corp.com", "Bo Boss", "Administrator"),
    person("pay@corp.com", "Pat Pay", invoice_admin=True),
    *[person(f"stays{i}@corp.com", f"Stays {i}") for i in range(60 - 3 - REMOVALS)],
    *[person(email, f"Leaver {i}") for i, email in enumerate(LEAVERS)],
]


async def fire(url: str, requests: list[tuple[str, str]]) -> list[httpx.Response]:
    """All requests at once (a bounded pool of 50 connections)."""
    limits = httpx.Limits(max_connections=50)
    headers = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/v1/offboardings",
                    json={"email": email, "request_id": rid, "requested_by": "load-test"},
                )
                for email, rid in requests
            )
        )


@pytest.mark.slow
def test_ten_concurrent_offboardings_and_two_hundred_replays(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path, TEAM, variant="current")
    svc = start_service(
        box,
        None,
        STITCH_MAX_REMOVALS=str(REMOVALS),
        STITCH_MAX_FRACTION="1.0",
        STITCH_MAX_REMOVALS_PER_DAY=str(REMOVALS),
    )
    assert len(TEAM) == 60  # two pages of 50 at the start, as in the 50-removal benchmark
    originals = [(email, f"load-{email}") for email in LEAVERS]
    replays = [originals[i % REMOVALS] for i in range(REPLAYS)]
    shuffled = originals + replays
    random.Random(7).shuffle(shuffled)

    answers = asyncio.run(fire(svc.url, shuffled))
    assert Counter(a.status_code for a in answers) == Counter({202: REMOVALS, 200: REPLAYS})
    job_of: dict[str, str] = {}
    for (email, _), answer in zip(shuffled, answers, strict=True):
        job_id = answer.json()["id"]
        assert job_of.setdefault(email, job_id) == job_id  # every replay: the same job
    assert len(set(job_of.values())) == REMOVALS

    finished = {email: svc.wait_job(job_id, timeout=240) for email, job_id in job_of.items()}
    assert {j["outcome"]["status"] for j in finished.values()} == {"deactivated"}
    now = statuses(box)
    assert all(now[email] == "deactivated" for email in LEAVERS)
    assert all(now[m["email"]] == "active" for m in TEAM if m["email"] not in LEAVERS)
    assert ok_writes(box) == Counter({email: 1 for email in LEAVERS})
    assert len(all_writes(box)) == REMOVALS  # not one extra request of any kind

"""Load: 50 concurrent offboardings of 50 distinct members, within budget, plus 200 duplicate
replays. Every member ends deactivated exactly once; the sandbox's write log shows no second
click."""

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
LEAVERS = [f"leaver{i:02d}@corp.com" for i in range(50)]
TEAM = [
    person("me@corp.com", "Morgan Me", "Administrator", is_login_user=True),
    person("boss@corp.com", "Bo Boss", "Administrator"),
    person("pay@corp.com", "Pat Pay", invoice_admin=True),
    *[person(f"stays{i}@corp.com", f"Stays {i}") for i in range(7)],
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
@pytest.mark.timeout(900)  # 50 proven removals: ~2 s each alone, several times that on a busy CI
def test_fifty_concurrent_offboardings_and_two_hundred_replays(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path, TEAM, variant="current")
    svc = start_service(
        box,
        None,
        STITCH_MAX_REMOVALS="50",
        STITCH_MAX_FRACTION="1.0",
        STITCH_MAX_REMOVALS_PER_DAY="50",
    )
    originals = [(email, f"load-{email}") for email in LEAVERS]
    replays = [originals[i % 50] for i in range(200)]
    shuffled = originals + replays
    random.Random(7).shuffle(shuffled)

    answers = asyncio.run(fire(svc.url, shuffled))
    assert Counter(a.status_code for a in answers) == Counter({202: 50, 200: 200})
    job_of: dict[str, str] = {}
    for (email, _), answer in zip(shuffled, answers, strict=True):
        job_id = answer.json()["id"]
        assert job_of.setdefault(email, job_id) == job_id  # every replay: the same job
    assert len(set(job_of.values())) == 50

    finished = {email: svc.wait_job(job_id, timeout=800) for email, job_id in job_of.items()}
    assert {j["outcome"]["status"] for j in finished.values()} == {"deactivated"}
    now = statuses(box)
    assert all(now[email] == "deactivated" for email in LEAVERS)
    assert all(now[m["email"]] == "active" for m in TEAM if m["email"] not in LEAVERS)
    assert ok_writes(box) == Counter({email: 1 for email in LEAVERS})
    assert len(all_writes(box)) == 50  # not one extra request of any kind

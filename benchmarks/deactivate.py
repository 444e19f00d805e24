"""Deactivations in one run against the sandbox: 20 with banners, then 10 with banners beside
10 whose success banner never comes (`--drop-banner`), each set in a run of its own.

    .venv/bin/python benchmarks/deactivate.py

Prints the time per removal beside the sandbox's own round trip (click to banner), how many
sign-ins and page loads the run needed, and the dropped-banner ratio (issue 18 asks under 2x):
without a banner, a read on a second page (the row's page when it proves it, else the whole
list) proves the removal after STITCH_EARLY_READ_MS instead of waiting out the write timeout
(15 s by default). Run by hand.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connector import logs
from connector.client import StitchConnector
from connector.models import Outcome
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import running_sandbox
from connector.settings import Settings

REMOVALS = 20
PAIRED = 10  # with and without banners
MEMBERS = 120


@dataclass
class Run:
    wall: float
    outcomes: list[Outcome]
    events: list[dict[str, Any]]
    writes: int

    @property
    def deactivated(self) -> int:
        return sum(o.status.value == "deactivated" for o in self.outcomes)

    @property
    def per_removal(self) -> float:
        return self.wall / max(len(self.outcomes), 1)


async def removals(count: int, *, drop_banner: bool) -> Run:
    stream = io.StringIO()
    logs.configure(run_id="bench-deactivate", level="debug", stream=stream, json=True)
    options = SandboxOptions(members=MEMBERS, latency_ms=150, drop_banner=drop_banner)
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(options) as box:
        general = [
            m["email"]
            for m in box.state()["members"]  # type: ignore[union-attr]
            if m["role"] == "General User" and m["status"] == "active" and not m["invoice_admin"]
        ][:count]
        settings = Settings(
            base_url=box.app_url,
            email=box.login_email,
            password=options.admin_password,
            state_dir=Path(tmp),
            max_removals=count,
            max_removals_per_day=count,
            max_fraction=0.5,
        )
        async with StitchConnector(settings) as stitch:
            started = time.perf_counter()
            outcomes = await stitch.deactivate(general, actor="benchmark")
            wall = time.perf_counter() - started
        writes = len(box.state()["writes"])  # type: ignore[arg-type]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    return Run(wall, outcomes, events, writes)


def click_to_banner(run: Run) -> float:
    """The sandbox's round trip: from the click on the row to the banner the page showed."""
    clicked = [e for e in run.events if e["event"] == "row.clicked"]
    done = [e for e in run.events if e["event"] == "removal.clicked"]
    stamps = [(c["timestamp"], d["timestamp"]) for c, d in zip(clicked, done, strict=False)]

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    return sum(seconds(a, b) for a, b in stamps) / max(len(stamps), 1)


async def main_async() -> int:
    full = await removals(REMOVALS, drop_banner=False)
    names = [e["event"] for e in full.events]
    banner = click_to_banner(full)
    print(
        f"{full.deactivated}/{len(full.outcomes)} deactivated, {full.writes} write requests, "
        f"{full.wall:.1f} s in all"
    )
    print(f"per removal:            {full.per_removal:.2f} s")
    print(f"click to banner:        {banner:.2f} s (the sandbox's own round trip)")
    print(f"ratio removal / banner: {full.per_removal / banner:.1f}x")
    reads = names.count("members.listed")
    print(f"sign-ins: {names.count('signin.done')}, full roster reads: {reads}")

    shown = await removals(PAIRED, drop_banner=False)
    dropped = await removals(PAIRED, drop_banner=True)
    beside = sum(e["event"] == "removal.proven_beside" for e in dropped.events)
    print(
        f"{PAIRED} removals with banners: {shown.wall:.1f} s; with dropped banners: "
        f"{dropped.wall:.1f} s ({dropped.deactivated}/{PAIRED} deactivated, {beside} proven "
        f"beside the page); ratio {dropped.wall / shown.wall:.2f}x (issue 18: under 2x)"
    )
    ok = full.deactivated == REMOVALS and shown.deactivated == dropped.deactivated == PAIRED
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async()))

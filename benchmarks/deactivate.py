"""20 deactivations in one run against the sandbox.

    .venv/bin/python benchmarks/deactivate.py

Prints the time per removal beside the sandbox's own round trip (click to banner), and how many
sign-ins and page loads the run needed. The run signs in once; each removal costs one walk to
the row, the click, and one fresh read of the roster that proves it. Run by hand.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from connector import logs
from connector.client import StitchConnector
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import running_sandbox
from connector.settings import Settings

REMOVALS = 20
MEMBERS = 120


async def main_async() -> int:
    stream = io.StringIO()
    logs.configure(run_id="bench-deactivate", level="debug", stream=stream, json=True)
    options = SandboxOptions(members=MEMBERS, latency_ms=150)
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(options) as box:
        general = [
            m["email"]
            for m in box.state()["members"]  # type: ignore[union-attr]
            if m["role"] == "General User" and m["status"] == "active" and not m["invoice_admin"]
        ][:REMOVALS]
        settings = Settings(
            base_url=box.app_url,
            email=box.login_email,
            password=options.admin_password,
            state_dir=Path(tmp),
            max_removals=REMOVALS,
            max_removals_per_day=REMOVALS,
            max_fraction=0.5,
        )
        async with StitchConnector(settings) as stitch:
            started = time.perf_counter()
            outcomes = await stitch.deactivate(general, actor="benchmark")
            wall = time.perf_counter() - started
        writes = box.state()["writes"]  # type: ignore[index]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    names = [e["event"] for e in events]
    clicked = [e for e in events if e["event"] == "row.clicked"]
    done = [e for e in events if e["event"] == "removal.clicked"]
    # The sandbox's round trip: from the click on the row to the banner the page showed.
    stamps = [(c["timestamp"], d["timestamp"]) for c, d in zip(clicked, done, strict=False)]

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    click_to_banner = sum(seconds(a, b) for a, b in stamps) / max(len(stamps), 1)
    ok = sum(o.status.value == "deactivated" for o in outcomes)
    print(f"{ok}/{len(outcomes)} deactivated, {len(writes)} write requests, {wall:.1f} s in all")
    print(f"per removal:            {wall / len(outcomes):.2f} s")
    print(f"click to banner:        {click_to_banner:.2f} s (the sandbox's own round trip)")
    print(f"ratio removal / banner: {wall / len(outcomes) / click_to_banner:.1f}x")
    reads = names.count("members.listed")
    print(f"sign-ins: {names.count('signin.done')}, full roster reads: {reads}")
    return 0 if ok == REMOVALS else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async()))

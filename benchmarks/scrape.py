"""How list_members scales: 50 vs 1000 members against the sandbox, in one run.

    .venv/bin/python benchmarks/scrape.py

Prints wall time, pages, and the time spent extracting (one page.evaluate + validation per page),
then the ratios. Growth should come from the sandbox's own pages (one data request each, with its
latency), not from extraction. Run by hand; no test asserts on these numbers.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from connector import logs
from connector.client import StitchConnector
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import running_sandbox
from connector.settings import Settings

LATENCY_MS = 150  # the sandbox default: what one member-data request costs


async def measure(size: int) -> dict[str, float]:
    stream = io.StringIO()
    logs.configure(run_id=f"bench-{size}", level="debug", stream=stream, json=True)
    options = SandboxOptions(members=size, latency_ms=LATENCY_MS)
    with tempfile.TemporaryDirectory() as tmp, running_sandbox(options) as box:
        settings = Settings(
            base_url=box.app_url,
            email=box.login_email,
            password=options.admin_password,
            state_dir=Path(tmp),
        )
        async with StitchConnector(settings) as stitch:
            await stitch.list_members()  # warm up: sign in, cache the members URL
            started = time.perf_counter()
            roster = await stitch.list_members()
            wall = time.perf_counter() - started
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    reads = [ln for ln in lines if ln.get("event") == "members.page_read"]
    last = reads[-len(range(roster.pages)) :]
    extract = sum(ln["extract_ms"] for ln in last) / 1000
    return {"members": roster.count, "pages": roster.pages, "wall_s": wall, "extract_s": extract}


def main() -> int:
    small, large = asyncio.run(measure(50)), asyncio.run(measure(1000))
    for r in (small, large):
        print(
            f"{int(r['members']):>5} members  {int(r['pages']):>3} pages  "
            f"list_members {r['wall_s']:6.2f} s  extraction {r['extract_s'] * 1000:7.1f} ms "
            f"({r['extract_s'] / r['wall_s']:.1%} of the time)"
        )
    print(f"members ratio    {large['members'] / small['members']:.1f}x")
    print(f"pages ratio      {large['pages'] / small['pages']:.1f}x")
    print(f"wall-time ratio  {large['wall_s'] / small['wall_s']:.1f}x")
    print(f"extraction ratio {large['extract_s'] / small['extract_s']:.1f}x")
    print(
        f"wall time per page: {small['wall_s'] / small['pages']:.2f} s vs "
        f"{large['wall_s'] / large['pages']:.2f} s (sandbox latency {LATENCY_MS} ms per page)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

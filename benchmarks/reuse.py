"""What one event loop and one Chromium per test worker buy (connector.runner.reusing()).

    .venv/bin/python benchmarks/reuse.py [RUNS]

Runs RUNS scrapes of a 30-member sandbox (default 8), each with its own state directory (so
each signs in, as a test does), twice, each way in a child process of its own: every run in a
fresh asyncio.run with its own Chromium (how a cron job runs), then every run on one loop
borrowing one Chromium (how the test suite runs). Prints wall time and CPU time (the child's
and everything it started: Chromium, Playwright's driver) per run, then the ratios. Run by
hand; no test asserts on these numbers.
"""

from __future__ import annotations

import contextlib
import io
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from connector import logs, runner
from connector.client import StitchConnector
from connector.models import MemberList
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import running_sandbox
from connector.settings import Settings


def scrapes(runs: int, reuse: bool) -> None:
    logs.configure(run_id="bench", level="error", stream=io.StringIO(), json=True)
    options = SandboxOptions(members=30, latency_ms=10)
    held = runner.reusing() if reuse else contextlib.nullcontext()
    with held, running_sandbox(options) as box, tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            settings = Settings(
                base_url=box.app_url,
                email=box.login_email,
                password=options.admin_password,
                state_dir=Path(tmp) / str(n),
            )

            async def go(settings: Settings = settings) -> MemberList:
                async with StitchConnector(settings) as stitch:
                    return await stitch.list_members()

            assert runner.run(go).count == 30


@contextlib.contextmanager
def measured(figures: dict[str, float]) -> Iterator[None]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    yield
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["wall"] = time.perf_counter() - start
    figures["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in ("--fresh", "--reuse"):  # a measured child
        scrapes(int(sys.argv[2]), reuse=sys.argv[1] == "--reuse")
        return 0
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    results: dict[str, dict[str, float]] = {}
    for mode in ("--fresh", "--reuse"):
        figures: dict[str, float] = {}
        with measured(figures):
            subprocess.run([sys.executable, __file__, mode, str(runs)], check=True)
        results[mode] = figures
        print(
            f"{mode[2:]:>6}: {runs} runs, {figures['wall'] / runs:.2f} s wall and "
            f"{figures['cpu'] / runs:.2f} s CPU per run"
        )
    fresh, reused = results["--fresh"], results["--reuse"]
    print(
        f"reuse/fresh: wall {reused['wall'] / fresh['wall']:.2f}, "
        f"CPU {reused['cpu'] / fresh['cpu']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

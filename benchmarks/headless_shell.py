"""The full Chromium against its headless shell, for the runs the connector makes headless.

    .venv/bin/python benchmarks/headless_shell.py [RUNS]

For each browser (Debian's /usr/bin/chromium and /usr/bin/chromium-headless-shell), on one
loop borrowing one launched browser (as the service and the test suite run): RUNS connector
reads of a 60-member sandbox list, each in a new browser context with the saved session (what
every run does), then RUNS reloads of the list in one page. Prints wall time and the whole
machine's busy CPU time (Chromium's renderers included, which a child's rusage misses) per
run, then the ratios of the two browsers in this one run. Linux only (/proc/stat). Run by hand
on an idle machine; no test asserts on these numbers.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from connector import logs, runner
from connector.browser import borrowed, save_session
from connector.client import StitchConnector
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from connector.settings import Settings
from connector.stitch.navigation import save_members_url

BROWSERS = {"chromium": "/usr/bin/chromium", "headless shell": "/usr/bin/chromium-headless-shell"}


def busy_cpu_s() -> float:
    """Busy time of every core since boot (user, nice, system, irq, softirq, steal), seconds."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / 100


def settings_for(box: RunningSandbox, browser: str, state_dir: Path) -> Settings:
    settings = Settings(
        base_url=box.app_url,
        email=box.login_email,
        password=box.options.admin_password,
        state_dir=state_dir,
        browser_path=Path(browser),
        trace="off",
    )
    save_session(settings, box.signed_in_state())
    save_members_url(settings, box.members_url, box.options.client_id)
    return settings


async def timed(runs: int, step: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    await step()  # warm: the browser launched, the app's code cached
    cpu, wall = busy_cpu_s(), time.perf_counter()
    for _ in range(runs):
        await step()
    return (time.perf_counter() - wall) / runs, (busy_cpu_s() - cpu) / runs


async def measure(box: RunningSandbox, browser: str, runs: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(box, browser, Path(tmp))

        async def read() -> None:
            async with StitchConnector(settings) as stitch:
                await stitch.list_members()

        results = {"connector read, new context": await timed(runs, read)}
        shared = await borrowed(settings)  # the browser the reads above ran in
        assert shared is not None
        context = await shared.browser.new_context(storage_state=settings.storage_state_path)
        page = await context.new_page()
        await page.goto(box.members_url)

        async def reload() -> None:
            await page.reload()
            await page.get_by_text("60 members").wait_for()

        results["reload in one page"] = await timed(runs, reload)
        await context.close()
        return results


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    logs.configure(run_id="bench", level="error", stream=io.StringIO(), json=True)
    missing = [path for path in BROWSERS.values() if not Path(path).is_file()]
    if missing:
        sys.exit(f"not installed: {', '.join(missing)} (apt-get install chromium-headless-shell)")
    table: dict[str, dict[str, tuple[float, float]]] = {}
    with runner.reusing(), running_sandbox(SandboxOptions(members=60, latency_ms=10)) as box:
        for name, path in BROWSERS.items():
            table[name] = runner.run(lambda path=path: measure(box, path, runs))  # type: ignore[misc]
    print(f"{runs} runs each, per run: wall / busy CPU of the whole machine")
    for what in table["chromium"]:
        full, shell = table["chromium"][what], table["headless shell"][what]
        print(
            f"  {what:28s} chromium {full[0] * 1000:5.0f} / {full[1] * 1000:5.0f} ms   "
            f"headless shell {shell[0] * 1000:5.0f} / {shell[1] * 1000:5.0f} ms   "
            f"ratio wall {full[0] / shell[0]:.2f}x, CPU {full[1] / shell[1]:.2f}x"
        )


if __name__ == "__main__":
    main()

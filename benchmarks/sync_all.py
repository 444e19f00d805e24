"""`sync --all` for 1, 4 and 8 accounts of 200 members each, with a local Chromium and through a
Playwright browser server, as ratios measured in one run.

    .venv/bin/python benchmarks/sync_all.py [--concurrency 4] [--latency-ms 150]

Eight in-process sandboxes (eight origins, eight rosters) and one accounts file per size. Each
configuration first runs once untimed (each account signs in and saves its session, as after a
deployment's first run), then `stitch-connector sync --all --json` is timed as a whole process,
three times; the median is shown. Ratios: N accounts against 1 in the same mode (issue 17: 4
accounts should take well under 4x one), and remote against local. Run by hand; no test asserts
on these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from connector.browser import find_browser
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import running_sandbox

SIZES = (1, 4, 8)
RUNS = 3


def accounts_file(boxes: list[Any], count: int, folder: Path) -> Path:
    secrets = folder / "secrets"
    secrets.mkdir(exist_ok=True)
    body = ""
    for i, box in enumerate(boxes[:count]):
        password = secrets / f"a{i}"
        password.write_text(box.options.admin_password)
        body += (
            f'[accounts.a{i}]\nbase_url = "{box.app_url}"\nemail = "{box.login_email}"\n'
            f'password_file = "{password}"\n\n'
        )
    path = folder / f"accounts-{count}.toml"
    path.write_text(body)
    return path


def timed_sync(env: dict[str, str], concurrency: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "connector.cli", "sync", "--all", "--json",
         "--concurrency", str(concurrency)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sync --all failed ({done.returncode}): {done.stderr[-2000:]}")
    for result in json.loads(done.stdout):
        assert result["report"]["snapshot"]["count"] == 200, result
    return took


def playwright_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1", "--port", "0",
         "--unsafe"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, ""):
        found = re.search(r"Listening on (ws://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("the Playwright server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    server, ws = playwright_server()
    modes = {
        "local": {},
        "remote": {
            "STITCH_BROWSER_WS_ENDPOINT": ws,
            "STITCH_BROWSER_PATH": str(find_browser(None, None, headless=True).path),
        },
    }
    medians: dict[tuple[str, int], float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            folder = Path(tmp)
            options = SandboxOptions(members=200, latency_ms=args.latency_ms, mfa="off")
            boxes = [stack.enter_context(running_sandbox(options)) for _ in range(max(SIZES))]
            for mode, extra in modes.items():
                for count in SIZES:
                    env = {
                        **base,
                        **extra,
                        "STITCH_STATE_DIR": str(folder / f"state-{mode}"),
                        "STITCH_ACCOUNTS_FILE": str(accounts_file(boxes, count, folder)),
                    }
                    timed_sync(env, args.concurrency)  # untimed: sign-ins, sessions saved
                    runs = [timed_sync(env, args.concurrency) for _ in range(RUNS)]
                    medians[(mode, count)] = statistics.median(runs)
                    shown = ", ".join(f"{r:.2f}" for r in runs)
                    median = medians[(mode, count)]
                    print(f"{mode:6} {count} account(s): median {median:.2f} s ({shown})")
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the Python wrapper and its Node server
        server.wait(30)
    print(
        f"\nconcurrency {args.concurrency}, 200 members each, {args.latency_ms} ms per data answer"
    )
    for mode in modes:
        one = medians[(mode, 1)]
        ratios = ", ".join(f"{n} accounts {medians[(mode, n)] / one:.2f}x" for n in SIZES[1:])
        print(f"{mode:6}: against 1 account: {ratios}")
    remote = ", ".join(f"{n}: {medians[('remote', n)] / medians[('local', n)]:.2f}x" for n in SIZES)
    print(f"remote against local: {remote}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared test fixtures: the in-process sandbox on free ports, and settings pointing at it."""

# ruff: noqa: E402 (the bytecode setting below comes before the package is imported)

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Bytecode caches even where PYTHONDONTWRITEBYTECODE is set (many CI images and containers set
# it): without them every pytest process (the controller, each xdist worker, the pytest children
# of test_markers.py) compiled the package and rewrote every test module's asserts from source
# again, ~2.5 s of CPU each, and every CLI or `serve` child compiled what it imports. The caches
# are __pycache__ folders, ignored by git; children only read them.
sys.dont_write_bytecode = False

from connector import clock, logs, retry, runner
from connector.browser import save_session
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from connector.selector_set import SelectorSet, default_selectors_path, load_selectors
from connector.settings import Settings
from connector.stitch.navigation import save_members_url

if TYPE_CHECKING:
    from tests.service.in_process import ServiceLoop

MakeSandbox = Callable[..., RunningSandbox]

# The `browser` mark on every test that starts something heavy, its guard, and the slowest first.
pytest_plugins = ("tests.browser_marks",)


@pytest.fixture(scope="session", autouse=True)
def one_loop_and_chromium_per_worker() -> Iterator[runner.Reuse]:
    """Every blocking run in this worker (runner.run: test helpers, the in-process CLI, the
    Python API) on one event loop, borrowing one Chromium per launch settings, launched on
    first use, so a worker that runs no browser test launches none. Each run still gets a
    fresh browser context: nothing but the process is shared."""
    with runner.reusing() as reuse:
        yield reuse


@pytest.fixture(scope="session")
def service_loop() -> Iterator[ServiceLoop]:
    """The thread and event loop every in-process service of this worker runs on, with its
    own kept Chromium (Playwright objects belong to one loop): tests/service/in_process.py."""
    from tests.service.in_process import ServiceLoop  # the web stack: only where it serves

    loop = ServiceLoop()
    yield loop
    loop.close()


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    """Start sandboxes with any SandboxOptions; all are stopped when the test ends.
    `wall_clock=` (not an option): the time TOTP codes are checked against, see `wall_clock`."""
    with ExitStack() as stack:

        def make(wall_clock: Callable[[], float] = time.time, **options: Any) -> RunningSandbox:
            return stack.enter_context(running_sandbox(SandboxOptions(**options), wall_clock))

        yield make


@pytest.fixture
def wall_clock() -> Iterator[clock.TestClock]:
    """The connector's wall clock replaced for the test: a wait for the next TOTP window passes
    at once. Start the sandbox with `make_sandbox(..., wall_clock=wall_clock.time)`."""
    with clock.testing() as fake:
        yield fake


@pytest.fixture
def no_retry_waits() -> Iterator[None]:
    """Retries go at once (connector.retry.testing): for tests that fault pages on purpose,
    where the waits between attempts are all the time they take."""
    with retry.testing():
        yield


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> RunningSandbox:
    return make_sandbox(latency_ms=50)


def settings_for(box: RunningSandbox, state_dir: Path, **overrides: Any) -> Settings:
    """Settings that sign in to `box` as its Administrator, with TOTP when the box asks for it."""
    values: dict[str, Any] = {
        "base_url": box.app_url,
        "email": box.login_email,
        "password": box.options.admin_password,
        "totp_secret": box.options.totp_secret if box.options.mfa == "totp" else None,
        "state_dir": state_dir,
        "timeout_ms": 15_000,
    }
    values.update(overrides)
    return Settings(**values)


def signed_in(box: RunningSandbox, settings: Settings) -> Settings:
    """`settings`, with a saved session for `box` in its state dir, so the run starts signed in,
    and where the member list is, so it goes straight there: as every run after
    the first does in production. Only for tests that are not about signing in or finding the
    list: the sign-in, TOTP, lockout, session, navigation and secret tests do it for real."""
    save_session(settings, box.signed_in_state())
    save_members_url(settings, box.members_url, box.options.client_id)
    return settings


def sandbox_env(box: RunningSandbox, state_dir: Path) -> dict[str, str]:
    """The STITCH_* variables that point a child process at `box`."""
    return {
        "STITCH_BASE_URL": box.app_url,
        "STITCH_EMAIL": box.login_email,
        "STITCH_PASSWORD": box.options.admin_password,
        "STITCH_STATE_DIR": str(state_dir),
    }


def child_env(box: RunningSandbox, state_dir: Path, **extra: str) -> dict[str, str]:
    """A child process's whole environment: this one's without any STITCH_*, then `box`'s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    return {**clean, **sandbox_env(box, state_dir), **extra}


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    """Every log line the run writes, as JSON, for assertions and secret scans."""
    stream = io.StringIO()
    logs.configure(run_id="test", level="debug", stream=stream, json=True)
    yield stream


def events(log: io.StringIO) -> list[dict[str, Any]]:
    """The log lines `log_capture` caught, parsed."""
    return [json.loads(line) for line in log.getvalue().splitlines()]


def drifted_selectors(tmp_path: Path, old: str, new: str) -> SelectorSet:
    """The shipped selectors with one line changed: a UI the selectors no longer describe."""
    shipped = default_selectors_path().read_text(encoding="utf-8")
    assert old in shipped, f"{old!r} is not in the shipped selectors"
    path = tmp_path / "drifted-stitch.toml"
    path.write_text(shipped.replace(old, new), encoding="utf-8")
    return load_selectors(path)

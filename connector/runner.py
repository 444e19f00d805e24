"""Where a blocking call runs its coroutine, and which Chromium a run uses when it brings none.

By default each blocking call (the CLI, `connector.list_members`, `connector.offboard`) is
`asyncio.run`: a fresh event loop, and the run launches its own Chromium and closes it.

Inside `with runner.reusing():` every blocking call in this thread runs on one event loop that
stays open, and every run whose launch settings match borrows one running Chromium: a fresh
context each time, so no cookie, page or storage is shared, only the process. The test suite
holds one per worker, so that hundreds of runs launch a browser once (as stamina's testing mode
takes the waiting out of retries without changing the code that retries); a notebook making many
calls could do the same. The code path of a run is the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from connector.settings import Settings

if TYPE_CHECKING:  # Playwright loads with the first browser, not with this module
    from connector.browser import SharedBrowser

T = TypeVar("T")


def launch_key(settings: Settings) -> tuple[object, ...]:
    """What makes two launches the same browser: a headed, slowed or devtools run never borrows
    a headless one, nor one run from another binary or without Chromium's sandbox."""
    return (
        settings.browser_path,
        settings.headless and not settings.devtools,
        settings.devtools,
        settings.slow_mo_ms,
        settings.browser_sandbox,
    )


class Reuse:
    """One event loop and the browsers launched on it, kept until `close()`."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._thread = threading.get_ident()
        self._browsers: dict[tuple[object, ...], SharedBrowser] = {}
        self._launching = asyncio.Lock()
        self.launches = 0  # how many Chromiums this block started (a test reads it)

    def owns_this_thread(self) -> bool:
        return threading.get_ident() == self._thread

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        return self._runner.run(_awaited(make))

    async def browser_for(self, settings: Settings) -> SharedBrowser | None:
        """A running browser for these settings, launched on first use; None off this loop
        (a service's own loop, a thread): such a run launches its own, as it always did."""
        if asyncio.get_running_loop() is not self._runner.get_loop():
            return None
        from connector.browser import SharedBrowser

        key = launch_key(settings)
        async with self._launching:
            shared = self._browsers.get(key)
            if shared is None or not shared.connected:  # a crashed Chromium is replaced
                shared = SharedBrowser(settings)
                await shared.__aenter__()
                self._browsers[key] = shared
                self.launches += 1
        return shared

    def close(self) -> None:
        try:
            for shared in self._browsers.values():
                self._runner.run(shared.__aexit__())
        finally:
            self._browsers.clear()
            self._runner.close()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_active: Reuse | None = None


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run `make()` to completion: on the reusing loop when this thread holds one, else in a
    fresh `asyncio.run`."""
    reuse = _active
    if reuse is not None and reuse.owns_this_thread():
        return reuse.run(make)
    return asyncio.run(_awaited(make))


async def borrowed_browser(settings: Settings) -> SharedBrowser | None:
    """The running browser a run without its own should use, or None: launch one."""
    reuse = _active
    return await reuse.browser_for(settings) if reuse is not None else None


@contextlib.contextmanager
def reusing() -> Iterator[Reuse]:
    """One event loop and one Chromium per launch settings for every run in the block."""
    global _active
    if _active is not None:
        raise RuntimeError("runner.reusing() is already active")
    reuse = Reuse()
    _active = reuse
    try:
        yield reuse
    finally:
        _active = None
        reuse.close()

"""Where a blocking call runs its coroutine, and what may outlive one run.

By default each blocking call (the CLI, `connector.list_members`, `connector.offboard`) is
`asyncio.run`: a fresh event loop, and everything the run opens (its Chromium) is closed with it.

Inside `with runner.reusing():` every blocking call in this thread runs on one event loop that
stays open, and a run may keep what is expensive to open for the next run on that loop
(`Reuse.kept`): browser.py keeps one running Chromium per launch settings there, and each run
still gets a fresh browser context, so no cookie, page or storage is shared. The test suite holds
one per worker, so that hundreds of runs launch a browser once (as stamina's testing mode takes
the waiting out of retries without changing the code that retries); a notebook making many calls
could do the same. The code path of a run is the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Reuse:
    """One event loop, and what runs on it keep for the next run, until `close()`."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._thread = threading.get_ident()
        self._kept: dict[Hashable, tuple[Any, Callable[[], Awaitable[None]]]] = {}  # thing, close
        self._opening = asyncio.Lock()
        self.opened = 0  # how many things were opened to be kept (a test reads it)

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        return self._runner.run(_awaited(make))

    def in_its_thread(self) -> bool:
        return threading.get_ident() == self._thread

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self.in_its_thread() and loop is self._runner.get_loop()

    async def kept(
        self,
        key: Hashable,
        open_: Callable[[], Awaitable[T]],
        alive: Callable[[T], bool],
        close: Callable[[T], Awaitable[None]],
    ) -> T:
        """The thing kept under `key`, opened by `open_` on first use or when it died."""
        async with self._opening:
            found = self._kept.get(key)
            if found is not None and alive(found[0]):
                thing: T = found[0]
                return thing
            thing = await open_()
            self._kept[key] = (thing, lambda: close(thing))
            self.opened += 1
        return thing

    def close(self) -> None:
        try:
            for _thing, close in self._kept.values():
                with contextlib.suppress(Exception):  # one that fails must not keep the rest
                    self._runner.run(_awaited(close))
        finally:
            self._kept.clear()
            self._runner.close()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


_active: dict[int, Reuse] = {}  # each thread's, by thread id: a service's thread may hold its own


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run `make()` to completion: on the reusing loop when this thread holds one, else in a
    fresh `asyncio.run`."""
    reuse = _active.get(threading.get_ident())
    if reuse is not None:
        return reuse.run(make)
    return asyncio.run(_awaited(make))


def current() -> Reuse | None:
    """The Reuse whose loop is running this coroutine; None on any other loop (a service's
    own, another thread's): what runs there opens and closes its own things, as always."""
    reuse = _active.get(threading.get_ident())
    return reuse if reuse is not None and reuse.owns(asyncio.get_running_loop()) else None


@contextlib.contextmanager
def reusing() -> Iterator[Reuse]:
    """One event loop, and what runs keep on it, for every blocking call in this thread in
    the block (and every task that loop runs: a service served on it borrows its browser)."""
    me = threading.get_ident()
    if me in _active:
        raise RuntimeError("runner.reusing() is already active in this thread")
    reuse = Reuse()
    _active[me] = reuse
    try:
        yield reuse
    finally:
        del _active[me]
        reuse.close()

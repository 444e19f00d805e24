"""Wall-clock time for the TOTP step, in one place a test can replace (as stamina's testing mode
replaces its retry waits).

A TOTP code belongs to a 30-second window of the wall clock, and a server refuses a window's code
twice, so a second sign-in in the same window waits for the next one (`stitch/signin.py`). Against
the real Stitch that wait is real. A test runs `with clock.testing() as fake:` instead: the
connector then reads `fake.time()`, its waits move `fake` forward at once instead of sleeping, and
a sandbox started with `wall_clock=fake.time` checks codes against the same time, so a test proves
the next-window behaviour without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` of this clock's time pass."""
        ...


class SystemClock:
    """The real wall clock, and real waiting."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TestClock:
    """Starts at the real time and stands still; `sleep` (or `advance`) moves it forward at once."""

    __test__ = False  # not a pytest test class

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()
        self.slept: list[float] = []  # every wait the code asked for, in order

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still a point where other tasks may run


_SYSTEM = SystemClock()
_current: Clock = _SYSTEM


def current() -> Clock:
    """The clock the connector reads: the system's, unless a test installed another."""
    return _current


@contextlib.contextmanager
def testing(start: float | None = None) -> Iterator[TestClock]:
    """Install a TestClock for the block, then put the previous clock back."""
    global _current
    previous, fake = _current, TestClock(start)
    _current = fake
    try:
        yield fake
    finally:
        _current = previous

"""connector/runner.py: one event loop for many blocking calls, and what runs keep on it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from connector import runner


class Thing:
    def __init__(self) -> None:
        self.alive = True
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def loop_of_this_run() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_runs_of_one_reuse_share_one_loop_and_a_kept_thing_is_opened_once() -> None:
    reuse = runner.Reuse()
    opened: list[Thing] = []

    async def open_() -> Thing:
        opened.append(Thing())
        return opened[-1]

    async def use() -> Thing:
        return await reuse.kept("k", open_, lambda t: t.alive, Thing.close)

    try:
        assert reuse.run(loop_of_this_run) is reuse.run(loop_of_this_run)
        first, second = reuse.run(use), reuse.run(use)
        assert first is second and len(opened) == 1 and reuse.opened == 1
        first.alive = False  # it died between runs (a crashed Chromium): opened again
        third = reuse.run(use)
        assert third is not first and len(opened) == 2
    finally:
        reuse.close()
    assert opened[-1].closed  # closed with the Reuse


def test_a_blocking_call_off_the_reusing_thread_gets_its_own_loop() -> None:
    # The worker's reusing() is active in this thread (tests/conftest.py).
    here = runner.run(loop_of_this_run)
    assert runner.run(loop_of_this_run) is here  # one loop for every run in this thread
    seen: list[Any] = []

    def elsewhere() -> None:
        seen.append(runner.run(loop_of_this_run))
        seen.append(runner.run(loop_of_this_run))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(30)
    assert len(seen) == 2 and here not in seen and seen[0] is not seen[1]  # asyncio.run each


def test_current_is_none_on_any_other_loop() -> None:
    async def current() -> runner.Reuse | None:
        return runner.current()

    assert runner.run(current) is not None  # on the worker's loop
    holder: list[runner.Reuse | None] = []
    thread = threading.Thread(target=lambda: holder.append(asyncio.run(current())))
    thread.start()
    thread.join(30)
    assert holder == [None]  # a service's own loop, another thread: opens its own things


def test_reusing_twice_is_refused() -> None:
    with pytest.raises(RuntimeError, match="already active"), runner.reusing():
        pass


def test_another_thread_may_hold_its_own_reusing_loop() -> None:
    """A thread serving the in-process services holds its own (tests/service/in_process.py):
    its runs share its loop and its kept things, never this thread's."""
    here = runner.run(loop_of_this_run)
    seen: list[Any] = []

    def elsewhere() -> None:
        async def current() -> runner.Reuse | None:
            return runner.current()

        with runner.reusing() as reuse:
            seen.extend([runner.run(loop_of_this_run), runner.run(loop_of_this_run)])
            seen.append(runner.run(current) is reuse)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(30)
    assert seen[0] is seen[1] and seen[0] is not here and seen[2] is True
    assert runner.run(loop_of_this_run) is here  # this thread's is untouched

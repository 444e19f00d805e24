"""connector.retry.testing(): attempts go at once, and nothing else about retries changes."""

from __future__ import annotations

import asyncio

import pytest
from tenacity import wait_exponential, wait_none

from connector import retry


def attempts(limit: int) -> tuple[int, list[float]]:
    """How many attempts a always-failing step gets, and the waits tenacity planned."""
    waits: list[float] = []
    tries = 0

    async def go() -> None:
        nonlocal tries
        policy = retry.retrying(limit, "step")
        policy.before_sleep = lambda state: waits.append(state.upcoming_sleep)
        async for attempt in policy:
            with attempt:
                tries += 1
                raise retry.Retryable("500")

    with pytest.raises(retry.Retryable):
        asyncio.run(go())
    return tries, waits


def test_testing_mode_drops_only_the_waits() -> None:
    assert isinstance(retry.retrying(3, "x").wait, wait_exponential)
    assert attempts(3) == (3, [0.25, 0.5])
    with retry.testing():
        assert isinstance(retry.retrying(3, "x").wait, wait_none)
        assert attempts(3) == (3, [0.0, 0.0])
        with retry.testing():
            pass
        assert isinstance(retry.retrying(3, "x").wait, wait_none)  # nested: still on
    assert isinstance(retry.retrying(3, "x").wait, wait_exponential)  # and off again

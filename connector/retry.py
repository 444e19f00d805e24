"""Bounded retries for timeouts and 5xx only, with one log line per attempt.

A rejected password, a drifted page or a policy refusal is never retried: only `Retryable` is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_none,
)

from connector.logs import get_logger

log = get_logger(__name__)


_WAITS = [True]  # False inside testing()


@contextmanager
def testing() -> Iterator[None]:
    """No wait between attempts (their number, limit and log lines unchanged): for tests that
    make pages fail on purpose, like stamina's testing mode."""
    _WAITS.append(False)
    try:
        yield
    finally:
        _WAITS.pop()


class Retryable(Exception):
    """A navigation timeout, an HTTP 5xx, or the page's own "try again" error."""


def _log_attempt(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "retry.attempt_failed",
        what=state.kwargs.get("what") or getattr(state.retry_object, "what", "step"),
        attempt=state.attempt_number,
        error=str(exc),
        next_wait_s=round(state.upcoming_sleep, 2),
    )


def retrying(attempts: int, what: str) -> AsyncRetrying:
    """`async for attempt in retrying(n, "load"): with attempt: ...`; raise Retryable inside."""
    policy = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.25, min=0.25, max=4) if _WAITS[-1] else wait_none(),
        retry=retry_if_exception_type(Retryable),
        before_sleep=_log_attempt,
        reraise=True,
    )
    policy.what = what  # type: ignore[attr-defined]
    return policy

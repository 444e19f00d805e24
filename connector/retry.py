"""Bounded retries for timeouts and 5xx only, with one log line per attempt.

A rejected password, a drifted page or a policy refusal is never retried: only `Retryable` is.
"""

from __future__ import annotations

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from connector.logs import get_logger

log = get_logger(__name__)


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
        wait=wait_exponential(multiplier=0.25, min=0.25, max=4),
        retry=retry_if_exception_type(Retryable),
        before_sleep=_log_attempt,
        reraise=True,
    )
    policy.what = what  # type: ignore[attr-defined]
    return policy

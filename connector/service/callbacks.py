"""Signed callbacks: POST the finished job to the caller's callback_url, retried with backoff.

The body is the job resource as GET /v1/offboardings/{id} returns it. Headers:
    X-Stitch-Timestamp: unix seconds
    X-Stitch-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))
A receiver recomputes the HMAC over the raw body and rejects old timestamps (replays).
Delivery state is in the job store, so a restart retries what was not delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from connector.logs import get_logger
from connector.service.jobs import CallbackStatus, Job, JobStore, job_body

log = get_logger(__name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class CallbackSender:
    def __init__(
        self,
        secret: SecretStr,
        runs_dir: Path,
        *,
        attempts: int = 6,
        first_wait_s: float = 1.0,
        max_wait_s: float = 60.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._secret = secret
        self._runs_dir = runs_dir
        self._attempts = attempts
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def deliver_due(self, jobs: JobStore) -> None:
        """Start delivering every finished job whose callback is pending (in the background:
        a slow receiver never holds up the queue)."""
        for job in jobs.callbacks_due():
            if job.id not in self._in_flight and job.callback_url:
                task = asyncio.create_task(self._deliver(jobs, job))
                self._in_flight[job.id] = task
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for job_id, running in list(self._in_flight.items()):
            if running is task:
                del self._in_flight[job_id]

    async def _deliver(self, jobs: JobStore, job: Job) -> None:
        assert job.callback_url is not None
        body = json.dumps(job_body(job, self._runs_dir), separators=(",", ":")).encode("utf-8")
        tries = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=self._first_wait_s, max=self._max_wait_s),
                reraise=False,
            ):
                with attempt:
                    tries += 1
                    stamp = str(int(time.time()))
                    response = await self._client.post(
                        job.callback_url,
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "X-Stitch-Timestamp": stamp,
                            "X-Stitch-Signature": signature(
                                self._secret.get_secret_value(), stamp, body
                            ),
                        },
                    )
                    log.info(
                        "callback.attempt", job=job.id, attempt=tries, status=response.status_code
                    )
                    response.raise_for_status()
        except (RetryError, httpx.HTTPError) as exc:
            log.warning("callback.gave_up", job=job.id, attempts=tries, error=str(exc))
            jobs.callback_done(job.id, CallbackStatus.GAVE_UP, tries)
            return
        jobs.callback_done(job.id, CallbackStatus.DELIVERED, tries)

    async def close(self) -> None:
        """Stop; undelivered callbacks stay pending in the store for the next start."""
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        await self._client.aclose()

"""Signed callbacks: POST the finished job to the caller's callback_url, from a durable outbox.

Where a callback may go is addresses.py's (STITCH_CALLBACK_HOSTS, the blocked ranges). At
delivery the host is resolved once per attempt and the connection goes to exactly that address
(no second lookup: DNS rebinding cannot swap it); a blocked address is never connected to, and
the callback ends `refused` (the same whatever listens there).

The body is the job resource as GET /v1/offboardings/{id} returns it. Headers:
    X-Stitch-Delivery: one id per delivery, the same on every retry (drop ones you have seen)
    X-Stitch-Timestamp: unix seconds of this attempt
    X-Stitch-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp + "." + delivery + "." + body))
A receiver recomputes the HMAC over the raw body and rejects old timestamps and seen deliveries.
Failed attempts are retried with exponential backoff and jitter (each wait at most an hour) for
a day after the job finished; the outbox is the job store, so a restart loses no retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import random
import socket
import ssl
import time
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpcore
import httpx
from pydantic import SecretStr

from connector.errors import ConfigError
from connector.logs import get_logger
from connector.offboard_queue.addresses import AllowList, IPAddress, check_callback_url
from connector.offboard_queue.jobs import JobStore
from connector.offboard_queue.models import CallbackStatus, Job
from connector.offboard_queue.public import job_body, redact_url

log = get_logger(__name__)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`: one DNS lookup. Tests replace this function."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to one address whatever the URL's name resolves to now. TLS SNI and the Host
    header still come from the URL (httpcore passes the name, not the address, to start_tls)."""

    def __init__(self, host: str, port: int, address: IPAddress) -> None:
        self._host = host.lower()
        self._port = port
        self._address = address
        self._inner = httpcore.AnyIOBackend()
        self.connects = 0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (host.strip("[]").lower(), port) != (self._host, self._port):
            raise httpcore.ConnectError("a callback connects only to its own pinned address")
        self.connects += 1
        return await self._inner.connect_tcp(
            str(self._address),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("callbacks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: _PinnedBackend, context: ssl.SSLContext) -> None:
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, max_connections=1, network_backend=backend
        )


def signature(secret: str, timestamp: str, body: bytes, delivery: str = "") -> str:
    """sha256=HEX(HMAC-SHA256(secret, timestamp + "." + delivery + "." + body))."""
    signed = timestamp.encode("ascii") + b"." + delivery.encode("ascii") + b"." + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Refused(Exception):
    """A callback never attempted: its URL or address is not allowed."""


class CallbackSender:
    def __init__(
        self,
        secret: SecretStr,
        runs_dir: Path,
        *,
        hosts: AllowList | Iterable[str] = (),
        first_wait_s: float = 1.0,
        max_wait_s: float = 3600.0,
        give_up_after_s: float = 24 * 3600.0,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        jitter: Callable[[float], float] | None = None,
        tls: ssl.SSLContext | None = None,
        prefix: str = "",
    ) -> None:
        self._secret = secret
        self._prefix = prefix  # the links' mount (serve for several accounts)
        self._runs_dir = runs_dir
        self._allow = hosts if isinstance(hosts, AllowList) else AllowList.parse(hosts)
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._give_up_after = timedelta(seconds=give_up_after_s)
        self._timeout_s = timeout_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._jitter = jitter or (lambda wait: wait * random.uniform(0.5, 1.0))  # noqa: S311
        self._tls = tls or ssl.create_default_context()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.on_retry: Callable[[], None] = lambda: None  # told when a retry is scheduled

    def deliver_due(self, jobs: JobStore) -> None:
        """Start one attempt for every pending callback that is due (in the background: a slow
        receiver never holds up the queue)."""
        for job in jobs.callbacks_due(self._clock()):
            if job.id not in self._in_flight and job.callback_url:
                task = asyncio.create_task(self._deliver(jobs, job))
                self._in_flight[job.id] = task
                task.add_done_callback(self._forget)

    async def deliver_pending(self, jobs: JobStore) -> None:
        """Attempt every due callback and wait for the attempts to end."""
        self.deliver_due(jobs)
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def seconds_until_due(self, jobs: JobStore) -> float | None:
        """How long until a pending callback not in flight is due (0: now); None: none is."""
        waiting = [
            at for job_id, at in jobs.callbacks_waiting().items() if job_id not in self._in_flight
        ]
        if not waiting:
            return None
        now = self._clock()
        return max(0.0, min((at - now).total_seconds() if at else 0.0 for at in waiting))

    def _forget(self, task: asyncio.Task[None]) -> None:
        for job_id, running in list(self._in_flight.items()):
            if running is task:
                del self._in_flight[job_id]

    def backoff(self, attempts: int) -> float:
        """The wait after the `attempts`-th failure: doubling, capped, with jitter."""
        wait = min(self._max_wait_s, self._first_wait_s * 2 ** min(max(attempts - 1, 0), 40))
        return max(0.0, self._jitter(wait))

    async def _deliver(self, jobs: JobStore, job: Job) -> None:
        assert job.callback_url is not None
        attempts = job.callback_attempts + 1
        try:
            status = await self._attempt(job)
            error = None if 200 <= status < 300 else f"the receiver answered HTTP {status}"
        except Refused as exc:
            log.warning("callback.refused", job=job.id, reason=str(exc))
            jobs.callback_done(job.id, CallbackStatus.REFUSED, job.callback_attempts, str(exc))
            return
        except (httpx.HTTPError, OSError) as exc:  # OSError: TimeoutError too
            error = f"{type(exc).__name__}: {exc}".replace(job.callback_url, "<callback_url>")
        except Exception as exc:  # a bug must not leave it pending without a next attempt
            error = f"unexpected {type(exc).__name__}"
            log.error("callback.attempt_failed", job=job.id, error=error)
        if error is None:
            log.info("callback.delivered", job=job.id, attempt=attempts)
            jobs.callback_done(job.id, CallbackStatus.DELIVERED, attempts)
            return
        now = self._clock()
        later = now + timedelta(seconds=self.backoff(attempts))
        if later > (job.finished_at or now) + self._give_up_after:
            log.warning("callback.gave_up", job=job.id, attempts=attempts, error=error)
            jobs.callback_done(job.id, CallbackStatus.GAVE_UP, attempts, error)
            return
        log.info("callback.retry", job=job.id, attempt=attempts, error=error, next=str(later))
        jobs.callback_retry(job.id, attempts, later, error)
        self.on_retry()

    async def _attempt(self, job: Job) -> int:
        """One POST of the job's body (post_signed)."""
        assert job.callback_url is not None
        shown = job_body(job, self._runs_dir, prefix=self._prefix)
        body = json.dumps(shown, separators=(",", ":")).encode("utf-8")
        status = await post_signed(
            job.callback_url,
            body,
            delivery=job.callback_delivery or job.id,
            secret=self._secret,
            allow=self._allow,
            tls=self._tls,
            timeout_s=self._timeout_s,
        )
        log.info(
            "callback.attempt",
            job=job.id,
            attempt=job.callback_attempts + 1,
            status=status,
            to=redact_url(job.callback_url),
        )
        return status

    async def close(self) -> None:
        """Stop; undelivered callbacks stay pending in the store for the next start."""
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)


async def post_signed(
    url: str,
    body: bytes,
    *,
    delivery: str,
    secret: SecretStr,
    allow: AllowList,
    tls: ssl.SSLContext,
    timeout_s: float,
) -> int:
    """One signed POST to the one address the host resolves to now; the answer's status.
    Raises Refused before any connection when the URL or the address is not allowed, and
    httpx errors (or OSError) when the attempt fails."""
    try:
        target = check_callback_url(url, allow)
    except ConfigError as exc:
        raise Refused(str(exc).removeprefix("callback_url: ")) from None
    if target.address is not None:
        addresses = [target.address]
    else:
        try:
            addresses = await resolve(target.host, target.port)
        except OSError as exc:
            raise httpx.ConnectError(f"{target.host} does not resolve: {exc}") from None
        if not addresses:
            raise httpx.ConnectError(f"{target.host} does not resolve")
    for address in addresses:
        if why := allow.refusal(address, target.port):
            raise Refused(f"{target.host} resolves to {why}")
        if target.scheme != "https" and not address.is_loopback:
            raise Refused(f"plain http to {address}, which is not this machine")
    backend = _PinnedBackend(target.host, target.port, addresses[0])
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Stitch-Delivery": delivery,
        "X-Stitch-Timestamp": stamp,
        "X-Stitch-Signature": signature(secret.get_secret_value(), stamp, body, delivery),
    }
    async with (
        asyncio.timeout(timeout_s * 3),  # a receiver that answers drop by drop
        httpx.AsyncClient(
            transport=_PinnedTransport(backend, tls),
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,  # no HTTP(S)_PROXY: the connection goes to the checked address
        ) as client,
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        return response.status_code  # the answer's body is never read

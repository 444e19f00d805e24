"""Signed callbacks: POST the finished job to the caller's callback_url, from a durable outbox.

Callbacks are off unless STITCH_CALLBACK_HOSTS is set: an allow-list of host names, addresses
and CIDRs, each optionally with a port (`hooks.example.com`, `hooks.example.com:8443`,
`10.1.2.0/24`, `127.0.0.1:8080`, `[::1]:8080`). A callback_url must name a listed host (a name
by a name entry, a literal address by an address or CIDR entry); it may not carry userinfo.

At delivery the host is resolved once per attempt and the connection goes to exactly that address
(no second lookup: DNS rebinding cannot swap it). Addresses in the blocked ranges (loopback,
private, link-local, unique-local, CGNAT, multicast, unspecified, cloud metadata, and other
special-purpose ranges, in every spelling: IPv4-mapped and embedded IPv4 included) are refused
unless an address or CIDR entry of the allow-list that lies inside that range contains them:
`127.0.0.1` allows loopback callbacks, `0.0.0.0/0` allows nothing blocked. A refused callback is
never attempted and ends `refused` (the same whatever listens there).

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import SecretStr

from connector.errors import ConfigError
from connector.logs import get_logger
from connector.offboard.jobs import CallbackStatus, Job, JobStore, job_body, redact_url

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_net = ipaddress.ip_network

# Where a callback never goes unless the allow-list names the address (or a CIDR inside the range).
BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.169.254/32"), "the cloud metadata address"),
    (_net("fd00:ec2::254/128"), "the cloud metadata address"),
    (_net("0.0.0.0/8"), "unspecified"),
    (_net("127.0.0.0/8"), "loopback"),
    (_net("10.0.0.0/8"), "private (RFC 1918)"),
    (_net("172.16.0.0/12"), "private (RFC 1918)"),
    (_net("192.168.0.0/16"), "private (RFC 1918)"),
    (_net("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_net("169.254.0.0/16"), "link-local"),
    (_net("192.0.0.0/24"), "special-purpose (IETF)"),
    (_net("192.0.2.0/24"), "documentation"),
    (_net("198.18.0.0/15"), "benchmarking"),
    (_net("198.51.100.0/24"), "documentation"),
    (_net("203.0.113.0/24"), "documentation"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("240.0.0.0/4"), "reserved (and broadcast)"),
    (_net("::/128"), "unspecified"),
    (_net("::1/128"), "loopback"),
    (_net("::/96"), "IPv4-compatible (deprecated)"),
    (_net("100::/64"), "discard-only"),
    (_net("2001:db8::/32"), "documentation"),
    (_net("fe80::/10"), "link-local"),
    (_net("fc00::/7"), "unique-local"),
    (_net("ff00::/8"), "multicast"),
)
_NAT64 = _net("64:ff9b::/96")


def parse_address(host: str) -> IPAddress | None:
    """The address a URL host spells, in any spelling (`127.0.0.1`, `2130706433`, `0x7f000001`,
    `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`), IPv4-mapped IPv6 as IPv4; None for a name."""
    text = host.strip().strip("[]")
    if not text:
        return None
    try:
        found: IPAddress = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        if not all(c.isalnum() or c in ".xX" for c in text) or not text[0].isdigit():
            return None
        try:  # the classic inet_aton forms: decimal, hex, octal and short dotted
            found = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (NAT64, 6to4, Teredo)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.append(address.teredo[1])
    return found


def blocked_ranges(address: IPAddress) -> list[tuple[IPNetwork, str]]:
    """The blocked ranges this address (or an address inside it) falls in; [] for public ones."""
    found: list[tuple[IPNetwork, str]] = []
    for each in _embedded(address):
        found.extend((net, why) for net, why in BLOCKED if each in net)
        if not found and not each.is_global:  # a special range the list above does not name
            found.append((ipaddress.ip_network(each), "not a public address"))
    return found


@dataclass(frozen=True)
class _Entry:
    name: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def takes(self, port: int) -> bool:
        return self.port is None or self.port == port


def _name(host: str) -> str:
    text = host.strip().lower().rstrip(".")
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"STITCH_CALLBACK_HOSTS entry {entry!r}: {text!r} is not a port")
    return int(text)


@dataclass(frozen=True)
class AllowList:
    """STITCH_CALLBACK_HOSTS, parsed. Empty: callbacks are off."""

    entries: tuple[_Entry, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str]) -> AllowList:
        """Raises ValueError naming a malformed entry."""
        entries: list[_Entry] = []
        for raw in items:
            entry = raw.strip()
            if not entry:
                continue
            host, port = entry, None
            if entry.startswith("["):
                host, sep, rest = entry[1:].partition("]")
                if not sep or (rest and not rest.startswith(":")):
                    raise ValueError(f"STITCH_CALLBACK_HOSTS entry {entry!r} is malformed")
                port = _port(rest[1:], entry) if rest else None
            elif entry.count(":") == 1:
                host, _, text = entry.partition(":")
                port = _port(text, entry)
            if "/" in host:
                try:
                    network = ipaddress.ip_network(host, strict=False)
                except ValueError:
                    raise ValueError(
                        f"STITCH_CALLBACK_HOSTS entry {entry!r} is not a CIDR such as 10.1.2.0/24"
                    ) from None
                entries.append(_Entry(network=network, port=port))
                continue
            address = parse_address(host)
            if address is not None:
                entries.append(_Entry(network=ipaddress.ip_network(address), port=port))
                continue
            name = _name(host)
            if not name or any(c in name for c in "/@?#* "):
                raise ValueError(f"STITCH_CALLBACK_HOSTS entry {entry!r} is not a host name")
            entries.append(_Entry(name=name, port=port))
        return cls(tuple(entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def names(self, host: str, port: int) -> bool:
        """Whether the URL host (a name or an address) is on the list, at this port."""
        address = parse_address(host)
        if address is None:
            name = _name(host)
            return any(e.name == name and e.takes(port) for e in self.entries)
        return any(
            e.network is not None and address in e.network and e.takes(port) for e in self.entries
        )

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why a connection to this address is refused, or None. A blocked address passes only
        when an address or CIDR entry inside its blocked range contains it."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        ranges = blocked_ranges(address)
        if not ranges:
            return None
        for entry in self.entries:
            net = entry.network
            if net is None or not entry.takes(port):
                continue
            if all(
                any(
                    each in net and each.version == r.version and net.subnet_of(r)  # type: ignore[arg-type]
                    for each in _embedded(address)
                )
                for r, _ in ranges
            ):
                return None
        return f"{address} is {ranges[0][1]} and not on STITCH_CALLBACK_HOSTS"


_OFF_HINT = (
    "Leave out callback_url and poll the job, or ask the service's operator to list the "
    "receiver's host in STITCH_CALLBACK_HOSTS (README, 'Callbacks')."
)


def _refused(message: str) -> ConfigError:
    return ConfigError(f"callback_url: {message}", hint=_OFF_HINT)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as the URL spells it, without brackets
    port: int
    address: IPAddress | None  # a literal address in the URL


def check_callback_url(url: str, allow: AllowList) -> Target:
    """The submit-time check (no DNS): callbacks on, http(s), no userinfo, a listed host, https
    unless the host is a loopback address, no blocked literal address. Raises ConfigError."""
    if not allow:
        raise ConfigError(
            "callback_url: callbacks are off: set STITCH_CALLBACK_HOSTS", hint=_OFF_HINT
        )
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refused("not a URL with a valid host and port") from None
    if parts.scheme not in ("http", "https"):
        raise _refused("must be an https URL")
    if "@" in parts.netloc:
        raise _refused("must not carry a user name or password (put a token in the query)")
    host = (parts.hostname or "").strip("[]")
    if not host:
        raise _refused("has no host")
    address = parse_address(host)
    shown = str(address) if address is not None else _name(host)
    if not allow.names(host, port):
        raise _refused(f"{shown}:{port} is not on STITCH_CALLBACK_HOSTS")
    if address is not None and (why := allow.refusal(address, port)):
        raise _refused(why)
    if parts.scheme != "https" and not (
        (address is not None and address.is_loopback) or _name(host) == "localhost"
    ):
        raise _refused("must be https (plain http only to this machine)")
    return Target(parts.scheme, host, port, address)


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


class _Refused(Exception):
    pass


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
    ) -> None:
        self._secret = secret
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
        except _Refused as exc:
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

    async def _attempt(self, job: Job) -> int:
        """One POST to the one address the host resolves to now. Raises _Refused before any
        connection when the URL or the address is not allowed."""
        assert job.callback_url is not None
        try:
            target = check_callback_url(job.callback_url, self._allow)
        except ConfigError as exc:
            raise _Refused(str(exc).removeprefix("callback_url: ")) from None
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
            if why := self._allow.refusal(address, target.port):
                raise _Refused(f"{target.host} resolves to {why}")
            if target.scheme != "https" and not address.is_loopback:
                raise _Refused(f"plain http to {address}, which is not this machine")
        backend = _PinnedBackend(target.host, target.port, addresses[0])
        body = json.dumps(job_body(job, self._runs_dir), separators=(",", ":")).encode("utf-8")
        delivery = job.callback_delivery or job.id
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Stitch-Delivery": delivery,
            "X-Stitch-Timestamp": stamp,
            "X-Stitch-Signature": signature(self._secret.get_secret_value(), stamp, body, delivery),
        }
        async with (
            asyncio.timeout(self._timeout_s * 3),  # a receiver that answers drop by drop
            httpx.AsyncClient(
                transport=_PinnedTransport(backend, self._tls),
                timeout=self._timeout_s,
                follow_redirects=False,
                trust_env=False,  # no HTTP(S)_PROXY: the connection goes to the checked address
            ) as client,
            client.stream("POST", job.callback_url, content=body, headers=headers) as response,
        ):
            status = response.status_code  # the answer's body is never read
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

"""Where a callback may go: STITCH_CALLBACK_HOSTS, parsed, and the checks on a URL and on the
address it resolves to (no SSRF).

Callbacks are off unless STITCH_CALLBACK_HOSTS is set: an allow-list of host names, addresses
and CIDRs, each optionally with a port (`hooks.example.com`, `hooks.example.com:8443`,
`10.1.2.0/24`, `127.0.0.1:8080`, `[::1]:8080`). A callback_url must name a listed host (a name
by a name entry, a literal address by an address or CIDR entry); it may not carry userinfo.

Addresses in the blocked ranges (loopback, private, link-local, unique-local, CGNAT, multicast,
unspecified, cloud metadata, and other special-purpose ranges, in every spelling: IPv4-mapped and
embedded IPv4 included) are refused unless an address or CIDR entry of the allow-list that lies
inside that range contains them: `127.0.0.1` allows loopback callbacks, `0.0.0.0/0` allows
nothing blocked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.errors import ConfigError

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

"""Listening sockets bound up front, so a server's URL (port 0: a free port) is known before
the server starts. The sandbox and the service both listen through here."""

from __future__ import annotations

import socket

from connector.errors import ConfigError


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket for `what` ("the service", "sandbox app origin") on host:port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"{what}: host {host!r} does not resolve: {exc}") from exc
    # Prefer IPv4: "localhost" must answer on 127.0.0.1, where browsers and httpx try first.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    # proto must be IPPROTO_TCP (not 0): asyncio only sets TCP_NODELAY on such sockets, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return all(a.startswith("127.") or a == "::1" for a in addresses)

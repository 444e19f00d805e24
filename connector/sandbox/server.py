"""Running the sandbox: both origins in one background thread, on sockets bound up front.

Binding the sockets ourselves (instead of letting uvicorn do it) means the ports are known before
the apps are built, so each origin can link to the other, and port 0 still picks a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette

from connector.listen import bind, url
from connector.sandbox.app_origin import create_app_origin
from connector.sandbox.login_origin import create_login_origin
from connector.sandbox.options import SandboxOptions
from connector.sandbox.roster import GENERAL_USER, Role, Status, login_member
from connector.sandbox.state import SandboxState
from connector.sandbox.web import SESSION_COOKIE, AppPaths, Origins

LOGIN_HOST = "localhost"  # a different host from the app origin, so the browser sees two origins
_STARTUP_TIMEOUT = 15.0
_SHUTDOWN_TIMEOUT = 10.0


class RunningSandbox:
    """A started sandbox: its two URLs, and direct control of its state (same as /__sandbox__/)."""

    def __init__(
        self,
        app_url: str,
        login_url: str,
        options: SandboxOptions,
        state: SandboxState,
        stop: Callable[[], None],
    ) -> None:
        self.app_url = app_url
        self.login_url = login_url
        self.options = options
        # The email that can sign in: admin_email, or the roster file's is_login_user entry.
        self.login_email = login_member(state.members()).email
        self.members_url = app_url + AppPaths(options).members
        self._state = state
        self._stop = stop

    def state(self) -> dict[str, object]:
        """Exactly what GET /__sandbox__/state returns."""
        return self._state.snapshot()

    def reset(self) -> None:
        self._state.reset()

    def issue_session(self) -> str:
        """A live session token for the login user, as signing in would set in its cookie."""
        return self._state.tickets.create_session(self.login_email)

    def signed_in_state(self) -> dict[str, object]:
        """A browser storage state (Playwright's format) holding a live session cookie for the
        login user: what a browser keeps after signing in. Tests and the fixture recorder start
        from it when signing in is not what they are about."""
        cookie = {
            "name": SESSION_COOKIE,
            "value": self.issue_session(),
            "domain": urlsplit(self.app_url).hostname,
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": False,
            "sameSite": "Lax",
        }
        return {"cookies": [cookie], "origins": []}

    def expire_sessions(self) -> None:
        self._state.expire_sessions()

    def set_mutations(self, names: Iterable[str]) -> tuple[str, ...]:
        """Replace the active drift-corpus mutations (same as POST /__sandbox__/mutations).
        Pages loaded from now on show them; ConfigError on an unknown name."""
        return self._state.set_mutations(names)

    def mutations(self) -> tuple[str, ...]:
        return self._state.mutations()

    # Roster changes made "in Stitch", behind the connector's back (same as POST /__sandbox__/...).
    def add_member(
        self,
        email: str,
        name: str | None,
        role: Role = GENERAL_USER,
        status: Status = "active",
    ) -> None:
        self._state.add_member(email, name, role, status)

    def remove_member(self, email: str) -> None:
        self._state.remove_member(email)

    def accept_invite(self, email: str, name: str | None = None) -> None:
        self._state.accept_invite(email, name)

    def set_role(self, email: str, role: Role) -> None:
        self._state.set_role(email, role)

    def stop(self) -> None:
        self._stop()

    def __repr__(self) -> str:
        return f"RunningSandbox(app_url={self.app_url!r}, login_url={self.login_url!r})"


_THREAD = "stitch-sandbox"  # the name of the thread a sandbox serves on


class _NotTheCancelledRequests(logging.Filter):
    """A stopped sandbox cancels the requests still in flight (running_sandbox's stop): that is
    not an error of the app, and uvicorn would print each one's traceback. Only the sandbox's
    own thread: a service served in the same process keeps its log as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        raised = record.exc_info[0] if record.exc_info else None
        return not (raised is asyncio.CancelledError and record.threadName == _THREAD)


logging.getLogger("uvicorn.error").addFilter(_NotTheCancelledRequests())


def _config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
    )


class _ServingThread:
    """uvicorn servers, each on its socket, on one thread with its own event loop."""

    def __init__(self, pairs: list[tuple[uvicorn.Server, socket.socket]]) -> None:
        self._pairs = pairs
        self._failure: list[BaseException] = []
        self._serving: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
        self._thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)
        self._stopped = threading.Event()

    async def _serve_all(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.append((asyncio.get_running_loop(), task))
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in self._pairs))

    def _run(self) -> None:
        try:
            asyncio.run(self._serve_all())
        except BaseException as exc:  # reported to the starting thread
            self._failure.append(exc)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not all(server.started for server, _ in self._pairs):
            if self._failure or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox servers did not start: {self._failure[:1]!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox servers did not start within 15 s")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        # Cancelled, not shut down gracefully: a look-alike owes its clients no goodbye, and
        # uvicorn's graceful exit waits out its 0.1 s ticks (~160 ms a sandbox, on every test).
        for loop, task in self._serving:
            with contextlib.suppress(RuntimeError):  # the servers ended on their own: loop closed
                loop.call_soon_threadsafe(task.cancel)
        for server, _ in self._pairs:
            server.should_exit = True
        self._thread.join(_SHUTDOWN_TIMEOUT)
        if self._thread.is_alive():  # a client kept a connection busy: stop waiting for it
            for server, _ in self._pairs:
                server.force_exit = True
            self._thread.join(_SHUTDOWN_TIMEOUT)
        for _, sock in self._pairs:
            sock.close()


@contextlib.contextmanager
def running_sandbox(
    options: SandboxOptions, wall_clock: Callable[[], float] = time.time
) -> Iterator[RunningSandbox]:
    """Start both origins on their ports (free ones for port 0) and stop them on exit.
    `wall_clock`: the time TOTP codes are checked against (a test's connector.clock.TestClock)."""
    # Loads the roster first: a bad file fails before any socket.
    state = SandboxState(options, wall_clock=wall_clock)
    app_sock = bind(options.host, options.app_port, "sandbox app origin")
    try:
        login_sock = bind(LOGIN_HOST, options.login_port, "sandbox login origin")
    except BaseException:
        app_sock.close()
        raise
    origins = Origins(app_url=url(options.host, app_sock), login_url=url(LOGIN_HOST, login_sock))
    serving = _ServingThread(
        [
            (uvicorn.Server(_config(create_app_origin(state, origins))), app_sock),
            (uvicorn.Server(_config(create_login_origin(state, origins))), login_sock),
        ]
    )
    try:
        serving.start()
        yield RunningSandbox(origins.app_url, origins.login_url, options, state, serving.stop)
    finally:
        serving.stop()


def serve_forever(options: SandboxOptions, on_ready: Callable[[RunningSandbox], None]) -> None:
    """Run in the foreground until Ctrl-C (KeyboardInterrupt), then stop cleanly."""
    with running_sandbox(options) as sandbox:
        on_ready(sandbox)
        forever = threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            while not forever.wait(3600):
                pass

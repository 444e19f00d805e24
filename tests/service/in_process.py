"""The service served from the test's own process: the real app on a real uvicorn and socket,
built from the same STITCH_* environment `serve` reads, without a child process's 1.5 s of
imports and its own Chromium.

Every in-process service of a test worker runs on one thread whose event loop is a
`runner.reusing()` loop, so their queues borrow that loop's one Chromium (each run still opens
its own context). Tests about the process itself (signals, its log, a restart, kill -9) start
the real `serve` instead: `start_service(..., own_process=True)`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from connector import runner
from connector.cli import common
from connector.listen import bind, url
from connector.service.api import create_app
from connector.settings import load_settings


class ServiceLoop:
    """One thread, one event loop (a runner.reusing() one) for every in-process service."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.reuse: runner.Reuse | None = None  # what the loop keeps: its one Chromium
        self._thread = threading.Thread(target=self._main, name="services", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the services' event loop did not start")

    def _main(self) -> None:
        with runner.reusing() as reuse:
            self.reuse = reuse
            reuse.run(self._until_closed)

    async def _until_closed(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


class InProcessService:
    """One `serve`, on the ServiceLoop: started by `start`, stopped as SIGTERM would."""

    def __init__(self, loop: ServiceLoop, env: dict[str, str]) -> None:
        with _stitch_environment(env):  # read exactly as `serve` reads it
            settings = load_settings()
        common.require_credentials_unless_saved(settings)
        app = create_app(settings)
        self._sock = bind("127.0.0.1", 0, "the service")
        self.url = url("127.0.0.1", self._sock)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", ws="none"
        )
        self._server = _Server(config)
        self._queue = app.state.service.queue
        self._served = loop.submit(self._server.serve(sockets=[self._sock]))
        self._served.add_done_callback(lambda _: self._server.up.set())
        if not self._server.up.wait(60):
            raise RuntimeError("the in-process service did not start in 60 s")
        if not self._server.started:
            self.stop()  # raises what stopped it, if anything did
            raise RuntimeError("the in-process service stopped as it started")

    def stop(self, timeout: float = 90) -> None:
        if not self._served.done():
            self._queue.begin_stop()
            self._server.should_exit = True
        try:
            self._served.result(timeout)
        finally:
            self._sock.close()


class _Server(uvicorn.Server):
    """uvicorn's server, saying (to another thread) when its startup is over."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.up.set()


@contextmanager
def _stitch_environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ's STITCH_* replaced by `env`'s for the block (only while settings load)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("STITCH_")}
    try:
        for key in saved:
            del os.environ[key]
        os.environ.update({k: v for k, v in env.items() if k.startswith("STITCH_")})
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("STITCH_")]:
            del os.environ[key]
        os.environ.update(saved)

"""The queue's runs against Stitch, one at a time: one Chromium kept up between runs (each run
gets a new context with the saved session, so nobody signs in again while it lasts), the run's
id on every log line, and a latch: a rejected sign-in (or one that needs a person) stops all
sign-ins until the service restarts, since retrying it could lock the account out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog

from connector.app import RunOptions
from connector.browser import SharedBrowser, borrowed
from connector.errors import AuthFailed, ConnectorError, HumanNeeded, TransientFailure
from connector.logs import first_line, new_run_id
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.tracing import TraceMode


class StitchRuns:
    def __init__(self, settings: Settings, *, shared_browser: bool) -> None:
        self.settings = settings
        self._shared = shared_browser
        self._browser: SharedBrowser | None = None
        self._lent = False  # the browser is runner.reusing()'s: left running on close
        self._lock = asyncio.Lock()  # one run at a time drives the browser
        self.latched: ConnectorError | None = None  # a sign-in that must not be tried again

    @asynccontextmanager
    async def run(
        self, command: str, run_id: str | None = None, *, trace: TraceMode = "retain-on-failure"
    ) -> AsyncIterator[RunOptions]:
        """One run: the browser to itself, its own run id on every log line. A browser that
        crashed is launched anew next time, its failure a TransientFailure. `trace`: "writes"
        for removals (tracing.TraceMode)."""
        if self.latched is not None:
            raise self.latched  # never sign in again with credentials Stitch rejected
        run_id = run_id or new_run_id()
        async with self._lock:
            browser = await self._open() if self._shared else None
            with structlog.contextvars.bound_contextvars(run_id=run_id):
                try:
                    yield RunOptions(
                        run_id=run_id,
                        command=command,
                        trace=trace,
                        browser=browser,
                    )
                except (AuthFailed, HumanNeeded) as exc:
                    self.latched = exc
                    raise
                except ConnectorError:
                    raise
                except Exception as exc:
                    await self.close()
                    raise TransientFailure(
                        f"the browser failed: {type(exc).__name__}: {first_line(str(exc))}"
                    ) from exc

    async def _open(self) -> SharedBrowser:
        if self._browser is not None and not self._browser.connected:
            await self.close()  # it died between runs
        if self._browser is None:
            self._browser = await self._launch()
        return self._browser

    async def _launch(self) -> SharedBrowser:
        """Our own Chromium; or, on a `runner.reusing()` loop (a service served in the test
        suite), the one that loop keeps, which is not ours to close."""
        try:
            lent = await borrowed(self.settings)
            self._lent = lent is not None
            if lent is not None:
                return lent
            browser = SharedBrowser(self.settings)
            await browser.__aenter__()
            return browser
        except ConnectorError:
            raise
        except Exception as exc:
            raise TransientFailure(
                f"the browser could not start: {type(exc).__name__}: {first_line(str(exc))}"
            ) from exc

    async def close(self) -> None:
        if self._browser is not None:
            browser, self._browser = self._browser, None
            if not self._lent:
                with contextlib.suppress(Exception):
                    await browser.__aexit__()

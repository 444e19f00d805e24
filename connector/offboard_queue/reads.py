"""The roster the service serves (SCIM reads, GET /v1/members): read at start when none is
stored, on POST /v1/sync, and every `sync_every_s` if asked; each read stored through the
confidence gate."""

from __future__ import annotations

import asyncio
import time

from connector.app import App, SyncOptions
from connector.logs import first_line, get_logger, redact_text
from connector.models import MemberList
from connector.offboard_queue.session import StitchRuns
from connector.snapshot_gate import SyncReport

log = get_logger(__name__)


class RosterReads:
    def __init__(self, app: App, runs: StitchRuns, *, sync_every_s: float | None) -> None:
        self.app = app
        self.runs = runs
        self._first_read = asyncio.Lock()
        self._sync_every_s = sync_every_s
        self._wanted = app.stored_roster() is None
        self._last = time.monotonic()

    async def sync(self) -> SyncReport:
        """Read the roster now and store it (with the confidence gate)."""
        async with self.runs.run("serve: sync") as run:
            options = SyncOptions(max_drop=self.app.settings.max_drop)
            report, _ = await self.app.sync(options, run)
        return report

    async def roster(self) -> MemberList:
        """The latest stored roster; when none is stored yet, read it now (once, however many
        callers ask at the same time)."""
        stored = self.app.stored_roster()
        if stored is not None:
            return stored
        async with self._first_read:
            stored = self.app.stored_roster()
            if stored is None:
                await self.sync()
                stored = self.app.stored_roster()
        assert stored is not None
        return stored

    def due(self) -> bool:
        if self.runs.latched is not None:
            return False
        if self._wanted:
            return True
        every = self._sync_every_s
        return every is not None and time.monotonic() - self._last >= every

    async def in_background(self) -> str | None:
        """A scheduled read; returns why it failed (tried again at the next interval)."""
        self._wanted = False
        self._last = time.monotonic()
        try:
            if self.app.stored_roster() is None:
                await self.roster()  # the first read, shared with SCIM callers waiting for it
            else:
                await self.sync()
        except Exception as exc:
            error = redact_text(f"sync: {first_line(str(exc))}")
            log.warning("worker.sync_failed", error=error)
            return error
        return None

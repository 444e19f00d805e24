"""The service's one writer for its Stitch account: it turns queued jobs into guarded runs.

Each run is `StitchConnector.deactivate` on a batch of queued jobs (at most the per-run budget),
so every write goes through the same path as the CLI: policy on a fresh roster, the write lock,
proven removals, the audit trail. One Chromium stays up between runs; each run gets a new
context with the saved session, so nobody signs in again while the session lasts.

A job's failure never blocks the queue: errors before any decision put the batch back with a
bounded number of attempts, and every other job moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog

from connector.browser import SharedBrowser
from connector.client import StitchConnector
from connector.errors import (
    ConfidenceGate,
    ConnectorError,
    LockHeld,
    PolicyRefused,
)
from connector.logs import get_logger, new_run_id
from connector.models import Account, MemberList, Outcome, OutcomeStatus
from connector.service.callbacks import CallbackSender
from connector.service.jobs import Job, JobStore
from connector.settings import Settings
from connector.store import SnapshotStore
from connector.sync import SyncReport, store_roster

log = get_logger(__name__)

MAX_ATTEMPTS = 3  # a batch that failed before deciding its jobs is tried this often
_IDLE_POLL_S = 5.0  # also picks up jobs another process (the Python API) queued
_BUDGET_RULES = ("budget_max_removals", "budget_max_fraction")


class Worker:
    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        snapshots: SnapshotStore,
        *,
        callbacks: CallbackSender | None = None,
        shared_browser: bool = True,
        sync_every_s: float | None = None,
    ) -> None:
        """`sync_every_s`: also read and store the roster that often (SCIM reads serve it);
        a roster is read at start when none is stored, whatever this says."""
        self.settings = settings
        self.jobs = jobs
        self.snapshots = snapshots
        self.callbacks = callbacks
        self._shared_browser = shared_browser
        self._browser: SharedBrowser | None = None
        self._browser_lock = asyncio.Lock()  # one run at a time drives the browser
        self._wake = asyncio.Event()
        self._finished = asyncio.Condition()  # notified after every batch
        self._first_read = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sync_every_s = sync_every_s
        self._sync_wanted = snapshots.latest_roster() is None
        self._last_sync = time.monotonic()
        self.account: Account | None = None
        self.batches = 0
        self.last_batch_at: datetime | None = None
        self.last_error: str | None = None

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        recovered = self.jobs.recover_interrupted()
        if recovered:
            log.warning("worker.recovered_interrupted_jobs", count=recovered)
        self._task = asyncio.create_task(self._loop(), name="stitch-worker")

    async def stop(self, grace_s: float) -> None:
        """Finish the run in progress within `grace_s`, else abandon it: its jobs stay
        `running` and the next start verifies them before anything is clicked again."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                log.warning("worker.abandoned_run", grace_s=grace_s)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self.callbacks is not None:
            await self.callbacks.close()
        await self._close_browser()

    def wake(self) -> None:
        self._wake.set()

    async def roster(self) -> MemberList:
        """The latest stored roster; when none is stored yet, read it now (once, however many
        callers ask at the same time)."""
        stored = self.snapshots.latest_roster()
        if stored is not None:
            return stored
        async with self._first_read:
            stored = self.snapshots.latest_roster()
            if stored is None:
                await self.sync()
                stored = self.snapshots.latest_roster()
        assert stored is not None
        return stored

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self.run_once():
                    pass
            except Exception as exc:  # the loop must outlive any one failure
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("worker.loop_failed", error=self.last_error)
            if self.callbacks is not None:
                self.callbacks.deliver_due(self.jobs)
            if not self._stopping and self._sync_due():
                await self._background_sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _IDLE_POLL_S)
            self._wake.clear()

    # ------------------------------------------------------------------ jobs

    async def run_once(self, *, only: str | None = None) -> int:
        """Claim and carry out one batch; returns how many jobs it took (0: queue empty)."""
        limit = max(1, self.settings.max_removals)
        run_id = new_run_id()
        batch = self.jobs.claim(limit, run_id, only=only)
        if not batch:
            return 0
        try:
            await self._run_batch(batch, run_id)
        finally:
            async with self._finished:
                self._finished.notify_all()
        return len(batch)

    async def wait_for(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it has finished, or as it stands when `timeout_s` runs out."""

        def done() -> bool:
            job = self.jobs.get(job_id)
            return job is None or job.status.finished

        async with self._finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait_for(done), timeout_s)
        return self.jobs.get(job_id)

    async def _run_batch(self, batch: list[Job], run_id: str) -> None:
        emails = list(dict.fromkeys(j.email for j in batch))
        first: dict[str, Job] = {}
        for job in batch:
            first.setdefault(job.email, job)
        log.info("worker.batch", run_id=run_id, jobs=len(batch), emails=len(emails))
        try:
            async with self._connector(run_id, "serve: offboarding") as stitch:
                outcomes = await stitch.deactivate(
                    emails,
                    actor="orchestrator",
                    request_id=f"service-run:{run_id}",
                    request_ids={e: j.request_id for e, j in first.items()},
                    reason="; ".join(dict.fromkeys(j.reason for j in batch if j.reason)) or None,
                )
                roster = stitch.last_roster
        except PolicyRefused as exc:
            if exc.rule in _BUDGET_RULES and len(batch) > 1:
                # Over the fraction for this roster: run the jobs one by one instead (a single
                # removal is never over the fraction; each run still checks it).
                self.jobs.requeue([j.id for j in batch], f"split from run {run_id}: {exc}")
                for job in batch:
                    await self.run_once(only=job.id)
                return
            for job in batch:
                self.jobs.finish(
                    job.id,
                    Outcome(
                        email=job.email,
                        status=OutcomeStatus.REFUSED,
                        rule=exc.rule,
                        reason=str(exc),
                    ),
                )
            return
        except Exception as exc:
            self._retry_later(batch, exc)
            return
        finally:
            self.batches += 1
            self.last_batch_at = datetime.now(UTC)
        by_email = {o.email: o for o in outcomes}
        for job in batch:
            outcome = by_email[job.email]
            note = _resumed_note(job, outcome)
            self.jobs.finish(job.id, outcome, note=note)
            log.info("worker.job_finished", job=job.id, status=outcome.status.value)
        self.last_error = None
        if roster is not None:
            self._after_writes(roster, outcomes)

    def _retry_later(self, batch: list[Job], exc: BaseException) -> None:
        """Nothing decided these jobs: queue them again, or give up after MAX_ATTEMPTS."""
        message = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
        self.last_error = message
        log.warning("worker.batch_failed", error=message, jobs=len(batch))
        again = [j for j in batch if j.attempts < MAX_ATTEMPTS or isinstance(exc, LockHeld)]
        self.jobs.requeue([j.id for j in again], f"attempt {batch[0].attempts} failed: {message}")
        for job in batch:
            if job not in again:
                self.jobs.finish(
                    job.id,
                    Outcome(
                        email=job.email,
                        status=OutcomeStatus.FAILED,
                        reason=f"gave up after {job.attempts} attempts: {message}",
                    ),
                )

    def _after_writes(self, roster: MemberList, outcomes: list[Outcome]) -> None:
        """Keep the service's view current: the verification read becomes the newest
        snapshot, and removed members stay findable (SCIM GET answers active false)."""
        self.account = roster.account
        removed = [o for o in outcomes if o.status.ok and o.member_before is not None]
        for o in removed:
            assert o.member_before is not None
            self.jobs.remember_removed(o.member_before, roster.account.client_id, deleted=False)
        try:
            store_roster(
                self.snapshots,
                roster,
                evidence_dir=self.settings.runs_dir / "service-snapshots",
                max_drop=self.settings.max_drop,
                removed_by_us=[o.email for o in removed],
            )
        except ConfidenceGate as exc:
            log.warning("worker.snapshot_not_stored", reason=str(exc))

    # ------------------------------------------------------------------ reads

    async def sync(self) -> SyncReport:
        """POST /v1/sync: read the roster now and store it (with the confidence gate)."""
        run_id = new_run_id()
        async with self._connector(run_id, "serve: sync") as stitch:
            roster = await stitch.list_members()
        self.account = roster.account
        return store_roster(
            self.snapshots,
            roster,
            evidence_dir=self.settings.runs_dir / run_id,
            max_drop=self.settings.max_drop,
        )

    def _sync_due(self) -> bool:
        if self._sync_wanted:
            return True
        every = self._sync_every_s
        return every is not None and time.monotonic() - self._last_sync >= every

    async def _background_sync(self) -> None:
        self._sync_wanted = False
        self._last_sync = time.monotonic()
        try:
            if self.snapshots.latest_roster() is None:
                await self.roster()  # the first read, shared with SCIM callers waiting for it
            else:
                await self.sync()
        except Exception as exc:  # reported, and tried again at the next interval
            self.last_error = f"sync: {exc}"
            log.warning("worker.sync_failed", error=str(exc))

    async def check_ready(self) -> Account:
        """/readyz: the browser starts and the session is valid (signing in if it must)."""
        async with self._connector(new_run_id(), "serve: readyz") as stitch:
            account = await stitch.check_session()
        self.account = account
        return account

    # ------------------------------------------------------------------ the browser

    @asynccontextmanager
    async def _connector(self, run_id: str, command: str) -> AsyncIterator[StitchConnector]:
        """One run: the browser to itself, its own run id on every log line."""
        async with self._browser_lock:
            browser = await self._open_browser() if self._shared_browser else None
            with structlog.contextvars.bound_contextvars(run_id=run_id):
                try:
                    async with StitchConnector(
                        self.settings,
                        run_id=run_id,
                        command=command,
                        trace="retain-on-failure",
                        browser=browser,
                    ) as stitch:
                        yield stitch
                except ConnectorError:
                    raise
                except Exception:
                    await self._close_browser()  # a crashed browser: launch anew next time
                    raise

    async def _open_browser(self) -> SharedBrowser:
        if self._browser is None:
            browser = SharedBrowser(self.settings)
            await browser.__aenter__()
            self._browser = browser
        return self._browser

    async def _close_browser(self) -> None:
        if self._browser is not None:
            browser, self._browser = self._browser, None
            with contextlib.suppress(Exception):
                await browser.__aexit__()


def _resumed_note(job: Job, outcome: Outcome) -> str | None:
    if job.attempts > 1 and outcome.status is OutcomeStatus.ALREADY_ABSENT:
        return (
            "verified on a fresh read after an interrupted attempt: the member is no longer "
            "active (most likely the earlier attempt removed them; see the audit trail)"
        )
    return None

"""The service's one writer for its Stitch account: it turns queued jobs into guarded runs.

Each run is the account App's `remove` on a batch of queued jobs, so every write goes through the
same path as the CLI: policy on a fresh roster (including the per-run and per-day budgets and
members whose last click was never proven), the write lock, proven removals, the audit trail. The
runs themselves, one at a time on a shared browser, are session.py's; the roster reads, reads.py's.

A job's failure never blocks the queue: a run that fails before deciding its jobs puts them back
with a growing delay and a bounded number of attempts, and every other job moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from connector import policy
from connector.app import App, SyncOptions
from connector.errors import (
    AuditBroken,
    AuthFailed,
    ConnectorError,
    HumanNeeded,
    LockHeld,
    PolicyRefused,
    UsageProblem,
)
from connector.logs import first_line, get_logger, new_run_id, redact_text
from connector.models import Account, MemberList, Outcome, OutcomeStatus
from connector.offboard_queue.approved import ApprovedRuns
from connector.offboard_queue.callbacks import CallbackSender
from connector.offboard_queue.models import Job
from connector.offboard_queue.reads import RosterReads
from connector.offboard_queue.session import StitchRuns
from connector.policy import requested_emails
from connector.snapshot_gate import SyncReport

log = get_logger(__name__)

MAX_ATTEMPTS = 3  # a batch that failed before deciding its jobs is tried this often
_IDLE_POLL_S = 5.0  # also picks up jobs another process (the Python API) queued
_MIN_WAIT_S = 0.05
_STALE_RUNNING_S = 600.0  # a `running` job of no live run, untouched this long, is recovered
_LOCK_RETRY_S = 10.0
_BUDGET_RULES = ("budget_max_removals", "budget_max_fraction", "budget_per_day")


def _retry_delay(attempt: int) -> float:
    return float(min(300, 5 * 2 ** max(attempt - 1, 0)))


class Worker:
    def __init__(
        self,
        app: App,
        *,
        callbacks: CallbackSender | None = None,
        shared_browser: bool = True,
        sync_every_s: float | None = None,
    ) -> None:
        """`sync_every_s`: also read and store the roster that often (SCIM reads serve it);
        a roster is read at start when none is stored, whatever this says."""
        self.app = app
        self.settings = app.settings
        self.jobs = app.jobs
        self.callbacks = callbacks
        if callbacks is not None:
            callbacks.on_retry = self.wake  # a retry falls due before the next idle poll
        self.runs = StitchRuns(app.settings, shared_browser=shared_browser)
        self.reads = RosterReads(app, self.runs, sync_every_s=sync_every_s)
        self.approved = ApprovedRuns(app, self.runs, self.after_writes)
        self._wake = asyncio.Event()
        self._finished = asyncio.Condition()  # notified after every batch
        self._ready_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._current_run: str | None = None
        self.held: str | None = None  # why queued jobs wait (the daily budget is used up)
        self._shrink_to: int | None = None  # the next run's size after a budget refusal
        self.batches = 0
        self.last_batch_at: datetime | None = None
        self.last_error: str | None = None
        # The service and SCIM never pass --override-budget (README); were it ever set, every
        # job it allowed says so, as do their audit records.
        self.override_budget = False
        self.audit_broken: AuditBroken | None = None  # the last batch found the trail broken

    @property
    def latched(self) -> ConnectorError | None:
        """A sign-in Stitch rejected (or that needs a person): none is tried again."""
        return self.runs.latched

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        recovered = self.jobs.recover_interrupted() + self.approved.recover_interrupted()
        if recovered:
            log.warning("worker.recovered_interrupted_jobs", count=recovered)
        self._task = asyncio.create_task(self._loop(), name="stitch-worker")

    def begin_stop(self) -> None:
        """No new runs from now on, and the run in progress stops before its next removal
        (called from the signal handler, before the web server drains its connections)."""
        self._stopping = True
        self._wake.set()

    async def stop(self, grace_s: float) -> None:
        """Finish the removal in progress within `grace_s`, else abandon it: its jobs stay
        `running` and the next start verifies them before anything is clicked again."""
        self.begin_stop()
        async with self._finished:
            self._finished.notify_all()  # waiters answer "try again" instead of waiting
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
        await self.runs.close()

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            if self.reads.due() and self.app.stored_roster() is None:
                await self._background_sync()  # first: batches are sized from the roster
            try:
                self.jobs.recover_interrupted(
                    older_than_s=_STALE_RUNNING_S, besides=self._current_run
                )
                while not self._stopping and await self.run_once():
                    pass
                if await self.approved.run_due(lambda: self._stopping):
                    async with self._finished:  # the jobs an approval held have finished
                        self._finished.notify_all()
            except Exception as exc:  # the loop must outlive any one failure
                self.last_error = f"{type(exc).__name__}: {first_line(str(exc))}"
                log.error("worker.loop_failed", error=self.last_error)
            if self.callbacks is not None:
                self.callbacks.deliver_due(self.jobs)
            if not self._stopping and self.reads.due():
                await self._background_sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_wait_s())
            self._wake.clear()

    def idle_wait_s(self) -> float:
        """Until the next look at the queue: the idle poll, or sooner when a callback's
        retry falls due first (never a busy loop: at least _MIN_WAIT_S)."""
        due = self.callbacks.seconds_until_due(self.jobs) if self.callbacks else None
        return _IDLE_POLL_S if due is None else min(_IDLE_POLL_S, max(_MIN_WAIT_S, due))

    # ------------------------------------------------------------------ jobs

    async def run_once(self, *, only: str | None = None) -> int:
        """Claim and carry out one batch; returns how many jobs it took (0: nothing to do)."""
        if self._stopping or self.latched is not None:
            return 0
        limit = self._batch_limit()
        if limit == 0:
            return 0
        run_id = new_run_id()
        batch = self.jobs.claim(limit, run_id, only=only)
        if not batch:
            return 0
        self._current_run = run_id
        self.audit_broken = None
        try:
            await self._run_batch(batch, run_id)
        finally:
            self._current_run = None
            async with self._finished:
                self._finished.notify_all()
        return len(batch)

    def _batch_limit(self) -> int:
        """As many jobs as one run may remove: the per-run budget, what is left of the day's,
        and the share of the roster a run may take (from the latest snapshot)."""
        settings = self.settings
        try:
            day = self.app.removals_last_day()
        except ValueError:  # a line that is not a record: the run refuses it (AuditBroken)
            day = 0
        left_today = settings.max_removals_per_day - day
        asks = settings.policy().approvals.over_budget() is not None  # a person may let it by
        if left_today <= 0 and not asks:
            held = (
                f"held: the daily budget of {settings.max_removals_per_day} removals is used "
                "up (STITCH_MAX_REMOVALS_PER_DAY); queued jobs wait for the 24-hour window"
            )
            if held != self.held:
                log.warning("worker.held", reason=held)
            self.jobs.note_queued(held)  # jobs queued since then learn it too
            self.held = held
            return 0
        if self.held is not None:
            self.jobs.note_queued(None)
            self.held = None
        latest = self.app.history(1)
        budget = policy.remaining_budget(
            settings.policy(),
            roster_count=latest[0].count if latest else None,
            removed_last_day=day,
        )
        limit = min(budget, self._shrink_to or budget)
        self._shrink_to = None
        # At least one: a run of one that the policy refuses says why, instead of waiting.
        return max(1, limit)

    async def wait_for(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it has finished or waits for approval, or as it stands when
        `timeout_s` runs out or the service is stopping."""

        def done() -> bool:
            job = self.jobs.get(job_id)
            return self._stopping or job is None or job.status.settled

        async with self._finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait_for(done), timeout_s)
        return self.jobs.get(job_id)

    async def _run_batch(self, batch: list[Job], run_id: str) -> None:
        batch = self._drop_unusable(batch, run_id)
        if not batch:
            return
        try:
            self.app.require_sound_audit()  # before the browser: no write over a broken trail
        except AuditBroken as exc:
            self._retry_later(batch, run_id, exc)
            return
        first: dict[str, Job] = {}
        for job in batch:
            first.setdefault(job.email, job)
        requests = {email: job.target_request() for email, job in first.items()}
        log.info("worker.batch", run_id=run_id, jobs=len(batch), emails=len(first))
        try:
            async with self.runs.run("serve: offboarding", run_id, trace="writes") as run:
                removal = await self.app.remove(
                    requests,
                    run,
                    should_stop=lambda: self._stopping,
                    override_budget=self.override_budget,
                )
        except PolicyRefused as exc:
            self._refused(batch, run_id, exc)
            return
        except Exception as exc:
            self._retry_later(batch, run_id, exc)
            return
        finally:
            self.batches += 1
            self.last_batch_at = datetime.now(UTC)
        outcomes, roster = removal.outcomes, removal.roster
        by_email = {o.email: o for o in outcomes}
        left = [j.id for j in batch if j.email not in by_email]
        if left:  # the service is stopping: not started, so simply queued again
            self.jobs.requeue(left, "not started: the service was stopping", run_id=run_id)
        for job in batch:
            if job.email in by_email:
                self._finish(job, run_id, by_email[job.email])
        self.last_error = None
        if roster is not None:
            self.after_writes(roster, outcomes)

    def _refused(self, batch: list[Job], run_id: str, exc: PolicyRefused) -> None:
        """The run's policy refused the whole batch: a budget waits or runs smaller, any other
        rule is each job's outcome."""
        if exc.rule == "budget_per_day":  # spent since the batch was sized: wait for it
            self.jobs.requeue(
                [j.id for j in batch],
                _safe(f"waiting: {exc}"),
                delay_s=60,
                run_id=run_id,
                uncount=True,
            )
            return
        if exc.rule in _BUDGET_RULES and len(batch) > 1:  # the roster shrank: smaller runs
            self._shrink_to = max(1, len(batch) // 2)
            self.jobs.requeue([j.id for j in batch], "waiting", run_id=run_id, uncount=True)
            return
        self._finish_all(batch, run_id, OutcomeStatus.REFUSED, str(exc), rule=exc.rule)

    def _drop_unusable(self, batch: list[Job], run_id: str) -> list[Job]:
        """A job whose email the policy cannot use fails alone, not with its whole batch."""
        usable = []
        for job in batch:
            try:
                requested_emails([job.email])
            except UsageProblem as exc:
                self._finish(
                    job,
                    run_id,
                    Outcome(email=job.email, status=OutcomeStatus.FAILED, reason=str(exc)),
                )
            else:
                usable.append(job)
        return usable

    def _finish(self, job: Job, run_id: str, outcome: Outcome) -> None:
        if outcome.reason:
            outcome = outcome.model_copy(update={"reason": _safe(outcome.reason)})
        try:
            done = self.jobs.finish(
                job.id,
                outcome,
                run_id=run_id,
                note=job.resumed_note(outcome),
                override_budget=self.override_budget,
            )
        except ConnectorError as exc:  # the reaper puts it back; its removal is in the audit
            log.error("worker.finish_failed", job=job.id, error=str(exc))
            return
        if done is None:
            log.warning("worker.finish_fenced", job=job.id, run_id=run_id)
        else:
            log.info("worker.job_finished", job=job.id, status=outcome.status.value)

    def _finish_all(
        self,
        batch: list[Job],
        run_id: str,
        status: OutcomeStatus,
        reason: str,
        *,
        rule: str | None = None,
    ) -> None:
        for job in batch:
            self._finish(
                job, run_id, Outcome(email=job.email, status=status, rule=rule, reason=reason)
            )

    def _retry_later(self, batch: list[Job], run_id: str, exc: BaseException) -> None:
        """Nothing decided these jobs: queue them again after a growing delay, or give up
        after MAX_ATTEMPTS. A sign-in that was rejected is never tried again."""
        message = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
        message = _safe(first_line(message))
        self.last_error = message
        log.warning("worker.batch_failed", error=message, jobs=len(batch))
        if isinstance(exc, AuthFailed | HumanNeeded):
            self.runs.latched = exc
            self.jobs.requeue(
                [j.id for j in batch],
                f"waiting: sign-in stopped ({message}); fix the credentials and restart",
                run_id=run_id,
                uncount=True,
            )
            log.error("worker.signin_latched", error=message)
            return
        self.audit_broken = exc if isinstance(exc, AuditBroken) else None
        if isinstance(exc, LockHeld | AuditBroken):  # never reached Stitch: not an attempt
            self.jobs.requeue(
                [j.id for j in batch],
                f"waiting: {message}",
                delay_s=_LOCK_RETRY_S,
                run_id=run_id,
                uncount=True,
            )
            return
        again = [j for j in batch if j.attempts < MAX_ATTEMPTS]
        attempt = batch[0].attempts
        self.jobs.requeue(
            [j.id for j in again],
            f"attempt {attempt} failed: {message}",
            delay_s=_retry_delay(attempt),
            run_id=run_id,
        )
        for job in batch:
            if job not in again:
                self._finish(
                    job,
                    run_id,
                    Outcome(
                        email=job.email,
                        status=OutcomeStatus.FAILED,
                        reason=f"gave up after {job.attempts} attempts: {message}",
                    ),
                )

    def after_writes(self, roster: MemberList, outcomes: list[Outcome]) -> None:
        """Keep the service's view current: the verification read becomes the newest
        snapshot, and removed members stay findable (SCIM GET answers active false)."""
        removed = [o for o in outcomes if o.status.ok and o.member_before is not None]
        for o in removed:
            assert o.member_before is not None
            self.jobs.remember_removed(o.member_before, roster.account.client_id, deleted=False)
        try:
            self.app.store_roster(
                roster,
                SyncOptions(max_drop=self.settings.max_drop),
                "service-snapshots",
                removed_by_us=[o.email for o in removed],
            )
        except ConnectorError as exc:  # the gate, or a busy store: the next sync stores it
            log.warning("worker.snapshot_not_stored", reason=str(exc))

    # ------------------------------------------------------------------ reads

    async def sync(self) -> SyncReport:
        """POST /v1/sync: read the roster now and store it (with the confidence gate)."""
        return await self.reads.sync()

    async def roster(self) -> MemberList:
        """The latest stored roster, read now if none is stored yet (reads.py)."""
        return await self.reads.roster()

    async def _background_sync(self) -> None:
        error = await self.reads.in_background()
        if error is not None:
            self.last_error = error

    async def check_ready(self) -> Account:
        """/readyz: the browser starts and the session is valid (signing in if it must).
        One check at a time; while a run holds the browser, the check waits for it."""
        async with self._ready_lock, self.runs.run("serve: readyz") as run:
            return await self.app.check_session(run)


def _safe(text: str) -> str:
    """Error text goes into job records, API answers and callbacks: never a secret."""
    return redact_text(text)

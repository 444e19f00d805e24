"""Submit, wake, wait: the one way every entry point (the HTTP API, SCIM, the Python API) hands
an offboarding to the account's worker and learns how it ended.

Two ways to be served, one interface. The service runs its worker in the background (`serving`):
a wait sleeps until a batch finishes. A library caller has no background worker (`in_process`):
its wait carries the job out itself, or waits while another process (the service) is on it, and
puts back a job whose process died (no live process holds the write lock).
"""

from __future__ import annotations

import asyncio
import time

from connector.app import App
from connector.offboard_queue.callbacks import CallbackSender
from connector.offboard_queue.models import Job, JobStatus, OffboardingRequest, Source
from connector.offboard_queue.worker import Worker

_POLL_S = 1.0  # while another process (the service) carries the job out
_ORPHANED_AFTER_S = 120.0  # `running`, and no live process holds the write lock


class OffboardQueue:
    def __init__(self, app: App, worker: Worker, *, in_process: bool) -> None:
        self.app = app
        self.worker = worker
        self._in_process = in_process
        self._submitting = asyncio.Lock()  # find-or-queue one job per person, never two at once

    @classmethod
    def serving(
        cls, app: App, *, sync_every_s: float | None = None, prefix: str = ""
    ) -> OffboardQueue:
        """The service's queue: a background worker on one shared browser, signed callbacks
        when STITCH_CALLBACK_SECRET is set. Call start() and stop()."""
        settings = app.settings
        callbacks = (
            CallbackSender(
                settings.callback_secret,
                settings.runs_dir,
                hosts=settings.callback_hosts,
                prefix=prefix,
            )
            if settings.callback_secret
            else None
        )
        return cls(
            app, Worker(app, callbacks=callbacks, sync_every_s=sync_every_s), in_process=False
        )

    @classmethod
    def in_process(cls, app: App) -> OffboardQueue:
        """A library caller's queue: its own waits carry its jobs out."""
        return cls(app, Worker(app, shared_browser=False), in_process=True)

    # ------------------------------------------------------------------ the service's worker

    async def start(self) -> None:
        await self.worker.start()

    def begin_stop(self) -> None:
        self.worker.begin_stop()

    async def stop(self, grace_s: float) -> None:
        await self.worker.stop(grace_s)

    # ------------------------------------------------------------------ submit, wake, wait

    def submit(
        self, request: OffboardingRequest, *, source: Source, principal: str | None
    ) -> tuple[Job, bool]:
        """(the job, whether it is new); idempotent by request id (IdempotencyConflict when
        the id was used for another request). A new job wakes the worker."""
        job, created = self.app.jobs.submit(request, source=source, principal=principal)
        if created:
            self.wake()
        return job, created

    def wake(self) -> None:
        self.worker.wake()

    async def wait(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it has finished, or as it stands after `timeout_s` (or, in the service,
        once it is stopping). None: no such job."""
        if self._in_process:
            return await self._carry_out(job_id, timeout_s)
        return await self.worker.wait_for(job_id, timeout_s)

    async def submit_and_wait(
        self,
        request: OffboardingRequest,
        *,
        source: Source,
        principal: str | None,
        timeout_s: float,
        join_unfinished: bool = False,
    ) -> Job:
        """Queue the request and wait for its job (see `wait`). `join_unfinished`: wait on a
        queued or running job for the same email instead of queuing another (SCIM, whose
        retries carry no request id of their own)."""
        async with self._submitting:
            job = self.app.jobs.unfinished_for(request.email) if join_unfinished else None
            if job is None:
                job, _ = self.app.jobs.submit(request, source=source, principal=principal)
        self.wake()
        return await self.wait(job.id, timeout_s) or job

    async def _carry_out(self, job_id: str, timeout_s: float) -> Job | None:
        """Run the job here when it is queued; wait while another process holds it. A trail
        that fails to verify is raised at once: waiting would not help, a person must look."""
        jobs = self.app.jobs
        deadline = time.monotonic() + timeout_s
        while True:
            current = jobs.get(job_id)
            if current is None or current.status.settled or time.monotonic() > deadline:
                return current
            if current.status is JobStatus.QUEUED and await self.worker.run_once(only=job_id):
                if self.worker.audit_broken is not None:
                    raise self.worker.audit_broken
                continue
            if current.status is JobStatus.RUNNING and self._orphaned(current):
                jobs.requeue([job_id], "interrupted: verified on a fresh read before resuming")
                continue
            # Another process is on it, or it waits (another writer, a retry delay, the daily
            # budget): look again shortly.
            await asyncio.sleep(_POLL_S)

    def _orphaned(self, job: Job) -> bool:
        """`running`, untouched for a while, and no live process holds the write lock."""
        idle = time.time() - job.updated_at.timestamp()
        return idle > _ORPHANED_AFTER_S and self.app.write_lock_holder() is None

"""The service carries out approved requests: each in its own guarded run on the worker's
browser, between batches of jobs (one writer at a time). Expired requests are closed first, and
the approval webhook's due events are sent after."""

from __future__ import annotations

from collections.abc import Callable

from connector.app import App
from connector.approvals.execute import carry_out
from connector.logs import first_line, get_logger, new_run_id, redact_text
from connector.models import MemberList, Outcome
from connector.offboard_queue.session import StitchRuns

log = get_logger(__name__)

_STUCK_S = 120.0  # `running`, untouched this long, and no process holds the write lock


class ApprovedRuns:
    def __init__(
        self,
        app: App,
        runs: StitchRuns,
        after_writes: Callable[[MemberList, list[Outcome]], None],
    ) -> None:
        self.app = app
        self.runs = runs
        self.after_writes = after_writes

    def recover_interrupted(self) -> int:
        """At start: requests a dead process was carrying out are approved again (not while
        another process, a CLI approving, holds the write lock)."""
        if self.app.write_lock_holder() is not None:
            return 0
        return self.app.approvals.store.recover_interrupted()

    async def run_due(self, stopping: Callable[[], bool]) -> int:
        """Carry out every approved request that is ready; returns how many ran."""
        desk = self.app.approvals
        desk.expire_due()
        desk.sweep(lock_free=self.app.write_lock_holder() is None, stuck_after_s=_STUCK_S)
        done = 0
        for approval_id in desk.ready():
            if stopping() or self.runs.latched is not None:
                break
            try:
                async with self.runs.run("serve: approval", new_run_id(), trace="writes") as run:
                    removal = await carry_out(self.app, approval_id, run)
            except Exception as exc:  # left approved, or closed refused: the desk said which
                error = redact_text(first_line(str(exc)))
                log.warning("worker.approval_stopped", approval=approval_id, error=error)
                continue
            if removal is not None:
                done += 1
                if removal.roster is not None:
                    self.after_writes(removal.roster, removal.outcomes)
        await desk.notifications.deliver_due()
        return done

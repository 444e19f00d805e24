"""The application for one Stitch account: its state dir and the operations on it.

Every entry point (the CLI, the HTTP service, SCIM, the Python API) is an adapter: it parses its
input, calls one operation here, and renders the typed result. The stores behind the state dir
(snapshots, the audit trail, the offboarding jobs) and the write lock are opened here and nowhere
in an adapter.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector import __version__
from connector.accepted import last_accepted_roster
from connector.audit import AuditLog, AuditRecord
from connector.changes import count_by_kind, diff
from connector.errors import AuditBroken, ConfigError
from connector.history import read_history
from connector.lock import WriteLock
from connector.logs import get_logger
from connector.models import (
    Account,
    Grant,
    LoginReport,
    MemberList,
    Outcome,
    Plan,
    TargetRequest,
)
from connector.offboard_queue.jobs import JobStore
from connector.operations import (
    AuditCheck,
    DiffReport,
    ProgressCallback,
    Removal,
    RunOptions,
    StepPrompt,
    SyncOptions,
)
from connector.planner import History
from connector.settings import Settings
from connector.snapshot_gate import SyncReport, store_roster
from connector.store import FILE_NAME as SNAPSHOTS_FILE
from connector.store import SnapshotInfo, SnapshotStore

if TYPE_CHECKING:  # Playwright loads with these: not at import, so `--help` stays quick
    from connector.approval_rules import Approved
    from connector.approvals.desk import ApprovalDesk
    from connector.client import StitchConnector
    from connector.doctor import DoctorReport
    from connector.stitch.signin import Observer

log = get_logger(__name__)

__all__ = [
    "App",
    "AuditCheck",
    "DiffReport",
    "ProgressCallback",
    "Removal",
    "RunOptions",
    "StepPrompt",
    "SyncOptions",
]


class App:
    """One Stitch account's state dir and every operation on it. Cheap to make: stores open on
    first use, so `--help`-like paths and a bad database fail only where they are needed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _snapshots(self) -> SnapshotStore:
        return SnapshotStore.in_state_dir(self.settings.state_dir)

    @cached_property
    def _audit(self) -> AuditLog:
        return AuditLog(self.settings.audit_path)

    @cached_property
    def approvals(self) -> ApprovalDesk:
        """Requests an approval rule holds for a second person (approvals/desk.py)."""
        from connector.approvals.desk import ApprovalDesk

        return ApprovalDesk(self.settings, self.jobs)

    @cached_property
    def jobs(self) -> JobStore:
        """The offboarding queue's jobs (`<state dir>/service.sqlite3`)."""
        return JobStore.in_state_dir(self.settings.state_dir)

    # ------------------------------------------------------------------ runs against Stitch

    @asynccontextmanager
    async def _stitch(self, run: RunOptions, **extra: Any) -> AsyncIterator[StitchConnector]:
        """`extra`: doctor's observer and a fresh sign-in (reuse_session=False)."""
        from connector.client import StitchConnector  # Playwright loads here, not at import

        async with StitchConnector(
            self.settings,
            run,
            **extra,
        ) as stitch:
            yield stitch

    async def members(self, run: RunOptions, *, observer: Observer | None = None) -> MemberList:
        """Who has access now: one full read of the Members page, every cross-check passed.
        `observer` sees every page the run reads (`record` keeps them as fixtures)."""
        extra = {"observer": observer} if observer is not None else {}
        async with self._stitch(run, **extra) as stitch:
            return await stitch.list_members()

    async def sync(self, options: SyncOptions, run: RunOptions) -> tuple[SyncReport, MemberList]:
        """The scheduled job: read the roster, gate it against the baselines, store it, diff."""
        self.open_snapshots()  # a bad database fails before the browser starts
        roster = await self.members(run)
        return self.store_roster(roster, options, run.run_id), roster

    async def plan(
        self,
        emails: list[str],
        run: RunOptions,
        *,
        reason: str | None,
        request_id: str | None,
        grants: Sequence[tuple[str, Grant]] = (),
    ) -> Plan:
        """What removing these emails (and these grants) would do now. Changes nothing."""
        async with self._stitch(run) as stitch:
            return await stitch.plan(emails, reason=reason, request_id=request_id, grants=grants)

    async def apply(
        self, plan: Plan, run: RunOptions, *, actor: str, override_budget: bool
    ) -> list[Outcome]:
        """Carry out a reviewed plan, if the roster is still the one it was made against."""
        async with self._stitch(run) as stitch:
            return await stitch.apply(
                plan,
                actor=actor,
                override_budget=override_budget,
                hold=self.approvals.holder(actor),
            )

    async def deactivate(
        self,
        emails: list[str],
        run: RunOptions,
        *,
        dry_run: bool = False,
        reason: str | None = None,
        request_id: str | None = None,
        actor: str = "api",
        override_budget: bool = False,
    ) -> list[Outcome]:
        """Plan and apply in one step (or only plan, `dry_run`)."""
        return await self.change(
            emails,
            (),
            run,
            dry_run=dry_run,
            reason=reason,
            request_id=request_id,
            actor=actor,
            override_budget=override_budget,
        )

    async def change(
        self,
        emails: list[str],
        grants: Sequence[tuple[str, Grant]],
        run: RunOptions,
        *,
        dry_run: bool = False,
        reason: str | None = None,
        request_id: str | None = None,
        actor: str = "api",
        override_budget: bool = False,
    ) -> list[Outcome]:
        """Removals and grants, planned and applied under the lock (or only planned). A write
        an approval rule holds waits as an approval request (`pending_approval`)."""
        async with self._stitch(run) as stitch:
            return await stitch.change(
                emails,
                grants,
                dry_run=dry_run,
                reason=reason,
                request_id=request_id,
                actor=actor,
                override_budget=override_budget,
                hold=self.approvals.holder(actor),
            )

    async def doctor(self, run: RunOptions, *, rehearse: str | None) -> DoctorReport:
        """Sign in from scratch and check every element the connector uses; with `rehearse`,
        walk that member's Deactivate up to the dialog and cancel it. Changes nothing."""
        from connector.doctor import Doctor
        from connector.selector_set import load_selectors

        doc = Doctor(load_selectors(self.settings.selectors_path))
        async with self._stitch(run, observer=doc.observe, reuse_session=False) as stitch:
            return await stitch.doctor(doc, rehearse=rehearse)

    async def login_interactive(self, run: RunOptions, *, timeout_s: float) -> LoginReport:
        """A person signs in in a visible browser; the session is saved for headless runs."""
        async with self._stitch(run) as stitch:
            return await stitch.login_interactive(timeout_s=timeout_s)

    async def check_session(self, run: RunOptions) -> Account:
        """The browser starts and the session is valid (signing in if it must)."""
        async with self._stitch(run) as stitch:
            return await stitch.check_session()

    async def remove(
        self,
        requests: Mapping[str, TargetRequest],
        run: RunOptions,
        *,
        should_stop: Callable[[], bool] | None,
        override_budget: bool,
        grants: Sequence[tuple[str, Grant]] = (),
        approved: Approved | None = None,
    ) -> Removal:
        """The service's write run: removals of the emails `requests` names and the `grants`
        (SCIM), each audited with its own request (actor, request id, reason); also the run
        that carries out an `approved` request (approvals/desk.py)."""
        granted = {email for email, _ in grants}
        async with self._stitch(run) as stitch:
            outcomes = await stitch.change(
                [e for e in requests if e not in granted],
                grants,
                actor="orchestrator",
                request_id=f"service-run:{run.run_id}",
                requests=requests,
                should_stop=should_stop,
                override_budget=override_budget,
                hold=self.approvals.holder("orchestrator"),
                approved=approved,
            )
            # The one read of the connector's mutable roster, at once, into a typed result.
            return Removal(outcomes, stitch.last_roster)

    def write_lock_holder(self) -> dict[str, object] | None:
        """Who holds the account's write lock now (None: nobody)."""
        return WriteLock.holder(self.settings.state_dir)

    # ------------------------------------------------------------------ snapshots

    def open_snapshots(self) -> None:
        """Open (or create) the snapshot database now: a bad one fails before a browser starts."""
        _ = self._snapshots

    def store_roster(
        self,
        roster: MemberList,
        options: SyncOptions,
        run_id: str,
        *,
        removed_by_us: Collection[str] = (),
    ) -> SyncReport:
        """The scheduled sync's decision: gate `roster` against the baselines, store it, diff.
        `removed_by_us`: members this connector just proved it removed (not a drop)."""
        return store_roster(
            self._snapshots,
            roster,
            evidence_dir=self.settings.runs_dir / run_id,
            max_drop=options.max_drop,
            accept_drop=options.accept_drop,
            keep=options.keep,
            removed_by_us=removed_by_us,
            removed_by_connector=self.removed_by_connector(),
        )

    def planning_history(self) -> History:
        """What earlier runs tell the planner, as a write run would find it now: a reconcile
        plan decides on the same history apply will."""
        accepted = last_accepted_roster(self.settings.last_roster_path)
        return read_history(self.settings, accepted, self._audit)

    def stored_roster(self) -> MemberList | None:
        """The newest stored roster, None if nothing is stored yet."""
        return self._snapshots.latest_roster()

    def changed_at(self) -> dict[str, datetime]:
        """When each member last changed, by the stored snapshots (SCIM's meta.lastModified)."""
        return self._snapshots.changed_at()

    def snapshot(self, snapshot_id: int) -> MemberList:
        return self._snapshots.get(snapshot_id)

    def latest_snapshot(self) -> tuple[MemberList, int | None]:
        """The latest stored roster and its snapshot id (None if a sync stored another one in
        between). Never creates an empty store just by looking."""
        path = self.settings.state_dir / SNAPSHOTS_FILE
        hint = "Run `stitch-connector sync` first, or pass --fresh to read Stitch now."
        if not path.is_file():
            raise ConfigError(f"no roster snapshot yet: {path} does not exist", hint=hint)
        roster = self._snapshots.latest_roster()
        if roster is None:
            raise ConfigError(f"no roster snapshot yet in {path}", hint=hint)
        newest = self._snapshots.history(1)
        same = newest and newest[0].fingerprint == roster.fingerprint
        return roster, newest[0].id if same else None

    def history(self, limit: int) -> list[SnapshotInfo]:
        return self._snapshots.history(limit)

    def diff(self, first: int | None, second: int | None) -> DiffReport:
        """What changed between two snapshots; default: the given one and the newest, or the
        last two."""
        store = self._snapshots
        first, second = self._pick(first, second)
        return DiffReport(
            before=store.info(first),
            after=store.info(second),
            changes=diff(store.get(first), store.get(second)),
        )

    def _pick(self, first: int | None, second: int | None) -> tuple[int, int]:
        if first is not None and second is not None:
            return first, second
        newest = self._snapshots.history(2)
        if first is not None:
            return first, newest[0].id if newest else first  # nothing stored: `first` is unknown
        if len(newest) < 2:
            raise ConfigError(
                f"there are {len(newest)} snapshot(s) in {self._snapshots.path}: nothing to "
                "compare",
                hint="Run `stitch-connector sync` (at least twice), or name two snapshot ids.",
            )
        return newest[1].id, newest[0].id

    def write_sync_metrics(
        self, path: Path, duration_s: float, report: SyncReport, roster: MemberList
    ) -> None:
        """The sync's Prometheus file after a stored snapshot."""
        from connector.metrics import SyncOutcome, write_sync_metrics

        write_sync_metrics(
            path,
            outcome=SyncOutcome.OK,
            duration_seconds=duration_s,
            roster=roster,
            changes=count_by_kind(report.changes),
            last_success=report.snapshot.taken_at,
        )

    def last_stored(self) -> tuple[MemberList | None, datetime | None]:
        """The newest stored roster and when it was taken (None, None: nothing stored)."""
        newest = self._snapshots.history(1)
        return self._snapshots.latest_roster(), newest[0].taken_at if newest else None

    # ------------------------------------------------------------------ the audit trail

    def removed_by_connector(self) -> dict[str, datetime]:
        """Who this connector proved it removed, and when: a sync reports them as deactivated
        by the connector, not `left`. A trail that cannot be read only loses that."""
        try:
            return self._audit.removed_members()
        except (OSError, ValueError) as exc:
            log.warning("sync.audit_unreadable", error=str(exc).splitlines()[0])
            return {}

    def require_sound_audit(self) -> None:
        """AuditBroken unless the trail verifies: no write over a broken trail."""
        self._audit.require_sound()

    def removals_last_day(self) -> int:
        """Removals the trail records in the last 24 hours (ValueError: a line is no record)."""
        return self._audit.removals_since(datetime.now(UTC) - timedelta(days=1))

    def audit_check(self) -> AuditCheck:
        count, problem = self._audit.verify()
        return AuditCheck(count, problem, self._audit.path, self._audit.head_path)

    def audit_records(self, since: datetime | None = None) -> list[AuditRecord]:
        """The records, oldest first (from `since` on); a line that is not a record is exit 14."""
        try:
            every = self._audit.records()
        except ValueError as exc:
            raise AuditBroken(
                f"the audit trail {self._audit.path} has a line that is not a record: "
                f"{str(exc).splitlines()[0]}",
                hint="Run `stitch-connector audit verify` to find it.",
            ) from None
        start = since if since is None or since.tzinfo else since.replace(tzinfo=UTC)
        return [r for r in every if start is None or r.started_at >= start]

    def audit_resolve(self, email: str, note: str, actor: str | None = None) -> AuditRecord:
        """Record that a person checked an `unknown` removal by hand (rule unresolved_unknown
        then lets the member be removed again). Nothing is added to a broken trail."""
        from connector.policy import requested_emails

        (target,) = requested_emails([email])
        self._audit.require_sound()
        if target not in self._audit.unresolved_unknowns():
            raise ConfigError(
                f"{target} has no unresolved `unknown` removal in {self._audit.path}",
                hint="`stitch-connector audit show` lists the records.",
            )
        now = datetime.now(UTC)
        return self._audit.append(
            run_id="audit-resolve",
            request_id=None,
            actor=actor or f"human:{getpass.getuser()}",
            target=target,
            action=None,
            outcome="resolved",
            rule=None,
            reason=note,
            started_at=now,
            finished_at=now,
            connector_version=__version__,
            row_before=None,
            roster_fingerprint_before=None,
            roster_fingerprint_after=None,
            evidence=[],
        )

"""StitchConnector: the one facade every entry point (CLI, service, Python API) goes through.

async with StitchConnector(settings) as stitch:
    roster = await stitch.list_members()
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from connector import planner
from connector.accepted import last_accepted_roster, save_accepted_roster
from connector.apply import Hold, PlanRunner
from connector.approval_rules import Approved
from connector.artifacts import RunArtifacts
from connector.audit import AuditLog
from connector.browser import BrowserSession
from connector.doctor import Doctor, DoctorReport
from connector.errors import (
    ConfigError,
    ConnectorError,
    HumanNeeded,
    PageNotRecognised,
)
from connector.history import read_history
from connector.lock import WriteLock
from connector.logs import configure as configure_logs
from connector.logs import get_logger, new_run_id, register_secrets
from connector.models import (
    Account,
    Grant,
    LoginReport,
    MemberList,
    Outcome,
    OutcomeStatus,
    Plan,
    Progress,
    Status,
    TargetRequest,
)
from connector.operations import RunOptions
from connector.planner import History, PlanRequest
from connector.selector_set import SelectorSet, load_selectors
from connector.settings import Settings
from connector.stitch.context import PageContext
from connector.stitch.signin import Observer
from connector.stitch.ui import StitchUI
from connector.tracing import TraceMode, Tracer, prune_runs, write_bundle

log = get_logger(__name__)


class StitchConnector:
    def __init__(
        self,
        settings: Settings,
        run: RunOptions | None = None,
        *,
        selectors: SelectorSet | None = None,
        observer: Observer | None = None,
        reuse_session: bool = True,
    ) -> None:
        """`run`: how this run is named and watched (its id, command line, progress, tracing,
        --step, a running browser to share); default: a new run id, nothing watched.
        `selectors`, `observer` (doctor) and `reuse_session=False` (a sign-in from scratch)
        change how the driver reads the page."""
        run = run or RunOptions(run_id=new_run_id(), command="StitchConnector")
        self.settings = settings
        self.run_id = run.run_id
        self.selectors = selectors or load_selectors(settings.selectors_path)
        self.artifacts = RunArtifacts(settings.runs_dir, self.run_id)
        self._on_progress = run.on_progress
        self._observer = observer
        self._previous = last_accepted_roster(settings.last_roster_path)
        self._previous_count = self._previous.count if self._previous else None
        self._session = BrowserSession(settings, reuse_session=reuse_session, shared=run.browser)
        self.last_roster: MemberList | None = None  # the newest full read, for the caller
        self._trace_mode: TraceMode = settings.trace or run.trace
        self._command = run.command
        self._step = run.step
        register_secrets(*settings.secrets())
        if not structlog.is_configured():  # library use: still redact, still tag the run
            configure_logs(run_id=self.run_id)

    async def __aenter__(self) -> StitchConnector:
        try:
            self.settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"STITCH_STATE_DIR {self.settings.state_dir}: {exc.strerror or exc}"
            ) from None
        prune_runs(
            self.settings.runs_dir,
            keep=self.settings.keep_runs,
            max_age_days=self.settings.keep_runs_days,
            audited=_audited_runs(self.settings),
        )
        await self._session.__aenter__()
        self._tracer = Tracer(
            self._session.context, self._trace_mode, self.artifacts.dir, self.settings.secrets()
        )
        self._ui = StitchUI(
            PageContext(self._session.page, self.selectors, self.settings, self.artifacts),
            on_signed_in=self._signed_in,
            observer=self._observer,
            tracer=self._tracer,
            progress=self._report,
            previous=self._previous.members if self._previous else None,
            on_roster=self._read_done,
        )
        self._nav = self._ui.nav
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            failed = isinstance(exc, Exception)
            traces = await self._tracer.finish(failed=failed)
            if failed and exc is not None:
                await self._failure_bundle(exc, traces)
            elif traces and self._session.page_log is not None:  # kept: a write went wrong
                self._session.page_log.write(self.artifacts.dir)
        except Exception as err:  # the bundle must never hide the run's own error
            log.warning("bundle.failed", error=str(err))
        finally:
            await self._session.__aexit__(exc_type, exc, tb)

    async def _failure_bundle(self, exc: BaseException, traces: list[Path]) -> None:
        shots = list(exc.artifacts) if isinstance(exc, ConnectorError) else []
        if not shots:
            shots = await self.artifacts.capture(self._session.page, "failure")
        readme = write_bundle(
            self.artifacts.dir,
            command=self._command,
            error=exc,
            element=getattr(exc, "element", None),
            files=[*shots, *traces],
            page_log=self._session.page_log,
        )
        if isinstance(exc, ConnectorError):
            exc.artifacts = [*shots, *traces, readme]
        log.info("bundle.written", readme=str(readme))

    # ------------------------------------------------------------------ reads
    async def list_members(self) -> MemberList:
        """Every member on every page, validated and cross-checked against the last accepted
        roster; never a partial or silently empty roster."""
        async with self._ui.typed_errors():
            return await self._list_members()

    async def _list_members(self, needles: Iterable[str] = ()) -> MemberList:
        """`needles`: emails to look for in the list's text (MemberList.mentioned)."""
        return await self._ui.members(needles)  # _read_done keeps it

    def _read_done(self, roster: MemberList) -> None:
        """Every complete read (the apply's fresh reads too): the caller's newest roster."""
        self._remember_roster_size(roster)
        self.last_roster = roster

    async def check_session(self) -> Account:
        """Open Members (signing in if the saved session has ended) and name the account:
        the service's readiness check. Reads no roster."""
        async with self._ui.typed_errors():
            await self._nav.open_members(self._nav.remembered_members_url())
            account = await self._nav.account()
            self._nav.remember_members_url(account)
            return account

    async def login_interactive(
        self,
        *,
        timeout_s: float = 600,
        on_open: Callable[[Any], Awaitable[None]] | None = None,  # given the Playwright page
    ) -> LoginReport:
        """A person finishes sign-in in the (headed) browser: SSO, a hardware key, a CAPTCHA.

        Waits until an app page shows, then saves the session for later headless runs.
        `on_open` is called with the page once sign-in shows (tests act as the person there).
        """
        async with self._ui.typed_errors():
            if not await self._ui.wait_for_a_person(timeout_s, on_open):
                raise HumanNeeded(
                    f"sign-in was not finished within {timeout_s / 60:.0f} minutes",
                    hint="Run `stitch-connector login --interactive` again and finish sign-in.",
                )
            await self._signed_in()
            cookies = await self._session.context.cookies([self.settings.origin])
            expiries = [c["expires"] for c in cookies if c.get("expires", -1) > 0]
            return LoginReport(
                saved_to=str(self.settings.storage_state_path),
                expires_at=datetime.fromtimestamp(min(expiries), UTC) if expiries else None,
            )

    async def doctor(self, doc: Doctor, *, rehearse: str | None = None) -> DoctorReport:
        """Check every element the connector uses (see doctor.py). Construct the connector with
        `observer=doc.observe` and `reuse_session=False`, so the sign-in pages are seen too.

        Reads the whole list as `members` does (every page, the cross-checks), so doctor fails
        whenever `members` would, and names the element."""
        try:
            await self._nav.open_members(None)  # the UI's own navigation, from the sign-in page
            await self._ui.block_writes(doc.blocked.append)  # signed in: no writes
            await doc.navigation(self._nav.clicked)
            try:
                roster = await self._list_members([rehearse] if rehearse else [])
            except PageNotRecognised as exc:
                doc.finding("members", exc.element or "member list", False, str(exc))
                return doc.report()
            doc.finding(
                "members",
                "member list (every page, cross-checks)",
                True,
                f"{roster.count} members on {roster.pages} page(s)",
            )
            wanted = rehearse or next(
                (m.email for m in roster.members if not m.is_self and m.status is Status.ACTIVE),
                None,
            )
            await doc.row_actions(self._ui, wanted, rehearse is not None)
        except PageNotRecognised as exc:  # what broke is the finding, not a crash
            doc.finding("(stopped here)", exc.element or str(exc), False, str(exc))
        return doc.report()

    # ------------------------------------------------------------------ writes
    async def plan(
        self,
        emails: list[str],
        *,
        reason: str | None = None,
        request_id: str | None = None,
        grants: Sequence[tuple[str, Grant]] = (),
    ) -> Plan:
        """What removing these emails (and making these grants) would do, on the roster as it
        is now. Changes nothing."""
        needles = planner.addresses(emails, grants)  # bad input fails before the browser acts
        async with self._ui.typed_errors():
            roster = await self._list_members(needles)
        return self._plan_on(roster, emails, grants, reason=reason, request_id=request_id)

    def _plan_on(
        self,
        roster: MemberList,
        emails: list[str],
        grants: Sequence[tuple[str, Grant]] = (),
        *,
        reason: str | None,
        request_id: str | None,
        requests: Mapping[str, TargetRequest] | None = None,
        whole_batch: bool = False,
        override_budget: bool = False,
        actor: str = "cli",
        approved: Approved | None = None,
    ) -> Plan:
        """planner.plan on this roster and what earlier runs tell. `whole_batch`: refuse the
        whole request (PolicyRefused) as apply would; a dry run answers what apply would do."""
        audit = AuditLog(self.settings.audit_path)
        audit.require_sound()  # AuditBroken (exit 14): no plan on a trail that fails to verify
        request = PlanRequest(
            emails=emails,
            grants=grants,
            base_url=self.settings.base_url,
            reason=reason,
            request_id=request_id,
            requests=requests or {},
            whole_batch=whole_batch,
            override_budget=override_budget,
            actor=actor,
            approved=approved,
        )
        return planner.plan(roster, request, self.settings.policy(), self._history(audit))

    def _history(self, audit: AuditLog) -> History:
        """What earlier runs tell the planner, the accepted roster as it was when this run
        started (not the read this run just made)."""
        return read_history(self.settings, self._previous, audit)

    async def deactivate(self, emails: list[str], **options: Any) -> list[Outcome]:
        """Plan and apply the removal of these emails in one step: `change` with no grants,
        and its options."""
        return await self.change(emails, (), **options)

    async def change(
        self,
        emails: list[str],
        grants: Sequence[tuple[str, Grant]],
        *,
        dry_run: bool = False,
        reason: str | None = None,
        request_id: str | None = None,
        actor: str = "api",
        override_budget: bool = False,
        requests: Mapping[str, TargetRequest] | None = None,
        should_stop: Callable[[], bool] | None = None,
        hold: Hold | None = None,
        approved: Approved | None = None,
    ) -> list[Outcome]:
        """Plan and apply in one step: removals of `emails`, then `grants` (invite, role,
        reactivate, resend). One Outcome per distinct email, removals first, in request order.
        `hold` stores what an approval rule holds (else refused); `approved`: the request this
        run carries out. `requests` gives single emails their own request id, actor and reason
        in the audit trail (the service batches jobs). `should_stop` is asked before each
        write; once it says yes, the rest are left out of the result, not attempted."""
        needles = planner.addresses(emails, grants)  # bad input fails before the browser acts
        plan_on = functools.partial(
            self._plan_on, emails=emails, grants=grants, reason=reason, request_id=request_id
        )
        plan_on = functools.partial(plan_on, actor=actor, approved=approved)
        if dry_run:
            AuditLog(self.settings.audit_path).require_sound()  # before the browser reads
            async with self._ui.typed_errors():
                roster = await self._list_members(needles)
            plan = plan_on(
                roster, requests=requests, whole_batch=True, override_budget=override_budget
            )
            return planner.dry_run_outcomes(plan)
        # The lock first: every guard must see the roster as it is while nobody else writes.
        with self._write_lock(actor) as lock:
            async with self._ui.typed_errors():
                roster = await self._list_members(needles)
            plan = plan_on(roster, requests=requests)
            writes = _Writes(override_budget, should_stop, hold, approved)
            return await self._apply_locked(plan, actor, writes, roster, lock)

    async def apply(
        self,
        plan: Plan,
        *,
        actor: str = "api",
        override_budget: bool = False,
        hold: Hold | None = None,
    ) -> list[Outcome]:
        """Carry out a plan, if the roster is still the one it was made against. Every guard
        runs here, on a fresh roster, under the account's write lock (`hold`: see change)."""
        writes = _Writes(override_budget, hold=hold)
        with self._write_lock(actor) as lock:
            return await self._apply_locked(plan, actor, writes, None, lock)

    def _write_lock(self, actor: str) -> WriteLock:
        return WriteLock(self.settings.state_dir, owner=actor, run_id=self.run_id)

    async def _apply_locked(
        self,
        plan: Plan,
        actor: str,
        writes: _Writes,
        roster: MemberList | None,
        lock: WriteLock,
    ) -> list[Outcome]:
        """`roster`: one read under this same lock, else a fresh read happens here. `lock` is
        checked before every click (the fencing token): a run that lost it clicks nothing."""
        async with self._ui.typed_errors():
            runner = PlanRunner(
                self._ui,
                self.settings,
                self.artifacts.dir,
                run_id=self.run_id,
                history=self._history(AuditLog(self.settings.audit_path)),
                step=self._step,
                fence=lock.check,
                hold=writes.hold,
                approved=writes.approved,
            )
            outcomes = await runner.run(
                plan,
                actor=actor,
                override_budget=writes.override_budget,
                roster=roster,
                should_stop=writes.should_stop,
            )
        after = runner.roster_after  # a full read, or a page proof's prediction: if newer
        if after is not None and (
            self.last_roster is None or after.scraped_at > self.last_roster.scraped_at
        ):
            self._read_done(after)
        proven = (OutcomeStatus.DEACTIVATED, OutcomeStatus.INVITATION_CANCELLED)
        removed = sum(1 for o in outcomes if o.action is not None and o.status in proven)
        wrong = (OutcomeStatus.FAILED, OutcomeStatus.UNKNOWN)
        if any(o.action is not None and o.status in wrong for o in outcomes):
            self._tracer.went_wrong()  # the trace of a write that did not prove out is kept
        if removed and self.last_roster is not None:
            self._remember_roster_size(self.last_roster, removed=removed)
        return outcomes

    def _remember_roster_size(self, roster: MemberList, *, removed: int = 0) -> None:
        """The last accepted roster: what the next run's sanity check, cross-checks and sticky
        protections compare with. Not replaced by a suspicious drop (that is exactly what the
        check must keep seeing). `removed`: members this run proved it removed."""
        if self._previous_count and roster.count < (self._previous_count - removed) / 2:
            return
        save_accepted_roster(self.settings.last_roster_path, roster)

    # ------------------------------------------------------------------ helpers
    async def _signed_in(self) -> None:
        await self._session.save_storage_state()
        log.info("session.saved")

    def _report(self, event: Progress) -> None:
        if self._on_progress is not None:
            self._on_progress(event)


@dataclass(frozen=True)
class _Writes:
    """A write run beyond its plan: the budget, stopping, holds, an approved request."""

    override_budget: bool
    should_stop: Callable[[], bool] | None = None
    hold: Hold | None = None
    approved: Approved | None = None


def _audited_runs(settings: Settings) -> frozenset[str]:
    """Runs the audit trail refers to: their evidence and undo.json are never pruned."""
    try:
        return AuditLog(settings.audit_path).run_ids()
    except (OSError, ValueError):  # a broken trail: keep everything, `audit verify` says why
        return frozenset({"*"})

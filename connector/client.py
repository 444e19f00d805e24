"""StitchConnector: the one facade every entry point (CLI, service, Python API) goes through.

async with StitchConnector(settings) as stitch:
    roster = await stitch.list_members()
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector import __version__, policy
from connector.actions import Remover
from connector.artifacts import RunArtifacts
from connector.audit import AuditLog
from connector.browser import BrowserSession, write_private_json
from connector.errors import (
    ConfigError,
    PageNotRecognised,
    PlanStale,
    SessionExpired,
    TransientFailure,
)
from connector.lock import WriteLock
from connector.logs import configure as configure_logs
from connector.logs import first_line, get_logger, new_run_id, register_secrets
from connector.models import Account, Member, MemberList, Outcome, OutcomeStatus, Plan, Progress
from connector.retry import Retryable, retrying
from connector.selector_set import SelectorSet, load_selectors
from connector.settings import Settings
from connector.stitch.members import MembersView, ParsedPage, parse_page
from connector.stitch.navigation import Navigator
from connector.stitch.row_actions import RowActions
from connector.stitch.signin import Observer

log = get_logger(__name__)

ProgressCallback = Callable[[Progress], None]
_MAX_PAGES = 2_000  # 100,000 members: far beyond any Stitch team; stops a runaway loop
_MAX_SIGNINS = 2  # sign-ins per operation after the session ends mid-run


class StitchConnector:
    def __init__(
        self,
        settings: Settings,
        *,
        run_id: str | None = None,
        on_progress: ProgressCallback | None = None,
        selectors: SelectorSet | None = None,
        slow_mo_ms: int = 0,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id or new_run_id()
        self.selectors = selectors or load_selectors(settings.selectors_path)
        self.artifacts = RunArtifacts(settings.runs_dir, self.run_id)
        self._on_progress = on_progress
        self._observer = observer
        self._signins = 0  # sign-ins during the current list_members call
        self._previous_count = _read_previous_count(settings)
        self._session = BrowserSession(settings, slow_mo_ms=slow_mo_ms)
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
        await self._session.__aenter__()
        self._nav = Navigator(
            self._session.page,
            self.selectors,
            self.settings,
            self.artifacts,
            self._signed_in,
            self._observer,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.__aexit__(exc_type, exc, tb)

    # ------------------------------------------------------------------ reads
    async def list_members(self) -> MemberList:
        """Every member on every page, validated; never a partial or silently empty roster."""
        async with self._typed_browser_errors():
            return await self._list_members()

    @asynccontextmanager
    async def _typed_browser_errors(self) -> AsyncIterator[None]:
        """Whatever goes wrong in the browser leaves as a typed error, with evidence."""
        try:
            yield
        except PageNotRecognised as exc:
            if not exc.artifacts:
                exc.artifacts = await self.artifacts.capture(self._session.page, "not-recognised")
            raise
        except PlaywrightTimeout as exc:  # an element never became clickable, and the like
            raise await self._nav.not_recognised(
                f"a browser step timed out: {first_line(exc.message)}"
            ) from None
        except PlaywrightError as exc:
            raise TransientFailure(f"the browser failed: {first_line(exc.message)}") from None

    async def _list_members(self) -> MemberList:
        self._progress("open")
        self._signins = 0
        await self._nav.open_members(self._cached_members_url())
        account = await self._nav.account()
        self._remember_members_url(account)
        members, pages = await self._read_all_pages(account)
        roster = MemberList(
            account=account,
            members=members,
            scraped_at=datetime.now(UTC),
            pages=pages,
            source_url=self._session.page.url.split("?", 1)[0],
            selectors_version=self.selectors.version,
        )
        log.info("members.listed", count=roster.count, pages=pages, fingerprint=roster.fingerprint)
        self._remember_roster_size(roster)
        return roster

    # ------------------------------------------------------------------ writes
    async def plan(
        self, emails: list[str], *, reason: str | None = None, request_id: str | None = None
    ) -> Plan:
        """What removing these emails would do, on the roster as it is now. Changes nothing."""
        policy.requested_emails(emails)  # bad input fails before the browser does anything
        roster = await self.list_members()
        return self._plan_on(roster, emails, reason=reason, request_id=request_id)

    def _plan_on(
        self, roster: MemberList, emails: list[str], *, reason: str | None, request_id: str | None
    ) -> Plan:
        targets = policy.decide(emails, roster, self.settings.policy())
        return Plan(
            created_at=datetime.now(UTC),
            base_url=self.settings.base_url,
            account=roster.account,
            roster_fingerprint=roster.fingerprint,
            roster_count=roster.count,
            targets=targets,
            reason=reason,
            request_id=request_id,
        )

    async def deactivate(
        self,
        emails: list[str],
        *,
        dry_run: bool = False,
        reason: str | None = None,
        request_id: str | None = None,
        actor: str = "api",
        override_budget: bool = False,
    ) -> list[Outcome]:
        """Plan and apply in one step. One Outcome per distinct email, in request order."""
        policy.requested_emails(emails)  # bad input fails before the browser does anything
        roster = await self.list_members()
        plan = self._plan_on(roster, emails, reason=reason, request_id=request_id)
        if dry_run:
            policy.check_batch(
                plan.targets,
                roster,
                self.settings.policy(),
                previous_count=self._previous_count,
                override_budget=override_budget,
            )
            return [
                Outcome(
                    email=t.email,
                    status=OutcomeStatus.PLANNED if t.action else t.expected,
                    action=t.action,
                    rule=t.rule,
                    member_before=t.member,
                )
                for t in plan.targets
            ]
        return await self.apply(plan, actor=actor, override_budget=override_budget, roster=roster)

    async def apply(
        self,
        plan: Plan,
        *,
        actor: str = "api",
        override_budget: bool = False,
        roster: MemberList | None = None,
    ) -> list[Outcome]:
        """Carry out a plan, if the roster is still the one it was made against.

        Every guard runs here, on a fresh roster, under the account's write lock.
        """
        with WriteLock(self.settings.state_dir, owner=actor, run_id=self.run_id):
            async with self._typed_browser_errors():
                return await self._apply(plan, actor, override_budget, roster)

    async def _apply(
        self, plan: Plan, actor: str, override_budget: bool, roster: MemberList | None
    ) -> list[Outcome]:
        if plan.base_url != self.settings.base_url:
            raise PlanStale(f"the plan is for {plan.base_url}, not {self.settings.base_url}")
        roster = roster or await self._list_members()
        if roster.fingerprint != plan.roster_fingerprint or roster.account != plan.account:
            raise PlanStale(
                f"the roster changed since the plan was made ({plan.created_at:%Y-%m-%d %H:%M} "
                f"UTC, {plan.roster_count} members; now {roster.count})"
            )
        config = self.settings.policy()
        targets = policy.decide([t.email for t in plan.targets], roster, config)
        policy.check_batch(
            targets,
            roster,
            config,
            previous_count=self._previous_count,
            override_budget=override_budget,
        )
        remover = self._remover()
        audit = AuditLog(self.settings.audit_path)
        outcomes: list[Outcome] = []
        removed: list[Member] = []
        stop: str | None = None
        for target in targets:
            started = datetime.now(UTC)
            before = roster.fingerprint
            if target.action is None:
                outcome = Outcome(
                    email=target.email,
                    status=target.expected,
                    rule=target.rule,
                    member_before=target.member,
                    reason=policy.explain(target.rule),
                )
            elif stop is not None:
                outcome = Outcome(
                    email=target.email,
                    status=OutcomeStatus.FAILED,
                    action=target.action,
                    member_before=target.member,
                    reason=f"not attempted: {stop}",
                )
            else:
                removal = await remover.remove(target)
                outcome = removal.outcome
                roster = removal.roster_after or roster
                if removal.halts_batch:
                    stop = f"an earlier removal ended {outcome.status.value}"
            if outcome.status.ok and target.member is not None and target.action is not None:
                removed.append(target.member)
            outcomes.append(outcome)
            audit.append(
                run_id=self.run_id,
                request_id=plan.request_id,
                actor=actor,
                target=target.email,
                action=target.action.value if target.action else None,
                outcome=outcome.status.value,
                rule=outcome.rule,
                reason=outcome.reason,
                started_at=started,
                finished_at=datetime.now(UTC),
                connector_version=__version__,
                row_before=target.member,
                roster_fingerprint_before=before,
                roster_fingerprint_after=roster.fingerprint,
                evidence=outcome.evidence,
            )
        self._write_undo(removed)
        return outcomes

    def _remover(self) -> Remover:
        page = self._session.page
        view = MembersView(page, self.selectors, self.settings.origin)
        rows = RowActions(
            page,
            self.selectors,
            view,
            self.artifacts,
            timeout_ms=self.settings.timeout_ms,
            write_timeout_ms=self.settings.write_timeout_ms,
            login_email=self.settings.email,
        )

        async def open_list() -> None:
            await self._nav.open_members(self._cached_members_url())

        return Remover(
            page,
            rows,
            open_list=open_list,
            read_roster=self._list_members,
            transient_errors=self.selectors.banners.transient_errors,
            attempts=self.settings.retries,
        )

    def _write_undo(self, removed: list[Member]) -> None:
        """Deactivation is undone by inviting again (Stitch docs): keep what that needs."""
        if not removed:
            return
        self.artifacts.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.artifacts.dir / "undo.json"
        path.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "how": "Stitch: Add a Team Member with this email, then set the role.",
                    "members": [
                        {
                            "email": m.email,
                            "name": m.name,
                            "role": m.role.value,
                            "invoice_admin": m.invoice_admin,
                            "status_before": m.status.value,
                        }
                        for m in removed
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
        log.info("undo.written", path=str(path))

    def _remember_roster_size(self, roster: MemberList) -> None:
        """The size the next write run's sanity check compares with; not lowered by a
        suspicious drop (that is exactly what the check must keep seeing)."""
        if self._previous_count and roster.count < self._previous_count / 2:
            return
        write_private_json(
            self.settings.last_roster_path,
            {
                "count": roster.count,
                "fingerprint": roster.fingerprint,
                "at": roster.scraped_at.isoformat(),
            },
        )

    async def _read_all_pages(self, account: Account) -> tuple[list[Member], int]:
        view = MembersView(self._session.page, self.selectors, self.settings.origin)
        members: list[Member] = []
        seen: set[str] = set()
        expected_count: int | None = None
        previous: str | None = None
        page_no = 1
        while True:
            parsed, previous = await self._settle_on(view, page_no, previous)
            overlap = seen.intersection(m.email for m in parsed.members)
            if overlap:
                raise await self._drift(
                    f"page {page_no} repeats members of earlier pages ({sorted(overlap)[0]}, ...)"
                )
            members.extend(parsed.members)
            seen.update(m.email for m in parsed.members)
            if parsed.member_count is not None:
                if expected_count not in (None, parsed.member_count):
                    raise await self._drift("the member count changed while paginating")
                expected_count = parsed.member_count
            self._progress("page", page=page_no, pages=parsed.page_total, rows=len(members))
            if not parsed.has_next:
                break
            if page_no >= _MAX_PAGES:
                raise await self._drift(f"more than {_MAX_PAGES} pages")
            await view.click_next()
            page_no += 1

        if expected_count is not None and expected_count != len(members):
            raise await self._drift(
                f"the page says {expected_count} members but {len(members)} rows were read"
            )
        selves = [m for m in members if m.is_self]
        if len(selves) != 1:
            raise await self._drift(
                f"expected exactly one row for the signed-in user, found {len(selves)}"
            )
        if self.settings.email and selves[0].email != self.settings.email:
            raise await self._drift(
                f"the page marks {selves[0].email} as the signed-in user, not {self.settings.email}"
            )
        return members, page_no

    async def _settle_on(
        self, view: MembersView, page_no: int, previous: str | None
    ) -> tuple[ParsedPage, str | None]:
        """Read page `page_no`; when the page shows its own load error, reload it (bounded)."""
        try:
            async for attempt in retrying(self.settings.retries, f"load member page {page_no}"):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        await self._nav.goto(self._session.page.url)
                        previous = None
                    return await self._read_page(view, page_no, previous)
        except Retryable as exc:
            raise TransientFailure(
                f"the member list kept failing to load page {page_no}: {exc}"
            ) from None
        raise AssertionError("retrying() returns or raises")  # pragma: no cover

    async def _read_page(
        self, view: MembersView, page_no: int, previous: str | None
    ) -> tuple[ParsedPage, str | None]:
        """Wait for page `page_no` to be ready and read it.

        Signs in again if the session ended (bounded), and clicks Next when a reload went back
        to an earlier page. Raises Retryable when the page shows its own load error.
        """
        while True:
            settled = await view.settled(previous, self.settings.timeout_ms)
            if settled is None:
                raise await self._drift(f"page {page_no} of the member list never finished loading")
            if settled.state == "error":
                log.warning("members.load_error", page=page_no, text=settled.text)
                raise Retryable(f"the page said {settled.text!r}")
            if settled.state == "signin":
                self._signins += 1
                if self._signins > _MAX_SIGNINS:
                    raise SessionExpired("the session kept ending while reading the member list")
                log.info("session.expired_mid_run", page=page_no)
                await self._nav.sign_in()
                if await self._nav.sign_in_if_asked() != "members":  # redirect lost: go back
                    await self._nav.open_members(self._cached_members_url())
                previous = None
                continue
            if self._observer is not None:
                await self._observer(f"members-p{page_no}", self._session.page)
            started = time.perf_counter()
            raw = await view.read()
            try:
                parsed = parse_page(raw, self.selectors, self.settings.email)
            except PageNotRecognised as exc:
                exc.artifacts = await self.artifacts.capture(self._session.page, "member-list")
                raise
            log.debug(
                "members.page_read",
                page=page_no,
                rows=len(parsed.members),
                extract_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            if parsed.page_number is not None and parsed.page_number < page_no:
                if not parsed.has_next:
                    raise await self._drift(f"page {page_no} is gone: the list now ends earlier")
                await view.click_next()  # a reload landed on an earlier page: walk forward
                previous = settled.signature
                continue
            if parsed.page_number is not None and parsed.page_number > page_no:
                raise await self._drift(f"asked for page {page_no}, got {parsed.page_number}")
            return parsed, settled.signature

    # ------------------------------------------------------------------ helpers
    async def _signed_in(self) -> None:
        await self._session.save_storage_state()
        log.info("session.saved")

    async def _drift(self, message: str) -> PageNotRecognised:
        return await self._nav.not_recognised(f"member list not recognised: {message}")

    def _progress(self, step: str, **fields: int | None) -> None:
        if self._on_progress is not None:
            self._on_progress(Progress(step=step, **fields))

    def _cached_members_url(self) -> str | None:
        try:
            data = json.loads(self.settings.account_cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("base_url") != self.settings.base_url:
            return None
        url = data.get("members_url")
        if not isinstance(url, str):
            return None
        parts = urlsplit(url)
        return url if f"{parts.scheme}://{parts.netloc}" == self.settings.origin else None

    def _remember_members_url(self, account: Account) -> None:
        url = self._session.page.url.split("?", 1)[0]
        write_private_json(
            self.settings.account_cache_path,
            {
                "base_url": self.settings.base_url,
                "client_id": account.client_id,
                "members_url": url,
            },
        )


def _read_previous_count(settings: Settings) -> int | None:
    try:
        data = json.loads(settings.last_roster_path.read_text(encoding="utf-8"))
        return int(data["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

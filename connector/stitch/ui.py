"""StitchUI, the root page object: built once per run, it owns the page objects (navigation,
the roster reader, the row actions) and offers what a run does with Stitch's UI: sign in, read
the members, and `row(email)` to deactivate or rehearse. It implements MembersUI.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, Route
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.errors import PageNotRecognised, TransientFailure
from connector.logs import first_line, get_logger
from connector.members_ui import AfterClick, Invitation
from connector.models import Action, Member, MemberList, Progress, Role
from connector.page_proof import ShownPage
from connector.stitch.checks import Sighting
from connector.stitch.context import PageContext
from connector.stitch.grant_actions import GrantActions
from connector.stitch.members import MembersView, ParsedPage
from connector.stitch.navigation import Navigator
from connector.stitch.pages import current_state
from connector.stitch.roster import RosterReader
from connector.stitch.row_actions import RowActions
from connector.stitch.signin import Observer
from connector.tracing import Tracer

log = get_logger(__name__)

_READ_ONLY = ("GET", "HEAD", "OPTIONS")


async def _never_called() -> None:
    raise AssertionError("a read beside the page does not sign in")


class RowControls:
    """One member's row, found just now: act on it, or rehearse (implements MemberRow)."""

    def __init__(
        self, rows: RowActions, grants: GrantActions, locator: Locator, member: Member, email: str
    ) -> None:
        self._rows = rows
        self._grants = grants
        self._locator = locator
        self._member = member
        self._email = email

    @property
    def member(self) -> Member:
        return self._member

    async def act(
        self, action: Action, on_commit: Callable[[], None], *, role: Role | None = None
    ) -> AfterClick:
        if action is Action.SET_ROLE:
            assert role is not None, "a role change needs the role"
            return await self._grants.set_role(self._locator, self._email, role, on_commit)
        return await self._rows.act(self._locator, self._email, action, on_commit)

    async def deactivate(self, on_commit: Callable[[], None] = lambda: None) -> AfterClick:
        return await self.act(Action.DEACTIVATE, on_commit)

    async def rehearse(self, *, open_dialog: bool = True) -> list[Sighting]:
        """Doctor's dry walk (see RowActions.rehearse); block writes first (block_writes)."""
        return await self._rows.rehearse(self._locator, self._email, open_dialog=open_dialog)

    async def evidence(self, label: str) -> str | None:
        return await self._rows.evidence(self._locator, label)


class StitchUI:
    def __init__(
        self,
        ctx: PageContext,
        *,
        on_signed_in: Callable[[], Awaitable[None]],
        observer: Observer | None = None,
        tracer: Tracer | None = None,
        progress: Callable[[Progress], None] = lambda _: None,
        previous: list[Member] | None = None,
        on_roster: Callable[[MemberList], None] = lambda _: None,
    ) -> None:
        """`previous`: the last accepted roster's members (the read's cross-checks);
        `on_roster`: told of every complete read, for the caller's bookkeeping."""
        self.ctx = ctx
        self.nav = Navigator(ctx, on_signed_in, observer, tracer)
        self.rows = RowActions(ctx, MembersView(ctx.page, ctx.selectors, ctx.settings.origin))
        self.grants = GrantActions(ctx)
        self._observer = observer
        self._tracer = tracer
        self._progress = progress
        self._previous = previous
        self._on_roster = on_roster
        # (URL, pages, the page as parsed) of a read just now, with nothing clicked since: the
        # page it ends on is still shown, and the row lookup looks there first, as it was read,
        # instead of loading the list again.
        self._list_just_read: tuple[str, int, ParsedPage | None] | None = None
        # The URL of the page the last full read saw each asked-about member on: where their
        # row lookup starts (a URL that names its page saves walking to it; one that does not
        # is the list's first page, as before).
        self._seen_on: dict[str, str] = {}

    @asynccontextmanager
    async def typed_errors(self) -> AsyncIterator[None]:
        """Whatever goes wrong in the browser leaves as a typed error, with evidence."""
        try:
            yield
        except PageNotRecognised as exc:
            if not exc.artifacts:
                exc.artifacts = await self.ctx.artifacts.capture(self.ctx.page, "not-recognised")
            raise
        except PlaywrightTimeout as exc:  # an element never became clickable, and the like
            raise await self.nav.not_recognised(
                f"a browser step timed out: {first_line(exc.message)}"
            ) from None
        except PlaywrightError as exc:
            raise TransientFailure(f"the browser failed: {first_line(exc.message)}") from None

    async def wait_for_a_person(
        self, timeout_s: float, on_open: Callable[[Page], Awaitable[None]] | None = None
    ) -> bool:
        """Open Stitch and wait until a person has signed in (SSO, a hardware key, a CAPTCHA):
        True once an app page shows. `on_open` gets the page first (tests act as the person)."""
        settings, page = self.ctx.settings, self.ctx.page
        await self.nav.goto(settings.base_url + "/")
        state = await current_state(page, self.ctx.selectors, settings.timeout_ms)
        if state in ("members", "app"):
            return True
        if on_open is not None:
            await on_open(page)
        log.info("login.waiting_for_a_person", minutes=round(timeout_s / 60, 1))
        found = await current_state(
            page, self.ctx.selectors, timeout_s * 1000, among=("members", "app")
        )
        return found is not None

    @property
    def transient_errors(self) -> tuple[str, ...]:
        return self.ctx.selectors.banners.transient_errors

    async def sign_in(self) -> None:
        """Sign in on the page shown now (the sign-in form), with tracing paused."""
        await self.nav.sign_in()

    async def open_members(self) -> None:
        """End on the member list, signed in (the remembered URL first, else the UI's menus)."""
        await self.nav.open_members(self.nav.remembered_members_url())

    async def members(self, needles: Iterable[str] = ()) -> MemberList:
        """Every member on every page, validated and cross-checked; never a partial roster."""
        self._progress(Progress(step="open"))
        await self.open_members()
        if self._tracer is not None:
            await self._tracer.start()  # signed in by now: nothing secret left to type
        account = await self.nav.account()
        self.nav.remember_members_url(account)
        reader = self._reader()
        members, pages, mentioned = await reader.read(needles)
        roster = MemberList(
            account=account,
            members=members,
            scraped_at=datetime.now(UTC),
            pages=pages,
            source_url=self.ctx.page.url.split("?", 1)[0],
            selectors_version=self.ctx.selectors.version,
            mentioned=mentioned,
        )
        log.info("members.listed", count=roster.count, pages=pages, fingerprint=roster.fingerprint)
        self._list_just_read = (self.ctx.page.url, pages, reader.last_page)
        self._seen_on = reader.seen_on
        self._on_roster(roster)
        return roster

    async def members_beside(self, needles: Iterable[str] = ()) -> MemberList:
        """A fresh read on a new page of this browser context (same session), while this page
        keeps waiting for what a click shows. It never signs in: a session that ended is the
        main page's to handle."""
        async with self._beside() as beside:
            return await beside.members(needles)

    async def page_after_write(self, needles: Iterable[str] = ()) -> ShownPage:
        """The list page shown now, loaded afresh and read alone (a removal's page proof).
        The row lookup that follows looks on it first."""
        self._seen_on = {}  # rows may have moved up a page: lookups start from the top again
        reader = self._reader()
        shown = await reader.read_shown(self.ctx.page.url, needles)
        pages = 1 if shown.count == len(shown.members) else 2
        self._list_just_read = (self.ctx.page.url, pages, reader.last_page)
        return shown

    async def page_beside(self, needles: Iterable[str] = ()) -> ShownPage:
        """The list page shown now, read afresh on a second page (see members_beside)."""
        self._seen_on = {}  # as page_after_write
        async with self._beside() as beside:
            return await beside._reader().read_shown(self.ctx.page.url, needles)

    @asynccontextmanager
    async def _beside(self) -> AsyncIterator[StitchUI]:
        page = await self.ctx.page.context.new_page()
        try:
            beside = StitchUI(
                replace(self.ctx, page=page),
                on_signed_in=_never_called,  # it does not sign in
                previous=self._previous,
                on_roster=self._on_roster,
            )
            beside.nav.may_sign_in = False
            yield beside
        finally:
            with contextlib.suppress(PlaywrightError):
                await page.close()

    def _reader(self) -> RosterReader:
        return RosterReader(
            self.ctx,
            self.nav,
            observer=self._observer,
            progress=self._progress,
            previous=self._previous,
        )

    async def row(self, email: str) -> RowControls | None:
        """Open the list and walk it for the row of exactly `email`; None if no page has it.
        Right after a complete read, the last page it read is still shown: the row is looked
        for there first (find_row checks it, as ever), and the list opened only when it is not
        there and other pages are."""
        if self._tracer is not None:
            await self._tracer.start(write=True)  # the "writes" trace starts here
        just_read, self._list_just_read = self._list_just_read, None
        url, pages, parsed = just_read or (None, 0, None)
        pages = pages if url == self.ctx.page.url else 0  # 0: the read's page is not shown
        found = await self.rows.find_row(email, parsed) if pages else None
        if found is None and pages != 1:
            first = self.nav.remembered_members_url()
            start = self._seen_on.pop(email, None) or first  # once: a retry starts at the top
            await self.nav.open_members(start)
            found = await self.rows.find_row(email)
            if found is None and start != first:  # it moved to an earlier page: from the top
                await self.open_members()
                found = await self.rows.find_row(email)
        if found is None:
            return None
        locator, member = found
        return RowControls(self.rows, self.grants, locator, member, email)

    async def invite(self, invitation: Invitation, on_commit: Callable[[], None]) -> AfterClick:
        """Add a Team Member from the member list (the page a read just ended on, else the
        list opened afresh)."""
        if self._tracer is not None:
            await self._tracer.start(write=True)
        just_read, self._list_just_read = self._list_just_read, None
        if just_read is None or just_read[0] != self.ctx.page.url:
            await self.open_members()
        return await self.grants.invite(invitation, on_commit)

    async def evidence(self, label: str) -> str | None:
        return await self.rows.evidence(self.ctx.page, label)

    async def block_writes(self, on_blocked: Callable[[str], None]) -> None:
        """From now on, abort in the browser every request that could change anything (doctor);
        `on_blocked` hears "METHOD url" of each one."""

        async def guard(route: Route) -> None:
            method = route.request.method
            if method in _READ_ONLY:
                await route.fallback()
                return
            on_blocked(f"{method} {route.request.url.split('?', 1)[0]}")
            log.warning("doctor.write_blocked", method=method)
            await route.abort()

        await self.ctx.page.context.route("**/*", guard)

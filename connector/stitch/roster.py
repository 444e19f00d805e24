"""Read the whole member list: every page, checked against the page's own count.

Handles what happens while paginating: the page's own load error (reload, bounded, through
tenacity), the session ending (sign in again, bounded), a reload that lands on an earlier page
(walk forward), and anything that would make the roster short or doubled (PageNotRecognised).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from connector import crosscheck
from connector.errors import PageNotRecognised, SessionExpired, TransientFailure
from connector.logs import get_logger
from connector.models import Member, Progress
from connector.page_proof import ShownPage
from connector.retry import Retryable, retrying
from connector.stitch.context import PageContext
from connector.stitch.members import MembersView, ParsedPage, parse_page
from connector.stitch.navigation import Navigator
from connector.stitch.signin import Observer

log = get_logger(__name__)

_MAX_PAGES = 2_000  # 100,000 members: far beyond any Stitch team; stops a runaway loop
_MAX_SIGNINS = 2  # sign-ins per read after the session ends mid-run


class RosterReader:
    def __init__(
        self,
        ctx: PageContext,
        nav: Navigator,
        *,
        observer: Observer | None,
        progress: Callable[[Progress], None],
        previous: list[Member] | None = None,
    ) -> None:
        """`previous`: the members of the last accepted roster, to cross-check the read with."""
        self.page = ctx.page
        self.selectors = ctx.selectors
        self.settings = ctx.settings
        self.nav = nav
        self.artifacts = ctx.artifacts
        self.observer = observer
        self.on_progress = progress
        self._signins = 0
        self._needles: tuple[str, ...] = ()
        self.previous = previous
        self.last_page: ParsedPage | None = None  # the last page read, as parsed
        self.seen_on: dict[str, str] = {}  # email asked about -> the URL of the page it was on

    def progress(self, step: str, **fields: int | None) -> None:
        self.on_progress(Progress(step=step, **fields))

    async def _drift(self, message: str, element: str = "extract.row") -> PageNotRecognised:
        return await self.nav.not_recognised(f"member list not recognised: {message}", element)

    async def read(self, needles: Iterable[str] = ()) -> tuple[list[Member], int, frozenset[str]]:
        """All members on all pages, how many pages that took, and which of `needles` (emails)
        the list's text showed anywhere."""
        view = MembersView(self.page, self.selectors, self.settings.origin)
        self._signins = 0
        self._needles = tuple(needles)
        wanted = {n.lower() for n in self._needles}
        mentioned: set[str] = set()
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
            if parsed.first_row is not None and parsed.first_row != len(members) + 1:
                raise await self._drift(
                    f"page {page_no} starts at row {parsed.first_row}, after {len(members)} rows"
                )
            members.extend(parsed.members)
            self.last_page = parsed
            for member in parsed.members:
                if member.email in wanted:
                    self.seen_on[member.email] = self.page.url
            mentioned.update(parsed.mentioned)
            seen.update(m.email for m in parsed.members)
            if parsed.member_count is not None:
                if expected_count not in (None, parsed.member_count):
                    raise await self._drift("the member count changed while paginating")
                expected_count = parsed.member_count
            self.progress("page", page=page_no, pages=parsed.page_total, rows=len(members))
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
        try:
            crosscheck.check_roster(
                members,
                login_email=self.settings.email,
                previous=self.previous,
                invariants=self.selectors.extract.invariants,
            )
        except PageNotRecognised as exc:
            exc.artifacts = await self.artifacts.capture(self.page, exc.element or "member-list")
            raise
        return members, page_no, frozenset(mentioned)

    async def read_shown(self, url: str, needles: Iterable[str]) -> ShownPage:
        """Load the list page at `url` afresh and read it alone (a removal's page proof).
        TransientFailure unless it loads as the member list: the caller then reads it all."""
        view = MembersView(self.page, self.selectors, self.settings.origin)
        await self.nav.goto(url)
        settled = await view.settled(None, self.settings.timeout_ms)
        if settled is None or settled.state != "ready":
            state = settled.state if settled else "not loaded"
            raise TransientFailure(f"the list page after the write is {state}")
        parsed = parse_page(await view.read(needles), self.selectors, self.settings.email)
        self.last_page = parsed
        return ShownPage(
            parsed.members,
            parsed.member_count,
            parsed.first_row,
            parsed.mentioned,
            first_page=parsed.says_first_page,
            last_page=parsed.says_last_page,
        )

    async def _settle_on(
        self, view: MembersView, page_no: int, previous: str | None
    ) -> tuple[ParsedPage, str | None]:
        """Read page `page_no`; when the page shows its own load error, reload it (bounded)."""
        try:
            async for attempt in retrying(self.settings.retries, f"load member page {page_no}"):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        await self.nav.goto(self.page.url)
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
                why = await view.waiting_for(previous)
                raise await self._drift(
                    f"page {page_no} of the member list never finished loading: {why.text}",
                    why.element or "extract.row",
                )
            if settled.state == "error":
                log.warning("members.load_error", page=page_no, text=settled.text)
                raise Retryable(f"the page said {settled.text!r}")
            if settled.state == "signin":
                self._signins += 1
                if self._signins > _MAX_SIGNINS:
                    raise SessionExpired("the session kept ending while reading the member list")
                log.info("session.expired_mid_run", page=page_no)
                await self.nav.sign_in()
                if await self.nav.sign_in_if_asked() != "members":  # redirect lost: go back
                    await self.nav.open_members(self.nav.remembered_members_url())
                previous = None
                continue
            if self.observer is not None:
                await self.observer(f"members-p{page_no}", self.page)
            started = time.perf_counter()
            raw = await view.read(self._needles)
            try:
                parsed = parse_page(raw, self.selectors, self.settings.email)
            except PageNotRecognised as exc:
                exc.artifacts = await self.artifacts.capture(self.page, "member-list")
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

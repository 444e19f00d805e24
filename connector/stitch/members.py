"""The member list: wait until a page is settled, read it in one round trip, validate it, paginate.

`parse_page` is pure (raw page data in, members out) so it is tested without a browser. Anything
that does not look like the member list raises PageNotRecognised: never an empty or short roster.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any, Literal

from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout
from pydantic import BaseModel, ValidationError

from connector.errors import PageNotRecognised
from connector.models import Member, Role, Status
from connector.selector_set import Extract, SelectorSet

_JS_DIR = files("connector.stitch")
EXTRACT_JS = _JS_DIR.joinpath("extract.js").read_text(encoding="utf-8")
ROSTER_STATE_JS = _JS_DIR.joinpath("roster_state.js").read_text(encoding="utf-8")


class RawCell(BaseModel):
    text: str
    name_text: str | None = None
    select_text: str | None = None


class RawRow(BaseModel):
    cells: list[RawCell]
    invoice_admin: bool
    self_marker: bool


class RawPage(BaseModel):
    """What extract.js returns for one page."""

    url: str
    table_found: bool
    headers: list[str]
    rows: list[RawRow]
    member_count_text: str | None
    page_status_text: str | None
    next_present: bool
    next_enabled: bool
    empty_state: bool


class ParsedPage(BaseModel):
    members: list[Member]
    member_count: int | None  # the header's count of all members, if shown
    page_number: int | None  # from "Page 2 of 5", if shown
    page_total: int | None
    has_next: bool


class Settled(BaseModel):
    state: Literal["ready", "error", "signin"]
    signature: str | None = None
    text: str | None = None


def _drift(message: str, raw: RawPage | None = None) -> PageNotRecognised:
    return PageNotRecognised(f"member list not recognised: {message}", url=raw.url if raw else None)


def _columns(headers: list[str], extract: Extract) -> dict[str, int]:
    wanted = extract.columns.model_dump()
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        for key, labels in wanted.items():
            if header.casefold() in (label.casefold() for label in labels) and key not in found:
                found[key] = index
    missing = [k for k in wanted if k not in found]
    if missing:
        raise _drift(f"columns {missing} not found among headers {headers}")
    return found


def _number(pattern: str, text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    match = re.search(pattern, text, re.IGNORECASE)
    if not match:
        raise _drift(f"cannot read a number from {text!r}")
    return tuple(int(g.replace(",", "")) for g in match.groups())


def parse_page(raw: RawPage, selectors: SelectorSet, login_email: str | None) -> ParsedPage:
    """Validate one page of raw rows into Members. Raises PageNotRecognised on anything odd."""
    ex = selectors.extract
    if not raw.table_found:
        raise _drift("no member table on the page", raw)
    cols = _columns(raw.headers, ex)
    if not raw.rows:
        # The signed-in viewer is always a member, so an empty table is never a real roster.
        raise _drift("the table has no rows", raw)
    members: list[Member] = []
    seen: set[str] = set()
    for index, row in enumerate(raw.rows, start=1):
        if len(row.cells) <= max(cols.values()):
            raise _drift(f"row {index} has {len(row.cells)} cells, fewer than the headers", raw)
        email_text = row.cells[cols["email"]].text
        name_cell = row.cells[cols["name"]]
        name = name_cell.name_text if name_cell.name_text is not None else name_cell.text
        role_cell = row.cells[cols["role"]]
        role_label = role_cell.select_text or role_cell.text
        status_label = row.cells[cols["status"]].text
        if role_label not in ex.roles:
            raise _drift(f"row {index}: unknown role label {role_label!r}", raw)
        if status_label not in ex.statuses:
            raise _drift(f"row {index}: unknown status label {status_label!r}", raw)
        try:
            member = Member(
                email=email_text,
                name=None if name in ex.text.no_name else name,
                role=Role(ex.roles[role_label]),
                status=Status(ex.statuses[status_label]),
                invoice_admin=row.invoice_admin,
                is_self=row.self_marker
                or (login_email is not None and email_text.strip().lower() == login_email),
            )
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise _drift(f"row {index}: {field}: {problem['msg']}", raw) from None
        if member.email in seen:
            raise _drift(f"row {index}: {member.email} appears twice on one page", raw)
        seen.add(member.email)
        members.append(member)

    if ex.text.require_member_count and not raw.member_count_text:
        raise _drift("no member count on the page: nothing proves every page was read", raw)
    count = _number(ex.text.member_count_pattern, raw.member_count_text)
    status = _number(ex.text.page_status_pattern, raw.page_status_text)
    page_number, page_total = (status[0], status[1]) if status else (None, None)
    if status and (page_number < page_total) != raw.next_enabled:  # type: ignore[operator]
        raise _drift(f"{raw.page_status_text!r} disagrees with the Next button", raw)
    return ParsedPage(
        members=members,
        member_count=count[0] if count else None,
        page_number=page_number,
        page_total=page_total,
        has_next=raw.next_enabled,
    )


class MembersView:
    """The member list as shown in the browser right now."""

    def __init__(self, page: Page, selectors: SelectorSet, app_origin: str | None = None) -> None:
        self.page = page
        self.selectors = selectors
        css = selectors.css_alternatives
        self._state_arg: dict[str, Any] = {
            "sel": selectors.extract.model_dump(),
            "container": css("members_container"),
            "signin": [
                *css("signin_email"),
                *css("signin_password"),
                *css("signin_totp"),
                *css("sso_marker"),
            ],
            # Any other origin (an identity provider, a login host) means we were signed out.
            "app_origin": app_origin,
        }

    async def settled(self, previous: str | None, timeout_ms: float) -> Settled | None:
        """Wait for the list to be ready (and different from `previous`), an error, or sign-in."""
        arg = {**self._state_arg, "previous": previous}
        try:
            handle = await self.page.wait_for_function(ROSTER_STATE_JS, arg=arg, timeout=timeout_ms)
        except PlaywrightTimeout:
            return None
        return Settled.model_validate(await handle.json_value())

    async def read(self) -> RawPage:
        data = await self.page.evaluate(EXTRACT_JS, self.selectors.extract.model_dump())
        return RawPage.model_validate(data)

    async def rows(self) -> Locator:
        """The member rows, in page order (the same order `read` returns them in)."""
        ex = self.selectors.extract
        for table_css in ex.table:
            table = self.page.locator(table_css)
            if await table.count():
                for row_css in ex.row:
                    rows = table.first.locator(row_css)
                    if await rows.count():
                        return rows
        raise _drift("the member rows went away")

    async def click_next(self) -> None:
        for css in self.selectors.extract.next_button:
            button = self.page.locator(css)
            if await button.count():
                await button.first.click()
                return
        raise _drift("the Next button went away")

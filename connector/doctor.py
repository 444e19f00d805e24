"""Selector health: sign in from scratch, visit every page the connector uses, and check every
element it would use there: found, missing, or ambiguous, and which alternative matched.

It makes no writes. After sign-in every request that is not a GET is aborted in the browser
(StitchUI.block_writes), so even a rehearsal (open the Deactivate dialog, then Cancel: the row
controls' own clicks) cannot reach Stitch. Doctor clicks nothing itself.
"""

from __future__ import annotations

from typing import Literal

from playwright.async_api import Locator, Page
from pydantic import BaseModel

from connector.errors import PageNotRecognised
from connector.logs import get_logger
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import Match, resolve
from connector.stitch.members import MembersView
from connector.stitch.read_page import columns_of, parse_page
from connector.stitch.row_actions import Sighting
from connector.stitch.ui import StitchUI

log = get_logger(__name__)

CheckStatus = Literal["found", "missing", "ambiguous"]

# The elements each sign-in step uses (what SignIn would touch on that page).
_SIGNIN_USES: dict[str, tuple[ElementName, ...]] = {
    "signin-email": ("signin_email", "signin_continue"),
    "signin-password": ("signin_password", "signin_password_submit"),
    "signin-totp": ("signin_totp", "signin_totp_submit"),
    "signin-sso": ("sso_marker",),
}


class ElementCheck(BaseModel):
    page: str
    element: str
    required: bool
    status: CheckStatus
    matched: str | None = None  # the alternative that matched
    count: int = 0
    detail: str | None = None  # what was read, or why it could not be


class DoctorReport(BaseModel):
    checks: list[ElementCheck]
    blocked_writes: list[str] = []  # requests the write guard aborted (should stay empty)

    @property
    def ok(self) -> bool:
        return not [c for c in self.checks if c.required and c.status != "found"]


class Doctor:
    def __init__(self, selectors: SelectorSet) -> None:
        self.selectors = selectors
        self.checks: list[ElementCheck] = []
        self.blocked: list[str] = []

    # ---------------------------------------------------------------- checks
    async def element(
        self, scope: Page | Locator, page: str, name: ElementName, *, required: bool = True
    ) -> Locator | None:
        """Check one element on this page; ambiguous when its first matching alternative
        matches more than one visible element."""
        match = await resolve(scope, self.selectors, name)
        if match is None:
            self.checks.append(
                ElementCheck(page=page, element=name, required=required, status="missing")
            )
            return None
        status: CheckStatus = "ambiguous" if match.count > 1 else "found"
        self.checks.append(
            ElementCheck(
                page=page,
                element=name,
                required=required,
                status=status,
                matched=match.alternative.describe(),
                count=match.count,
            )
        )
        return match.locator

    def finding(
        self, page: str, element: str, ok: bool, detail: str | None = None, *, required: bool = True
    ) -> None:
        """A check that is not one element: a page read as a whole, a cross-check, a text."""
        self.checks.append(
            ElementCheck(
                page=page,
                element=element,
                required=required,
                status="found" if ok else "missing",
                detail=detail,
            )
        )

    # ---------------------------------------------------------------- pages
    async def observe(self, label: str, page: Page) -> None:
        """The connector's observer hook: called on each page before the connector acts."""
        if label in _SIGNIN_USES:
            for name in _SIGNIN_USES[label]:
                await self.element(page, label, name)
        elif label.startswith("members-p"):
            await self.members_page(page, label)

    async def members_page(self, page: Page, label: str) -> None:
        """Read this page of the list as the connector does, and name what it could not read."""
        if await self.element(page, label, "members_container") is None:
            return
        raw = await MembersView(page, self.selectors).read()
        for table in [t for t in raw.tables if t.headers][:1]:
            try:
                found = columns_of(table.headers, self.selectors.extract)
            except PageNotRecognised as exc:
                self.finding(label, exc.element or "extract.columns", False, str(exc))
                continue
            for key in ("name", "email", "role", "status", "member", "invoice_admin"):
                optional = key in ("member", "invoice_admin", "name")
                if key in found or not optional:
                    self.finding(
                        label,
                        f"extract.columns.{key}",
                        key in found,
                        f"column {found[key] + 1}" if key in found else "no header means this",
                        required=not optional,
                    )
        try:
            parsed = parse_page(raw, self.selectors, None)
        except PageNotRecognised as exc:
            self.finding(label, exc.element or "extract", False, str(exc))
            return
        self.finding(
            label,
            "extract (this page)",
            True,
            f"{len(parsed.members)} rows; count {parsed.member_count}; next {parsed.has_next}",
        )

    async def navigation(self, clicked: list[Match]) -> None:
        """The user menu and settings item, as the navigation found and clicked them."""
        by_name = {m.element: m for m in clicked}
        for name in ("app_user_menu", "app_settings_item"):
            match = by_name.get(name)
            self.checks.append(
                ElementCheck(
                    page="app",
                    element=name,
                    required=True,
                    status="found" if match else "missing",
                    matched=match.alternative.describe() if match else None,
                    count=match.count if match else 0,
                )
            )

    # ---------------------------------------------------------------- row actions
    async def row_actions(self, ui: StitchUI, wanted: str | None, rehearse: bool) -> None:
        """The controls a removal uses, on the row of `wanted` (on whichever page it is); with
        `rehearse`, the confirm dialog too, which must name the member. The row controls do the
        clicking (the same ones a removal makes); this only records what they saw."""
        label = "members-row"
        try:
            row = await ui.row(wanted) if wanted else None
        except PageNotRecognised as exc:
            self.finding(label, exc.element or f"row {wanted}", False, str(exc))
            return
        if row is None:
            self.finding(
                label, f"row {wanted or '(any)'}", False, "not on any page", required=rehearse
            )
            return
        for seen in await row.rehearse(open_dialog=rehearse):
            self.checks.append(_check(seen))

    def report(self) -> DoctorReport:
        return DoctorReport(checks=self.checks, blocked_writes=self.blocked)


def _check(seen: Sighting) -> ElementCheck:
    status: CheckStatus = (
        "missing" if not seen.found else "ambiguous" if seen.count > 1 else "found"
    )
    return ElementCheck(
        page="members-row" if seen.where == "row" else "confirm-dialog",
        element=seen.element,
        required=seen.required,
        status=status,
        matched=seen.matched,
        count=seen.count,
        detail=seen.detail,
    )

"""Selector health: sign in from scratch, visit every page the connector uses, and check every
element it would use there: found, missing, or ambiguous, and which alternative matched.

It makes no writes. After sign-in every request that is not a GET is aborted in the browser,
so even a rehearsal (open the Deactivate dialog, then Cancel) cannot reach Stitch.
"""

from __future__ import annotations

from typing import Literal

from playwright.async_api import Locator, Page, Route
from pydantic import BaseModel

from connector.errors import PageNotRecognised
from connector.logs import get_logger
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import Match, resolve, wait_for_first
from connector.stitch.members import MembersView
from connector.stitch.read_page import columns_of, parse_page
from connector.stitch.row_actions import RowActions

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

    # ---------------------------------------------------------------- writes guard
    async def block_writes(self, route: Route) -> None:
        if route.request.method in ("GET", "HEAD", "OPTIONS"):
            await route.fallback()
            return
        self.blocked.append(f"{route.request.method} {route.request.url.split('?', 1)[0]}")
        log.warning("doctor.write_blocked", method=route.request.method)
        await route.abort()

    # ---------------------------------------------------------------- row actions
    async def row_actions(
        self,
        page: Page,
        rows: RowActions,
        wanted: str | None,
        rehearse: bool,
        timeout_ms: float,
    ) -> None:
        """The controls a removal uses, on the row of `wanted` (on whichever page it is); with
        `rehearse`, the confirm dialog too, which must name the member."""
        label = "members-row"
        try:
            found = await rows.find_row(wanted) if wanted else None
        except PageNotRecognised as exc:
            self.finding(label, exc.element or f"row {wanted}", False, str(exc))
            return
        if found is None:
            self.finding(
                label, f"row {wanted or '(any)'}", False, "not on any page", required=rehearse
            )
            return
        row = found[0]
        direct = await self.element(row, label, "row_deactivate_button", required=False)
        menu = None if direct else await self.element(row, label, "row_menu_button")
        if menu is not None:
            await menu.click()
            shown = await wait_for_first(page, self.selectors, ("menu_deactivate",), timeout_ms)
            item = await self.element(page, label, "menu_deactivate") if shown else None
            if item is None and shown is None:
                offered = await page.get_by_role("menuitem").filter(visible=True).all_inner_texts()
                self.finding(
                    label,
                    "menu_deactivate",
                    False,
                    f"the row menu offers {[' '.join(t.split()) for t in offered]}",
                )
            if rehearse and item is not None:
                await item.click()
                await self._dialog(page, wanted or "", timeout_ms)
            else:
                await page.keyboard.press("Escape")
        elif direct is not None and rehearse:
            await direct.click()
            await self._dialog(page, wanted or "", timeout_ms)

    async def _dialog(self, page: Page, email: str, timeout_ms: float) -> None:
        label = "confirm-dialog"
        shown = await wait_for_first(page, self.selectors, ("confirm_dialog",), timeout_ms)
        dialog = await self.element(page, label, "confirm_dialog") if shown else None
        if dialog is None:
            if shown is None:
                self.finding(label, "confirm_dialog", False, "no dialog after Deactivate")
            return
        text = " ".join((await dialog.inner_text()).split())
        self.finding(
            label,
            "confirm_dialog names the member",
            email in text.lower(),
            None if email in text.lower() else f"the dialog says {text[:200]!r}",
        )
        await self.element(dialog, label, "confirm_deactivate")
        dismiss = await self.element(dialog, label, "dialog_dismiss")
        if dismiss is not None:
            await dismiss.click()
            await dialog.wait_for(state="hidden", timeout=timeout_ms)

    def report(self) -> DoctorReport:
        return DoctorReport(checks=self.checks, blocked_writes=self.blocked)

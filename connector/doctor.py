"""Selector health: sign in from scratch, visit every page the connector uses, and check every
element it would use there: found, missing, or ambiguous, and which alternative matched.

It makes no writes. After sign-in every request that is not a GET is aborted in the browser,
so even a rehearsal (open the Deactivate dialog, then Cancel) cannot reach Stitch.
"""

from __future__ import annotations

from typing import Literal

from playwright.async_api import Locator, Page, Route
from pydantic import BaseModel

from connector.logs import get_logger
from connector.models import Status
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import Match, resolve, wait_for_first
from connector.stitch.members import MembersView, parse_page

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

    async def css(
        self,
        page: Page,
        where: str,
        name: str,
        options: tuple[str, ...],
        *,
        required: bool = True,
        many: bool = False,
    ) -> None:
        """An [extract] entry: the first CSS alternative with any match."""
        for css in options:
            count = await page.locator(css).count()
            if count:
                ambiguous = count > 1 and not many
                self.checks.append(
                    ElementCheck(
                        page=where,
                        element=f"extract.{name}",
                        required=required,
                        status="ambiguous" if ambiguous else "found",
                        matched=f"css={css}",
                        count=count,
                    )
                )
                return
        self.checks.append(
            ElementCheck(page=where, element=f"extract.{name}", required=required, status="missing")
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
        ex = self.selectors.extract
        await self.element(page, label, "members_container")
        await self.css(page, label, "table", ex.table)
        await self.css(page, label, "header_cell", ex.header_cell, many=True)
        await self.css(page, label, "row", ex.row, many=True)
        await self.css(page, label, "name_text", ex.name_text, many=True)
        await self.css(page, label, "self_marker", ex.self_marker)
        await self.css(
            page, label, "member_count", ex.member_count, required=ex.text.require_member_count
        )
        paginated = any([await page.locator(c).count() for c in ex.page_status])
        await self.css(page, label, "page_status", ex.page_status, required=False)
        await self.css(page, label, "next_button", ex.next_button, required=paginated)

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
        view: MembersView,
        login_email: str | None,
        rehearse: str | None,
        timeout_ms: float,
    ) -> None:
        """The controls a removal uses, on one row; with `rehearse`, the confirm dialog too."""
        label = "members-row"
        parsed = parse_page(await view.read(), self.selectors, login_email)
        wanted = rehearse or next(
            (m.email for m in parsed.members if not m.is_self and m.status is Status.ACTIVE), None
        )
        index = next((i for i, m in enumerate(parsed.members) if m.email == wanted), None)
        if index is None:
            self.checks.append(
                ElementCheck(
                    page=label,
                    element=f"row {wanted or '(any)'}",
                    required=bool(rehearse),
                    status="missing",
                )
            )
            return
        row = (await view.rows()).nth(index)
        direct = await self.element(row, label, "row_deactivate_button", required=False)
        menu = None if direct else await self.element(row, label, "row_menu_button")
        if menu is not None:
            await menu.click()
            found = await wait_for_first(page, self.selectors, ("menu_deactivate",), timeout_ms)
            item = await self.element(page, label, "menu_deactivate") if found else None
            if item is None:
                self.checks.append(
                    ElementCheck(
                        page=label, element="menu_deactivate", required=True, status="missing"
                    )
                )
            if rehearse and item is not None:
                await item.click()
                await self._dialog(page, timeout_ms)
            else:
                await page.keyboard.press("Escape")
        elif direct is not None and rehearse:
            await direct.click()
            await self._dialog(page, timeout_ms)

    async def _dialog(self, page: Page, timeout_ms: float) -> None:
        label = "confirm-dialog"
        shown = await wait_for_first(page, self.selectors, ("confirm_dialog",), timeout_ms)
        dialog = await self.element(page, label, "confirm_dialog") if shown else None
        if dialog is None:
            self.checks.append(
                ElementCheck(page=label, element="confirm_dialog", required=True, status="missing")
            )
            return
        await self.element(dialog, label, "confirm_deactivate")
        dismiss = await self.element(dialog, label, "dialog_dismiss")
        if dismiss is not None:
            await dismiss.click()
            await dialog.wait_for(state="hidden", timeout=timeout_ms)

    def report(self) -> DoctorReport:
        return DoctorReport(checks=self.checks, blocked_writes=self.blocked)

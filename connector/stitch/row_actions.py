"""Row actions on the member list: find one member's row, then Deactivate or Cancel invitation.

This module clicks; it does not decide. It reports what the page showed after the click
(a success banner, an error banner, or nothing in time) and leaves the verdict to removal.py,
which proves it with a fresh read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from playwright.async_api import Locator, Page

from connector.artifacts import RunArtifacts
from connector.errors import PageNotRecognised, SessionExpired, TransientFailure
from connector.logs import get_logger
from connector.models import Action, Member
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import resolve, wait_for_first
from connector.stitch.members import MembersView, parse_page

log = get_logger(__name__)

# "cancelled": we cancelled the confirm dialog ourselves (it did not name the member), so
# nothing was confirmed and nothing can have changed. "signed_out": the app answered the write
# by sending us to sign in (its session had ended): it refused the write before acting.
Shown = Literal["success", "error", "nothing", "cancelled", "signed_out"]

_STEPS: dict[Action, tuple[ElementName, ElementName, ElementName]] = {
    # action: (button on the row itself [legacy], item in the row's ⋮ menu, confirm button)
    Action.DEACTIVATE: ("row_deactivate_button", "menu_deactivate", "confirm_deactivate"),
    Action.CANCEL_INVITATION: (
        "row_cancel_invitation_button",
        "menu_cancel_invitation",
        "confirm_cancel_invitation",
    ),
}


@dataclass(frozen=True)
class AfterClick:
    shown: Shown
    text: str | None
    expected_text: bool  # the success banner says exactly what the selectors promise


class RowActions:
    def __init__(
        self,
        page: Page,
        selectors: SelectorSet,
        view: MembersView,
        artifacts: RunArtifacts,
        *,
        timeout_ms: float,
        write_timeout_ms: float,
        login_email: str | None,
    ) -> None:
        self.page = page
        self.selectors = selectors
        self.view = view
        self.artifacts = artifacts
        self.timeout_ms = timeout_ms
        self.write_timeout_ms = write_timeout_ms
        self.login_email = login_email

    async def find_row(self, email: str) -> tuple[Locator, Member] | None:
        """Walk the list from the page shown now; the row whose email is exactly `email`."""
        previous: str | None = None
        while True:
            settled = await self.view.settled(previous, self.timeout_ms)
            if settled is None:
                why = await self.view.waiting_for(previous)
                raise PageNotRecognised(
                    f"the member list did not load while looking for a row: {why.text}",
                    element=why.element,
                )
            if settled.state == "signin":
                raise SessionExpired("signed out while looking for a row")
            if settled.state == "error":
                raise TransientFailure(f"the member list failed to load: {settled.text}")
            parsed = parse_page(await self.view.read([email]), self.selectors, self.login_email)
            member = next((m for m in parsed.members if m.email == email), None)
            if member is not None:
                row = await self.view.row_for(email)
                await self._check_row(row, email)
                return row, member
            if email in parsed.mentioned:
                raise PageNotRecognised(
                    f"the list shows {email} but no row for it could be read", element="extract.row"
                )
            if not parsed.has_next:
                return None
            await self.view.click_next()
            previous = settled.signature

    async def _check_row(self, row: Locator, email: str) -> None:
        """Before acting: the row under the cursor shows this email."""
        if email not in (await row.inner_text()).lower():
            raise PageNotRecognised(
                f"the row found for {email} does not show that email", element="extract.row"
            )

    async def act(
        self, row: Locator, email: str, action: Action, on_commit: Callable[[], None]
    ) -> AfterClick:
        """Click through. `on_commit` runs just before the first click that may change
        something (with no confirm dialog, the menu item itself removes the member)."""
        row_button, menu_item, confirm = _STEPS[action]
        direct = await resolve(row, self.selectors, row_button)
        if direct is not None:
            on_commit()
            await direct.locator.click()
        else:
            menu = await resolve(row, self.selectors, "row_menu_button")
            if menu is None:
                raise PageNotRecognised(f"no {action.value} control on the row of {email}")
            await menu.locator.click()
            if (
                await wait_for_first(self.page, self.selectors, (menu_item,), self.timeout_ms)
                is None
            ):
                raise PageNotRecognised(f"the row menu of {email} has no {menu_item}")
            item = await resolve(self.page, self.selectors, menu_item)
            assert item is not None
            on_commit()
            await item.locator.click()
        log.info("row.clicked", email=email, action=action.value)

        first = await wait_for_first(
            self.page,
            self.selectors,
            ("confirm_dialog", "banner_success", "banner_error"),
            self.write_timeout_ms,
        )
        if first == "confirm_dialog":
            refused = await self._confirm(email, confirm)
            if refused is not None:
                return AfterClick("cancelled", refused, False)
        return await self._after(action)

    async def _confirm(self, email: str, confirm: ElementName) -> str | None:
        """Confirm the dialog, if it is about this member; else cancel it and say why."""
        dialog = await resolve(self.page, self.selectors, "confirm_dialog")
        assert dialog is not None
        # The dialog must be about this member: never confirm someone else's removal.
        if email not in (await dialog.locator.inner_text()).lower():
            reason = f"the confirm dialog does not name {email}"
        elif (button := await resolve(dialog.locator, self.selectors, confirm)) is None:
            reason = f"the confirm dialog has no '{confirm}' button"
        else:
            await button.locator.click()
            log.info("row.confirmed", email=email)
            return None
        dismiss = await resolve(dialog.locator, self.selectors, "dialog_dismiss")
        if dismiss is None:
            raise PageNotRecognised(f"{reason}, and no way to cancel it", element="dialog_dismiss")
        await dismiss.locator.click()
        await dialog.locator.wait_for(state="hidden", timeout=self.timeout_ms)
        log.warning("row.dialog_cancelled", email=email, reason=reason)
        return reason

    async def _after(self, action: Action) -> AfterClick:
        shown = await wait_for_first(
            self.page,
            self.selectors,
            ("banner_success", "banner_error", "signin_email", "signin_password"),
            self.write_timeout_ms,
        )
        if shown is None:
            return AfterClick("nothing", None, False)
        if shown in ("signin_email", "signin_password"):
            return AfterClick("signed_out", "the session had ended: Stitch asked to sign in", False)
        match = await resolve(self.page, self.selectors, shown)
        text = " ".join(((await match.locator.inner_text()) if match else "").split())
        if shown == "banner_error":
            return AfterClick("error", text, False)
        promised = (
            self.selectors.banners.deactivated
            if action is Action.DEACTIVATE
            else self.selectors.banners.invitation_cancelled
        )
        return AfterClick("success", text, text in promised)

    async def evidence(self, target: Locator | Page, label: str) -> str | None:
        try:
            path = self.artifacts.path(label, ".png")
            await target.screenshot(path=str(path), timeout=10_000)
            return str(path)
        except Exception as err:  # evidence is best effort; the verdict comes from a fresh read
            log.warning("evidence.screenshot_failed", label=label, error=str(err))
            return None

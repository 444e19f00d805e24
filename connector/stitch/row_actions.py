"""Row actions on the member list: find one member's row, then Deactivate or Cancel invitation,
or rehearse a Deactivate for doctor (the same clicks, the dialog cancelled).

This module clicks; it does not decide. It reports what the page showed after the click
(a success banner, an error banner, or nothing in time) and leaves the verdict to removal.py,
which proves it with a fresh read. Each click of a removal lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.async_api import Locator, Page

from connector.errors import PageNotRecognised, SessionExpired, TransientFailure
from connector.logs import get_logger
from connector.members_ui import AfterClick
from connector.models import Action, Member
from connector.selector_set import ElementName
from connector.stitch.after_write import wait_after
from connector.stitch.checks import Sighting, sight
from connector.stitch.context import PageContext
from connector.stitch.locate import resolve, wait_for_first
from connector.stitch.members import MembersView, ParsedPage, parse_page

log = get_logger(__name__)

_ROW, _DIALOG = "members-row", "confirm-dialog"  # doctor's page labels for what it saw
_NO_DIALOG = "no dialog after Deactivate"

_STEPS: dict[Action, tuple[ElementName, ElementName, ElementName | None]] = {
    # action: (button on the row itself [legacy], item in the row's ⋮ menu, confirm button)
    Action.DEACTIVATE: ("row_deactivate_button", "menu_deactivate", "confirm_deactivate"),
    Action.CANCEL_INVITATION: (
        "row_cancel_invitation_button",
        "menu_cancel_invitation",
        "confirm_cancel_invitation",
    ),
    # No confirmation is expected: a dialog that comes anyway is cancelled, not confirmed.
    Action.REACTIVATE: ("row_reactivate_button", "menu_reactivate", None),
    Action.RESEND_INVITATION: ("row_resend_invitation_button", "menu_resend_invitation", None),
}


class RowActions:
    def __init__(self, ctx: PageContext, view: MembersView) -> None:
        self.page = ctx.page
        self.selectors = ctx.selectors
        self.view = view
        self.artifacts = ctx.artifacts
        self.timeout_ms = ctx.settings.timeout_ms
        self.write_timeout_ms = ctx.settings.write_timeout_ms
        self.login_email = ctx.settings.email

    async def find_row(
        self, email: str, shown: ParsedPage | None = None
    ) -> tuple[Locator, Member] | None:
        """Walk the list from the page shown now; the row whose email is exactly `email`.
        `shown`: that page as a read parsed it a moment ago (nothing clicked since); a row on
        it is taken from there, checked on the page as ever, without reading it again."""
        member = next((m for m in shown.members if m.email == email), None) if shown else None
        if member is not None:
            row = await self.view.row_for(email)
            await self._check_row(row, email)
            return row, member
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
        _, menu_item, confirm = _STEPS[action]
        control, menu_open = await self._control(row, action, None)
        if control is None:
            if menu_open:
                raise PageNotRecognised(f"the row menu of {email} has no {menu_item}")
            raise PageNotRecognised(f"no {action.value} control on the row of {email}")
        await self._press(control, on_commit)
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
        return await self._after(action, email)

    async def rehearse(self, row: Locator, email: str, *, open_dialog: bool) -> list[Sighting]:
        """Doctor's dry walk of a Deactivate, reporting every element looked for: the row's
        control (menu and item); with `open_dialog`, press it, check the confirm dialog names
        the member, and Cancel it. The caller blocks writes: with no dialog, the press sends."""
        seen: list[Sighting] = []
        control, menu_open = await self._control(row, Action.DEACTIVATE, seen)
        if control is None or not open_dialog:
            if menu_open:
                await self.page.keyboard.press("Escape")  # close the menu: nothing chosen
            return seen
        await self._press(control, lambda: None)
        shown = await wait_for_first(
            self.page, self.selectors, ("confirm_dialog",), self.write_timeout_ms
        )
        dialog = await self._look(self.page, "confirm_dialog", seen, _DIALOG) if shown else None
        if dialog is None:
            if shown is None:
                seen.append(Sighting(_DIALOG, "confirm_dialog", False, detail=_NO_DIALOG))
            return seen
        text = " ".join((await dialog.inner_text()).split())
        named = email in text.lower()
        detail = None if named else f"the dialog says {text[:200]!r}"
        seen.append(Sighting(_DIALOG, "confirm_dialog names the member", named, detail=detail))
        await self._look(dialog, "confirm_deactivate", seen, _DIALOG)
        dismiss = await self._look(dialog, "dialog_dismiss", seen, _DIALOG)
        if dismiss is not None:
            await self._dismiss(dialog, dismiss)
        return seen

    async def _control(
        self, row: Locator, action: Action, seen: list[Sighting] | None
    ) -> tuple[Locator | None, bool]:
        """The control that asks Stitch to act: the row's own button [legacy], or the item of
        the row's ⋮ menu (opened here). None when there is none; and whether the menu is open."""
        row_button, menu_item, _ = _STEPS[action]
        direct = await self._look(row, row_button, seen, _ROW, required=False)
        if direct is not None:
            return direct, False
        menu = await self._look(row, "row_menu_button", seen, _ROW)
        if menu is None:
            return None, False
        await menu.click()
        if await wait_for_first(self.page, self.selectors, (menu_item,), self.timeout_ms) is None:
            if seen is not None:
                offered = (
                    await self.page.get_by_role("menuitem").filter(visible=True).all_inner_texts()
                )
                detail = f"the row menu offers {[' '.join(t.split()) for t in offered]}"
                seen.append(Sighting(_ROW, menu_item, False, detail=detail))
            return None, True
        return await self._look(self.page, menu_item, seen, _ROW), True

    async def _press(self, control: Locator, on_commit: Callable[[], None]) -> None:
        """The one click that may change Stitch: `on_commit` first (it may raise: no click)."""
        on_commit()
        await control.click()

    async def _look(
        self,
        scope: Locator | Page,
        name: ElementName,
        seen: list[Sighting] | None,
        page: str,
        *,
        required: bool = True,
    ) -> Locator | None:
        """Resolve an element; a rehearsal (`seen`) also notes what matched."""
        if seen is None:
            match = await resolve(scope, self.selectors, name)
            return match.locator if match else None
        return await sight(scope, self.selectors, name, page, seen.append, required=required)

    async def _confirm(self, email: str, confirm: ElementName | None) -> str | None:
        """Confirm the dialog, if it is about this member; else cancel it and say why."""
        dialog = await resolve(self.page, self.selectors, "confirm_dialog")
        assert dialog is not None
        # The dialog must be about this member: never confirm someone else's removal.
        if confirm is None:
            reason = "a dialog this action does not expect"
        elif email not in (await dialog.locator.inner_text()).lower():
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
        await self._dismiss(dialog.locator, dismiss.locator)
        log.warning("row.dialog_cancelled", email=email, reason=reason)
        return reason

    async def _dismiss(self, dialog: Locator, dismiss: Locator) -> None:
        """Cancel the confirm dialog and wait for it to close: nothing was confirmed."""
        await dismiss.click()
        await dialog.wait_for(state="hidden", timeout=self.timeout_ms)

    async def _after(self, action: Action, email: str) -> AfterClick:
        banners = self.selectors.banners
        texts = {
            Action.DEACTIVATE: banners.deactivated,
            Action.CANCEL_INVITATION: banners.invitation_cancelled,
            Action.REACTIVATE: banners.reactivated,
            Action.RESEND_INVITATION: banners.invitation_resent,
        }[action]
        return await wait_after(self.page, self.selectors, self.write_timeout_ms, texts, email)

    async def evidence(self, target: Locator | Page, label: str) -> str | None:
        try:
            path = self.artifacts.path(label, ".png")
            await target.screenshot(path=str(path), timeout=10_000)
            return str(path)
        except Exception as err:  # evidence is best effort; the verdict comes from a fresh read
            log.warning("evidence.screenshot_failed", label=label, error=str(err))
            return None

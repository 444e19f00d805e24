"""The clicks that give access: the Add a Team Member form, and a row's role dropdown.

Like row_actions.py, this module clicks and does not decide: it reports what the page showed
after the write (a success banner, an error banner or the form's inline error, or nothing in
time) and leaves the verdict to grant.py, which proves it with a fresh read.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import Locator
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.errors import PageNotRecognised
from connector.logs import get_logger
from connector.members_ui import AfterClick, Invitation
from connector.models import Role
from connector.selector_set import SelectorSet
from connector.stitch.after_write import SHOWN_AFTER, read_after, wait_after, words
from connector.stitch.context import PageContext
from connector.stitch.locate import resolve, union, wait_for_first

log = get_logger(__name__)


class GrantActions:
    def __init__(self, ctx: PageContext) -> None:
        self.page = ctx.page
        self.selectors: SelectorSet = ctx.selectors
        self.timeout_ms = ctx.settings.timeout_ms
        self.write_timeout_ms = ctx.settings.write_timeout_ms

    async def invite(self, invitation: Invitation, on_commit: Callable[[], None]) -> AfterClick:
        """Open the form, fill it, send it; what the page showed. The list must be shown."""
        add = await resolve(self.page, self.selectors, "add_member_button")
        if add is None:
            raise PageNotRecognised(
                "no Add a Team Member control on the member list (is the login an Administrator?)",
                element="add_member_button",
            )
        if await add.locator.is_disabled():
            why = await add.locator.get_attribute("title") or "the control is disabled"
            return AfterClick("error", words(why), False)  # nothing sent: a seat limit, say
        await add.locator.click()
        dialog = await self._dialog()
        await self._fill(dialog, invitation)
        send = await resolve(dialog, self.selectors, "send_invitation")
        if send is None:
            raise PageNotRecognised(
                "the invite form has no Send Invitation", element="send_invitation"
            )
        on_commit()
        await send.locator.click()
        log.info("invite.sent", email=invitation.email, role=invitation.role.value)
        return await self._after_invite(dialog, invitation.email)

    async def _dialog(self) -> Locator:
        if await wait_for_first(self.page, self.selectors, ("invite_dialog",), self.timeout_ms):
            found = await resolve(self.page, self.selectors, "invite_dialog")
            if found is not None:
                return found.locator
        raise PageNotRecognised("Add a Team Member opened no form", element="invite_dialog")

    async def _fill(self, dialog: Locator, invitation: Invitation) -> None:
        """Email, and the name and role where the form asks for them. A role other than the
        default needs the form's role control: without it, nothing is sent."""
        email = await resolve(dialog, self.selectors, "invite_email")
        if email is None:
            raise PageNotRecognised("the invite form has no email field", element="invite_email")
        await email.locator.fill(invitation.email)
        name = await resolve(dialog, self.selectors, "invite_name")
        if name is not None:
            await name.locator.fill(invitation.name or invitation.email.split("@", 1)[0])
        role = await resolve(dialog, self.selectors, "invite_role")
        if role is not None:
            await role.locator.select_option(label=invitation.role.value)
        elif invitation.role is not Role.GENERAL_USER:
            await self._close(dialog)
            raise PageNotRecognised(
                "this invite form has no Role field: invite as General User, then set the role",
                element="invite_role",
            )

    async def _after_invite(self, dialog: Locator, email: str) -> AfterClick:
        """The form's inline error counts as an error banner; the form is then closed."""
        inline = (
            union(dialog, self.selectors.element("invite_error"))
            .filter(visible=True)
            .filter(has_text=re.compile(r"\S"))
        )
        shown = await self._first_of(inline)
        if shown == "inline":
            text = words(await inline.first.inner_text())
            await self._close(dialog)
            return AfterClick("error", text, False)
        texts = self.selectors.banners.invited
        after = await read_after(self.page, self.selectors, shown, texts, email)
        if after.shown == "error" and await dialog.is_visible():
            await self._close(dialog)
        return after

    async def _first_of(self, inline: Locator) -> str | None:
        """Whichever shows first after Send Invitation: the form's inline error, a banner, or
        the sign-in page; None when nothing does within the write timeout."""
        combined = inline
        for name in SHOWN_AFTER:
            combined = combined.or_(union(self.page, self.selectors.element(name)))
        try:
            await combined.first.wait_for(state="visible", timeout=self.write_timeout_ms)
        except PlaywrightTimeout:
            return None
        if await inline.count():
            return "inline"
        for name in SHOWN_AFTER:
            if await resolve(self.page, self.selectors, name) is not None:
                return name
        return None

    async def set_role(
        self, row: Locator, email: str, role: Role, on_commit: Callable[[], None]
    ) -> AfterClick:
        """Pick `role` in the row's dropdown, which saves at once [S]."""
        select = await resolve(row, self.selectors, "row_role_select")
        if select is None:
            raise PageNotRecognised(
                f"no role control on the row of {email} (this Stitch sets roles itself, or the "
                "login is not an Administrator)",
                element="row_role_select",
            )
        if await select.locator.is_disabled():
            raise PageNotRecognised(
                f"the role control of {email} is disabled", element="row_role_select"
            )
        on_commit()
        await select.locator.select_option(label=role.value)
        log.info("row.role_picked", email=email, role=role.value)
        texts = self.selectors.banners.role_updated
        return await wait_after(self.page, self.selectors, self.write_timeout_ms, texts, email)

    async def _close(self, dialog: Locator) -> None:
        cancel = await resolve(dialog, self.selectors, "invite_cancel")
        if cancel is not None:
            await cancel.locator.click()
            await dialog.wait_for(state="hidden", timeout=self.timeout_ms)

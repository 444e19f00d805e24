"""The member list in the browser: wait until a page is settled, read it in one round trip, page on.

What the raw page means is decided in read_page.py (pure, tested without a browser). Anything
that does not look like the member list raises PageNotRecognised: never an empty or short roster.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from typing import Any, Literal

from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout
from pydantic import BaseModel

from connector.errors import PageNotRecognised
from connector.selector_set import SelectorSet
from connector.stitch.read_page import ParsedPage, RawPage, parse_page

__all__ = ["MembersView", "ParsedPage", "RawPage", "Settled", "parse_page"]

_JS_DIR = files("connector.stitch")
EXTRACT_JS = _JS_DIR.joinpath("extract.js").read_text(encoding="utf-8")
ROSTER_STATE_JS = _JS_DIR.joinpath("roster_state.js").read_text(encoding="utf-8")
FIND_ROW_JS = _JS_DIR.joinpath("find_row.js").read_text(encoding="utf-8")
# The page comes back as one JSON string: Playwright's own serialisation of a nested result
# (every cell's tokens) cost 50-100 ms a page, five times what extract.js itself takes.
_EXTRACT_AS_JSON = f"(arg) => JSON.stringify(({EXTRACT_JS.strip().rstrip(';')})(arg))"
_POLL_MS = 20  # how often the settle check runs while waiting (1-2 ms of the page each time)


class Settled(BaseModel):
    state: Literal["ready", "error", "signin", "waiting"]
    signature: str | None = None
    text: str | None = None
    element: str | None = None


def _drift(message: str, element: str | None = None) -> PageNotRecognised:
    return PageNotRecognised(f"member list not recognised: {message}", element=element)


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
            "count_patterns": list(selectors.extract.text.member_count_patterns),
        }

    async def settled(self, previous: str | None, timeout_ms: float) -> Settled | None:
        """Wait for the list to be ready (and different from `previous`), an error, or sign-in.
        None on timeout; `waiting_for` then says what the page never showed."""
        arg = {**self._state_arg, "previous": previous, "diagnose": False}
        try:
            handle = await self.page.wait_for_function(
                ROSTER_STATE_JS, arg=arg, timeout=timeout_ms, polling=_POLL_MS
            )
        except PlaywrightTimeout:
            return None
        return Settled.model_validate(await handle.json_value())

    async def waiting_for(self, previous: str | None) -> Settled:
        """Why the list is not settled right now: what it waits for, and the element."""
        arg = {**self._state_arg, "previous": previous, "diagnose": True}
        return Settled.model_validate(await self.page.evaluate(ROSTER_STATE_JS, arg))

    async def read(self, needles: Iterable[str] = ()) -> RawPage:
        """One page as extract.js sees it; `needles`: emails to look for in the list's text."""
        arg = {
            **self.selectors.extract.model_dump(),
            "container": self.selectors.css_alternatives("members_container"),
            "needles": sorted({n.lower() for n in needles}),
        }
        return RawPage.model_validate_json(await self.page.evaluate(_EXTRACT_AS_JSON, arg))

    async def row_for(self, email: str) -> Locator:
        """The one visible row that shows exactly this email (as an element's whole text, or
        a mailto: link). Zero or several such rows: PageNotRecognised, never a guess."""
        containers = self.selectors.css_alternatives("members_container")
        hits: list[int] = await self.page.evaluate(
            FIND_ROW_JS,
            {"sel": self.selectors.extract.model_dump(), "container": containers, "email": email},
        )
        if len(hits) != 1:
            raise _drift(f"{len(hits)} rows show {email}; expected exactly one", "extract.row")
        for css in containers:
            container = self.page.locator(css)
            if await container.count():
                return container.first.locator(", ".join(self.selectors.extract.row)).nth(hits[0])
        raise _drift("the members area went away", "members_container")

    async def click_next(self) -> None:
        ex = self.selectors.extract
        container = self.page.locator(
            ", ".join(self.selectors.css_alternatives("members_container"))
        )
        for css in ex.next_button:
            button = container.first.locator(css).filter(visible=True)
            if await button.count():
                await button.first.click()
                return
        for label in ex.next_labels:
            for role in ("button", "link"):
                button = container.first.get_by_role(role, name=label, exact=True)
                if await button.filter(visible=True).count():
                    await button.filter(visible=True).first.click()
                    return
        raise _drift("the Next button went away", "extract.next_button")

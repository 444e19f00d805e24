"""What page are we on? One wait that recognises every page state the connector handles.

The sign-in flow and the navigation both start from "where am I", so both use this.
"""

from __future__ import annotations

import time
from typing import Literal

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import resolve, union

PageState = Literal["sso", "totp", "password", "email", "members", "app"]

# Order matters: the first state whose element is visible wins. Legacy sign-in shows email and
# password together, so "password" comes before "email"; the members page also shows app chrome.
_STATES: dict[PageState, ElementName] = {
    "sso": "sso_marker",
    "totp": "signin_totp",
    "password": "signin_password",
    "email": "signin_email",
    "members": "members_container",
    "app": "app_user_menu",
}
_POLL_MS = 250.0  # how long one wait lasts before the URL is looked at again


def sso_url(page: Page, selectors: SelectorSet) -> bool:
    return any(p in page.url for p in selectors.signin.sso_url_patterns)


async def current_state(
    page: Page,
    selectors: SelectorSet,
    timeout_ms: float,
    among: tuple[PageState, ...] = tuple(_STATES),
) -> PageState | None:
    """Wait until a known page state shows; None if none did within the timeout."""
    names = [_STATES[s] for s in among]
    combined = union(page, selectors.element(names[0]))
    for name in names[1:]:
        combined = combined.or_(union(page, selectors.element(name)))
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        # An identity provider's page has none of our elements: recognise it by URL, at once.
        if "sso" in among and sso_url(page, selectors):
            return "sso"
        remaining = (deadline - time.monotonic()) * 1000
        if remaining <= 0:
            return None
        try:
            await combined.first.wait_for(state="visible", timeout=min(_POLL_MS, remaining))
        except PlaywrightTimeout:
            continue
        for state in among:
            if await resolve(page, selectors, _STATES[state]) is not None:
                return state
        # The page changed between the wait and the look (a navigation): look again.

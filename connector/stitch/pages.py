"""What page are we on? One wait that recognises every page state the connector handles.

The sign-in flow and the navigation both start from "where am I", so both use this. An
interruption (a cookie banner, a "Stay signed in?" interstitial, a "what's new" modal: the
[interruptions] of the selector file) is a state too, checked first because it can sit on top of
any other; `Interruptions` takes the safe way out of a listed one, and nothing else.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.errors import PageNotRecognised
from connector.logs import get_logger
from connector.selector_set import Alternative, ElementName, SelectorSet, Where
from connector.stitch.locate import locator_for, resolve, union

log = get_logger(__name__)

PageState = Literal["interruption", "sso", "members", "app", "totp", "password", "email"]

# Order matters: the first state whose element is visible wins.
# - An interruption first: it can cover a sign-in form or an app page.
# - Signed-in pages before sign-in steps: app pages can hold an email or password field of their
#   own (Your Profile, an invite dialog), and the sign-in selectors include generic ones.
# - "password" before "email": legacy sign-in shows both together, and step 2 on the login origin
#   shows the email again (read-only) above the password.
# - "members" before "app": the members page also shows the app chrome.
_STATES: dict[PageState, ElementName | None] = {
    "interruption": None,  # the [interruptions] of the selector file
    "sso": "sso_marker",
    "members": "members_container",
    "app": "app_user_menu",
    "totp": "signin_totp",
    "password": "signin_password",
    "email": "signin_email",
}
ALL_STATES: tuple[PageState, ...] = tuple(_STATES)
# The sign-in elements, in the order a reader expects them (named when nothing is recognised).
SIGNIN_ELEMENTS: tuple[ElementName, ...] = (
    "signin_email",
    "signin_password",
    "signin_totp",
    "sso_marker",
)
_POLL_MS = 250.0  # how long one wait lasts before the URL is looked at again
_MAX_DISMISSALS = 3  # per interruption, per Interruptions object (one sign-in, one navigation)
_QUICK_MS = 1_000.0  # a first look at whether something is in the way of a click
_SCOPE_LEVELS = 3  # how far above what `detect` matched a dismiss action is looked for


@dataclass(frozen=True)
class Seen:
    """What is showing: a page state, and for an interruption which one and where."""

    state: PageState | None
    interruption: str | None = None
    detected: Locator | None = None
    matched: Alternative | None = None


def sso_url(page: Page, selectors: SelectorSet) -> bool:
    return any(p in page.url for p in selectors.signin.sso_url_patterns)


def _interruption_names(selectors: SelectorSet, where: Where | None) -> list[str]:
    return [
        name
        for name, spec in selectors.interruptions.items()
        if where is None or where in spec.where
    ]


async def find_interruption(page: Page, selectors: SelectorSet, where: Where | None) -> Seen | None:
    names = _interruption_names(selectors, where)
    if not names:
        return None
    # Most pages show none: one question for all of them before asking one by one.
    every = _union([union_of(page, selectors.interruptions[n].detect) for n in names])
    if not await every.filter(visible=True).count():
        return None
    for name in names:
        for alt in selectors.interruptions[name].detect:
            loc = locator_for(page, alt).filter(visible=True)
            if await loc.count():
                return Seen("interruption", name, loc.first, alt)
    return None


def _union(locators: list[Locator]) -> Locator:
    combined = locators[0]
    for loc in locators[1:]:
        combined = combined.or_(loc)
    return combined


async def look(
    page: Page,
    selectors: SelectorSet,
    timeout_ms: float,
    among: tuple[PageState, ...] = ALL_STATES,
    where: Where | None = None,
) -> Seen:
    """Wait until a known page state shows; state None if none did within the timeout.

    `where` chooses the interruptions looked for ("signin", "app"; None: all of them).
    """
    ordered = list(among)
    watched: list[Locator] = []
    for state in ordered:
        name = _STATES[state]
        if name is not None:
            watched.append(union(page, selectors.element(name)))
        else:
            for iname in _interruption_names(selectors, where):
                watched.append(union_of(page, selectors.interruptions[iname].detect))
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        # An identity provider's page has none of our elements: recognise it by URL, at once.
        if "sso" in ordered and sso_url(page, selectors):
            return Seen("sso")
        remaining = (deadline - time.monotonic()) * 1000
        if remaining <= 0:
            return Seen(None)
        if not watched:  # only interruptions asked for, and none listed here
            return Seen(None)
        try:
            await _union(watched).first.wait_for(state="visible", timeout=min(_POLL_MS, remaining))
        except PlaywrightTimeout:
            continue
        for state in ordered:
            name = _STATES[state]
            if name is None:
                seen = await find_interruption(page, selectors, where)
                if seen is not None:
                    return seen
            elif await resolve(page, selectors, name) is not None:
                return Seen(state)
        # The page changed between the wait and the look (a navigation): look again.


def union_of(scope: Page | Locator, alternatives: tuple[Alternative, ...]) -> Locator:
    return _union([locator_for(scope, alt) for alt in alternatives])


async def current_state(
    page: Page,
    selectors: SelectorSet,
    timeout_ms: float,
    among: tuple[PageState, ...] = ALL_STATES,
    where: Where | None = None,
) -> PageState | None:
    """Wait until a known page state shows; None if none did within the timeout."""
    return (await look(page, selectors, timeout_ms, among, where)).state


def nothing_seen(url: str) -> tuple[str, str]:
    """(element, message) for a page where no state showed: the sign-in elements looked for,
    e.g. "signin_email (and 3 others)", "signin_email (and 3 others) not found on <url> (...)"."""
    first, rest = SIGNIN_ELEMENTS[0], SIGNIN_ELEMENTS[1:]
    element = f"{first} (and {len(rest)} others)"
    app = ", ".join(n for n in _STATES.values() if n is not None and n not in SIGNIN_ELEMENTS)
    return element, (
        f"{element} not found on {url} (looked for {first}, {', '.join(rest)}; "
        f"and for an app page: {app})"
    )


Fail = Callable[[str, str], Awaitable[PageNotRecognised]]  # (message, element) -> the error


class Interruptions:
    """Dismisses listed interruptions the safe way, each at most _MAX_DISMISSALS times."""

    def __init__(
        self, page: Page, selectors: SelectorSet, where: Where, timeout_ms: float, fail: Fail
    ) -> None:
        self.page = page
        self.selectors = selectors
        self.where = where
        self.timeout_ms = timeout_ms
        self.fail = fail
        self.dismissed: Counter[str] = Counter()

    async def dismiss(self, seen: Seen) -> None:
        """Click the first dismiss action of `seen`'s interruption found inside it (or just
        above it), then wait for it to go. Raises PageNotRecognised when there is none, or it
        keeps coming back."""
        name, detected = seen.interruption, seen.detected
        assert name is not None and detected is not None
        element = f"interruptions.{name}"
        if self.dismissed[name] >= _MAX_DISMISSALS:
            raise await self.fail(
                f"the {name} interruption came back after {self.dismissed[name]} dismissals",
                element,
            )
        spec = self.selectors.interruptions[name]
        found = await self._dismiss_action(detected, spec.dismiss)
        if found is None:
            listed = ", ".join(a.describe() for a in spec.dismiss)
            raise await self.fail(
                f"the {name} interruption shows none of its dismiss actions ({listed}): "
                "nothing was clicked",
                element,
            )
        alt, button = found
        self.dismissed[name] += 1
        try:
            await button.click(timeout=self.timeout_ms)
        except PlaywrightTimeout:
            raise await self.fail(
                f"the {name} interruption's {alt.describe()} could not be clicked "
                "(something else covers it)",
                element,
            ) from None
        log.info(
            f"{self.where}.interruption_dismissed",
            interruption=name,
            seen_by=seen.matched.describe() if seen.matched else None,
            matched=alt.describe(),
            times=self.dismissed[name],
        )
        try:
            await detected.wait_for(state="hidden", timeout=self.timeout_ms)
        except PlaywrightTimeout:
            pass  # still there: the next look sees it again and counts it
        except PlaywrightError:
            pass  # its page navigated away: it is gone

    async def make_way(self, locator: Locator) -> bool:
        """Can `locator` be clicked (a trial click: every check, no click)? Listed
        interruptions in the way are dismissed (an async cookie banner shows late); False when
        something else keeps covering it for the whole timeout."""
        return await self._through_interruptions(locator, trial=True)

    async def click(self, locator: Locator) -> bool:
        """Click `locator`; a listed interruption that comes back in the way first is dismissed
        (bounded, as in `make_way`) and the click tried again. Without waiting after the click,
        a timed-out attempt failed its actionability checks and so clicked nothing: trying again
        never clicks twice. False when something unlisted keeps covering it."""
        return await self._through_interruptions(locator, trial=False)

    async def _through_interruptions(self, locator: Locator, *, trial: bool) -> bool:
        while True:
            try:
                await locator.click(
                    trial=trial, timeout=min(_QUICK_MS, self.timeout_ms), no_wait_after=True
                )
                return True
            except PlaywrightTimeout:
                pass
            seen = await find_interruption(self.page, self.selectors, self.where)
            if seen is None:
                break
            await self.dismiss(seen)  # bounded: raises when one keeps coming back
        try:
            await locator.click(trial=trial, timeout=self.timeout_ms, no_wait_after=True)
        except PlaywrightTimeout:
            return False
        return True

    async def _dismiss_action(
        self, detected: Locator, dismiss: tuple[Alternative, ...]
    ) -> tuple[Alternative, Locator] | None:
        scope = detected
        for _ in range(_SCOPE_LEVELS + 1):
            for alt in dismiss:
                loc = locator_for(scope, alt).filter(visible=True)
                try:
                    count = await loc.count()
                except PlaywrightError:  # climbed above the document, or the page went away
                    return None
                if count:
                    return alt, loc.first
            scope = scope.locator("..")  # the parent element: a structural step, not a selector
        return None

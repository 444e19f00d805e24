"""What the page shows after a write: the success banner (and whether it says exactly what the
selectors promise), the error banner, the sign-in page (the session had ended), or nothing in
time. One reading for every write: row_actions.py and grant_actions.py both report it."""

from __future__ import annotations

from playwright.async_api import Page

from connector.members_ui import AfterClick
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import resolve, wait_for_first

SHOWN_AFTER: tuple[ElementName, ...] = (
    "banner_success",
    "banner_error",
    "signin_email",
    "signin_password",
)


def promised(texts: tuple[str, ...], email: str) -> tuple[str, ...]:
    """The success texts the selectors promise, with "{email}" filled in."""
    return tuple(t.replace("{email}", email) for t in texts)


def words(text: str) -> str:
    return " ".join(text.split())


async def wait_after(
    page: Page, selectors: SelectorSet, timeout_ms: float, texts: tuple[str, ...], email: str
) -> AfterClick:
    """Wait (at most `timeout_ms`) for what the page shows after a write; `texts`: the success
    banners the selectors promise for it."""
    shown = await wait_for_first(page, selectors, SHOWN_AFTER, timeout_ms)
    return await read_after(page, selectors, shown, texts, email)


async def read_after(
    page: Page, selectors: SelectorSet, shown: str | None, texts: tuple[str, ...], email: str
) -> AfterClick:
    """`shown`: which of SHOWN_AFTER the page shows (None, or anything else: nothing)."""
    if shown not in SHOWN_AFTER:
        return AfterClick("nothing", None, False)
    if shown in ("signin_email", "signin_password"):
        return AfterClick("signed_out", "the session had ended: Stitch asked to sign in", False)
    name: ElementName = shown
    match = await resolve(page, selectors, name)
    text = words(await match.locator.inner_text()) if match else ""
    if shown == "banner_error":
        return AfterClick("error", text, False)
    return AfterClick("success", text, text in promised(texts, email))

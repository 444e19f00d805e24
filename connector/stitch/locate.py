"""Turn selector-set elements into Playwright locators, and wait on page states.

This is the only place that maps selector data to Playwright calls. The page objects name elements;
they never hold selector strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.selector_set import Alternative, Element, ElementName, SelectorSet

Scope = Page | Locator  # a whole page, or one part of it (a row, a dialog)


def locator_for(scope: Scope, alt: Alternative) -> Locator:
    if alt.css is not None:
        return scope.locator(alt.css)
    if alt.role is not None and alt.name_pattern is not None:
        name = re.compile(alt.name_pattern, re.IGNORECASE)
        return scope.get_by_role(alt.role, name=name)  # type: ignore[arg-type]
    if alt.role is not None:
        return scope.get_by_role(alt.role, name=alt.name, exact=True)  # type: ignore[arg-type]
    if alt.label is not None:
        return scope.get_by_label(alt.label, exact=True)
    if alt.text_pattern is not None:
        return scope.get_by_text(re.compile(alt.text_pattern, re.IGNORECASE))
    assert alt.text is not None
    return scope.get_by_text(alt.text, exact=True)


def union(scope: Scope, element: Element) -> Locator:
    """All alternatives at once: for waiting, when any of them will do."""
    alts = element.alternatives
    combined = locator_for(scope, alts[0])
    for alt in alts[1:]:
        combined = combined.or_(locator_for(scope, alt))
    return combined


@dataclass(frozen=True)
class Match:
    element: ElementName
    alternative: Alternative
    locator: Locator
    count: int


async def resolve(scope: Scope, selectors: SelectorSet, name: ElementName) -> Match | None:
    """The first alternative, in order, that matches a visible element; None if none does.

    Hidden matches (another row's closed menu, say) are ignored.
    """
    element = selectors.element(name)
    # One question first, whether any alternative shows: most elements looked for are absent
    # (a page state being ruled out), and each question is a round trip to the browser.
    if (
        len(element.alternatives) > 1
        and not await union(scope, element).filter(visible=True).count()
    ):
        return None
    for alt in element.alternatives:
        loc = locator_for(scope, alt).filter(visible=True)
        count = await loc.count()
        if count:
            return Match(name, alt, loc.first, count)
    return None


async def wait_for_first(
    scope: Scope, selectors: SelectorSet, names: tuple[ElementName, ...], timeout_ms: float
) -> ElementName | None:
    """Wait until one of these elements is visible; the first in order wins. None on timeout."""
    combined = union(scope, selectors.element(names[0]))
    for name in names[1:]:
        combined = combined.or_(union(scope, selectors.element(name)))
    try:
        await combined.first.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        return None
    for name in names:
        if await resolve(scope, selectors, name) is not None:
            return name
    return None

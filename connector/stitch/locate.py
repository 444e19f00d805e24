"""Turn selector-set elements into Playwright locators, and wait on page states.

This is the only place that maps selector data to Playwright calls. The page objects name elements;
they never hold selector strings.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import Locator, Page

from connector.selector_set import Alternative, Element, ElementName, SelectorSet


def locator_for(page: Page, alt: Alternative) -> Locator:
    if alt.css is not None:
        return page.locator(alt.css)
    if alt.role is not None:
        return page.get_by_role(alt.role, name=alt.name, exact=True)  # type: ignore[arg-type]
    if alt.label is not None:
        return page.get_by_label(alt.label, exact=True)
    assert alt.text is not None
    return page.get_by_text(alt.text, exact=True)


def union(page: Page, element: Element) -> Locator:
    """All alternatives at once: for waiting, when any of them will do."""
    alts = element.alternatives
    combined = locator_for(page, alts[0])
    for alt in alts[1:]:
        combined = combined.or_(locator_for(page, alt))
    return combined


@dataclass(frozen=True)
class Match:
    element: ElementName
    alternative: Alternative
    locator: Locator
    count: int


async def resolve(page: Page, selectors: SelectorSet, name: ElementName) -> Match | None:
    """The first alternative, in order, that matches a visible element; None if none does."""
    for alt in selectors.element(name).alternatives:
        loc = locator_for(page, alt)
        count = await loc.count()
        if count and await loc.first.is_visible():
            return Match(name, alt, loc.first, count)
    return None

"""What doctor looks at, read only: each element a step uses (found, missing or ambiguous, and
which alternative matched), and each page of the member list read as the connector reads it.

Nothing here clicks. What is seen is reported as Sightings, which doctor turns into its report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from playwright.async_api import Locator, Page

from connector.errors import PageNotRecognised
from connector.selector_set import ElementName, SelectorSet
from connector.stitch.locate import resolve
from connector.stitch.members import MembersView
from connector.stitch.read_page import columns_of, parse_page

# The elements each sign-in step uses (what SignIn would touch on that page).
_SIGNIN_USES: dict[str, tuple[ElementName, ...]] = {
    "signin-email": ("signin_email", "signin_continue"),
    "signin-password": ("signin_password", "signin_password_submit"),
    "signin-totp": ("signin_totp", "signin_totp_submit"),
    "signin-sso": ("sso_marker",),
}
_COLUMNS = ("name", "email", "role", "status", "member", "invoice_admin")
_OPTIONAL_COLUMNS = ("member", "invoice_admin", "name")


@dataclass(frozen=True)
class Sighting:
    """One thing a check looked for: found or not, and which alternative matched."""

    page: str  # where it looked: "signin-email", "members-p1", "members-row", "confirm-dialog"
    element: str
    found: bool
    required: bool = True
    matched: str | None = None
    count: int = 0  # more than 1: ambiguous
    detail: str | None = None  # what was read, or why it is missing


Record = Callable[[Sighting], None]


async def sight(
    scope: Page | Locator,
    selectors: SelectorSet,
    name: ElementName,
    page: str,
    record: Record,
    *,
    required: bool = True,
) -> Locator | None:
    """Look for one element and record what matched; its locator, or None."""
    match = await resolve(scope, selectors, name)
    record(
        Sighting(
            page,
            name,
            match is not None,
            required=required,
            matched=match.alternative.describe() if match else None,
            count=match.count if match else 0,
        )
    )
    return match.locator if match else None


class PageChecks:
    """The connector's observer hook for doctor: called on each page before the connector acts."""

    def __init__(self, selectors: SelectorSet, record: Record) -> None:
        self.selectors = selectors
        self.record = record

    async def observe(self, label: str, page: Page) -> None:
        if label in _SIGNIN_USES:
            for name in _SIGNIN_USES[label]:
                await sight(page, self.selectors, name, label, self.record)
        elif label.startswith("members-p"):
            await self.members_page(page, label)

    def finding(
        self, page: str, element: str, ok: bool, detail: str | None, *, required: bool = True
    ) -> None:
        self.record(Sighting(page, element, ok, required=required, detail=detail))

    async def members_page(self, page: Page, label: str) -> None:
        """Read this page of the list as the connector does, and name what it could not read."""
        if await sight(page, self.selectors, "members_container", label, self.record) is None:
            return
        raw = await MembersView(page, self.selectors).read()
        for table in [t for t in raw.tables if t.headers][:1]:
            try:
                found = columns_of(table.headers, self.selectors.extract)
            except PageNotRecognised as exc:
                self.finding(label, exc.element or "extract.columns", False, str(exc))
                continue
            for key in _COLUMNS:
                optional = key in _OPTIONAL_COLUMNS
                if key in found or not optional:
                    self.finding(
                        label,
                        f"extract.columns.{key}",
                        key in found,
                        f"column {found[key] + 1}" if key in found else "no header means this",
                        required=not optional,
                    )
        try:
            parsed = parse_page(raw, self.selectors, None)
        except PageNotRecognised as exc:
            self.finding(label, exc.element or "extract", False, str(exc))
            return
        self.finding(
            label,
            "extract (this page)",
            True,
            f"{len(parsed.members)} rows; count {parsed.member_count}; next {parsed.has_next}",
        )

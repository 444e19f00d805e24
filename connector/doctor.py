"""Selector health: sign in from scratch, visit every page the connector uses, and check every
element it would use there: found, missing, or ambiguous, and which alternative matched.

It makes no writes. After sign-in every request that is not a GET is aborted in the browser
(StitchUI.block_writes), so even a rehearsal (open the Deactivate dialog, then Cancel: the row
controls' own clicks) cannot reach Stitch. Doctor clicks nothing itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from connector.errors import PageNotRecognised
from connector.selector_set import SelectorSet
from connector.stitch.checks import PageChecks, Sighting
from connector.stitch.locate import Match
from connector.stitch.signin import Observer
from connector.stitch.ui import StitchUI

CheckStatus = Literal["found", "missing", "ambiguous"]


class ElementCheck(BaseModel):
    page: str
    element: str
    required: bool
    status: CheckStatus
    matched: str | None = None  # the alternative that matched
    count: int = 0
    detail: str | None = None  # what was read, or why it could not be


class DoctorReport(BaseModel):
    checks: list[ElementCheck]
    blocked_writes: list[str] = []  # requests the write guard aborted (should stay empty)

    @property
    def ok(self) -> bool:
        return not [c for c in self.checks if c.required and c.status != "found"]


class Doctor:
    """Collects what the run saw into a report: the pages (PageChecks, as the connector's
    observer), the navigation's clicks, and a rehearsal on a member's row (the row controls)."""

    def __init__(self, selectors: SelectorSet) -> None:
        self.selectors = selectors
        self.checks: list[ElementCheck] = []
        self.blocked: list[str] = []  # requests the write guard aborted (StitchUI.block_writes)
        self.observe: Observer = PageChecks(selectors, self._record).observe

    def finding(
        self, page: str, element: str, ok: bool, detail: str | None = None, *, required: bool = True
    ) -> None:
        """A check that is not one element: a page read as a whole, a cross-check, a text."""
        self._record(Sighting(page, element, ok, required=required, detail=detail))

    def _record(self, seen: Sighting) -> None:
        status: CheckStatus = (
            "missing" if not seen.found else "ambiguous" if seen.count > 1 else "found"
        )
        self.checks.append(
            ElementCheck(
                page=seen.page,
                element=seen.element,
                required=seen.required,
                status=status,
                matched=seen.matched,
                count=seen.count,
                detail=seen.detail,
            )
        )

    async def navigation(self, clicked: list[Match]) -> None:
        """The user menu and settings item, as the navigation found and clicked them."""
        by_name = {m.element: m for m in clicked}
        for name in ("app_user_menu", "app_settings_item"):
            match = by_name.get(name)
            self.checks.append(
                ElementCheck(
                    page="app",
                    element=name,
                    required=True,
                    status="found" if match else "missing",
                    matched=match.alternative.describe() if match else None,
                    count=match.count if match else 0,
                )
            )

    # ---------------------------------------------------------------- row actions
    async def row_actions(self, ui: StitchUI, wanted: str | None, rehearse: bool) -> None:
        """The controls a removal uses, on the row of `wanted` (on whichever page it is); with
        `rehearse`, the confirm dialog too, which must name the member. The row controls do the
        clicking (the same ones a removal makes); this only records what they saw."""
        label = "members-row"
        try:
            row = await ui.row(wanted) if wanted else None
        except PageNotRecognised as exc:
            self.finding(label, exc.element or f"row {wanted}", False, str(exc))
            return
        if row is None:
            self.finding(
                label, f"row {wanted or '(any)'}", False, "not on any page", required=rehearse
            )
            return
        for seen in await row.rehearse(open_dialog=rehearse):
            self._record(seen)

    def report(self) -> DoctorReport:
        return DoctorReport(checks=self.checks, blocked_writes=self.blocked)

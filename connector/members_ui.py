"""The member list as the removal state machine sees it: a protocol, typed results, no browser.

`stitch.ui.StitchUI` implements it over Playwright; the unit tests implement it in memory. What
happens after a click is reported here as seen (`AfterClick`); deciding what it means is
removal.py's job, proven by a fresh read of the roster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from connector.models import Action, Member, MemberList, Role
from connector.page_proof import ShownPage

# "cancelled": we cancelled the confirm dialog ourselves (it did not name the member), so
# nothing was confirmed and nothing can have changed. "signed_out": the app answered the write
# by sending us to sign in (its session had ended): it refused the write before acting.
Shown = Literal["success", "error", "nothing", "cancelled", "signed_out"]


@dataclass(frozen=True)
class AfterClick:
    """What the page showed after the click that may change Stitch."""

    shown: Shown
    text: str | None
    expected_text: bool  # the success banner says exactly what the selectors promise


@dataclass(frozen=True)
class Invitation:
    """What the Add a Team Member form is filled with."""

    email: str
    role: Role
    name: str | None = None  # asked for by forms that have a Name field


class MemberRow(Protocol):
    """One member's row, found on the list just now."""

    @property
    def member(self) -> Member:
        """The row as read when it was found."""
        ...

    async def act(
        self, action: Action, on_commit: Callable[[], None], *, role: Role | None = None
    ) -> AfterClick:
        """Click through (row control, or menu then item, then the confirm dialog; for
        SET_ROLE, pick `role` in the row's role control) and wait for the outcome. `on_commit`
        runs just before the first click that may change Stitch; it may raise, and then
        nothing was clicked that could change anything."""
        ...

    async def evidence(self, label: str) -> str | None:
        """A screenshot of the row; its path, or None (evidence is best effort)."""
        ...


class MembersUI(Protocol):
    """The member list of one Stitch account, signed in."""

    @property
    def transient_errors(self) -> tuple[str, ...]:
        """Error banner texts the app uses for a write it refused before acting ("try again")."""
        ...

    async def members(self, needles: Iterable[str] = ()) -> MemberList:
        """A fresh, complete, cross-checked read of the roster; `needles`: emails to look for
        in the list's text (MemberList.mentioned)."""
        ...

    async def members_beside(self, needles: Iterable[str] = ()) -> MemberList:
        """The same read on a second page, leaving the page shown now (and what it is waiting
        for) alone; it never signs in. Raises whatever stops it."""
        ...

    async def page_after_write(self, needles: Iterable[str] = ()) -> ShownPage:
        """The list page shown now (where the row was), loaded afresh and read alone: what a
        page proof compares with its prediction. Raises whatever stops it."""
        ...

    async def page_beside(self, needles: Iterable[str] = ()) -> ShownPage:
        """The same page read on a second page, like members_beside."""
        ...

    async def row(self, email: str) -> MemberRow | None:
        """Open the member list and walk it for the row of exactly `email`; None when no page
        has one. Raises TransientFailure when the list failed to load (worth opening again)."""
        ...

    async def evidence(self, label: str) -> str | None:
        """A screenshot of the whole page; its path, or None."""
        ...

    async def invite(self, invitation: Invitation, on_commit: Callable[[], None]) -> AfterClick:
        """Add a Team Member: open the form, fill it, send it, and wait for the outcome (an
        error the form shows inline is an "error"). `on_commit` as for MemberRow.act."""
        ...

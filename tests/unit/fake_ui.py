"""An in-memory MembersUI: the roster as data, and a script of what each click shows.

The removal state machine (removal.py) and the apply layer (apply.py) run on it without a
browser. It records every click it saw, so a test can prove a click was made once, or never.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from connector.members_ui import AfterClick, Invitation
from connector.models import Account, Action, Member, MemberList, Role, Status
from connector.page_proof import ShownPage

Banner = Literal["ok", "error", "lost", "signed_out", "cancelled"]
Where = Literal["members", "page", "row", "before_click", "after_click"]

TRANSIENT = "Something went wrong, please try again."


def member(
    email: str, role: Role = Role.GENERAL_USER, status: Status = Status.ACTIVE, **kw: bool
) -> Member:
    return Member(email=email, name=email.split("@")[0], role=role, status=status, **kw)


@dataclass
class Click:
    """What one click shows, and whether Stitch really did it."""

    banner: Banner = "ok"
    takes_effect: bool = True
    text: str | None = None
    # The page shows its banner only once this is set: a slow banner, or (never set) a lost one.
    held: asyncio.Event | None = None


@dataclass
class FakeUI:
    roster: list[Member]
    client_id: int = 1
    # email -> what its clicks show, in order; the last one repeats. Default: Click().
    script: dict[str, list[Click]] = field(default_factory=dict)
    no_row: set[str] = field(default_factory=set)  # listed on the roster, but no row is found
    # where -> errors raised there, one per call, in order (a fault, a failed re-read, ...)
    faults: dict[Where, list[BaseException]] = field(default_factory=dict)
    clicks: list[tuple[str, Action]] = field(default_factory=list)
    reads: int = 0
    reads_beside: int = 0
    after_read_beside: Callable[[], None] | None = None  # e.g. show a held banner now
    sign_ins: int = 0  # the app asked to sign in (a write answered with the sign-in page)
    shots: list[str] = field(default_factory=list)
    page_size: int = 50  # rows per list page: a page proof reads the page the row was on
    keeps_deactivated: bool = True  # False: a deactivated member leaves the list (real Stitch)
    page_reads: int = 0  # single pages read for a page proof (page_after_write, page_beside)
    shown_page: int = 0  # the page shown: where the last row looked up was (0-based)

    @property
    def transient_errors(self) -> tuple[str, ...]:
        return (TRANSIENT,)

    def status(self, email: str) -> Status | None:
        return next((m.status for m in self.roster if m.email == email), None)

    def fault(self, where: Where) -> None:
        pending = self.faults.get(where)
        if pending:
            raise pending.pop(0)

    def listed(self) -> MemberList:
        return MemberList(
            account=Account(client_id=self.client_id),
            members=list(self.roster),
            scraped_at=datetime.now(UTC),
            pages=1,
            source_url="fake://members",
            selectors_version="fake",
        )

    async def members(self, needles: Iterable[str] = ()) -> MemberList:
        self.reads += 1
        self.fault("members")
        return self.listed()

    async def members_beside(self, needles: Iterable[str] = ()) -> MemberList:
        self.reads_beside += 1  # counted apart from `reads`
        self.fault("members")
        read = self.listed()
        if self.after_read_beside is not None:
            self.after_read_beside()
        return read

    def shown(self, needles: Iterable[str] = ()) -> ShownPage:
        """The page shown now, as the list stands."""
        start = self.shown_page * self.page_size
        rows = self.roster[start : start + self.page_size]
        emails = {m.email for m in rows}
        mentioned = frozenset(n for n in needles if n in emails)
        edges = {"first_page": start == 0, "last_page": start + len(rows) == len(self.roster)}
        return ShownPage(rows, len(self.roster), start + 1, mentioned, **edges)

    async def page_after_write(self, needles: Iterable[str] = ()) -> ShownPage:
        self.page_reads += 1
        self.fault("page")
        return self.shown(needles)

    async def page_beside(self, needles: Iterable[str] = ()) -> ShownPage:
        self.page_reads += 1
        self.reads_beside += 1
        self.fault("page")
        shown = self.shown(needles)
        if self.after_read_beside is not None:
            self.after_read_beside()
        return shown

    async def row(self, email: str) -> FakeRow | None:
        self.fault("row")
        index = next((i for i, m in enumerate(self.roster) if m.email == email), None)
        if index is None or email in self.no_row:
            return None
        self.shown_page = index // self.page_size
        return FakeRow(self, self.roster[index])

    async def evidence(self, label: str) -> str | None:
        self.shots.append(label)
        return f"fake://{label}.png"

    def click(self, email: str, action: Action, role: Role | None = None) -> Click:
        self.clicks.append((email, action))
        queue = self.script.get(email) or [Click()]
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        if not action.removes:
            if step.takes_effect:
                self._grant(email, action, role)
            return step
        if step.takes_effect and action is Action.DEACTIVATE and self.keeps_deactivated:
            self.roster = [
                m.model_copy(update={"status": Status.DEACTIVATED}) if m.email == email else m
                for m in self.roster
            ]
        elif step.takes_effect:  # a cancelled invitation leaves the list
            self.roster = [m for m in self.roster if m.email != email]
        return step

    def _grant(self, email: str, action: Action, role: Role | None) -> None:
        if action is Action.INVITE:
            new = Member(
                email=email, name=None, role=role or Role.GENERAL_USER, status=Status.PENDING
            )
            self.roster = [*self.roster, new]
            return
        changes: dict[Action, dict[str, object]] = {
            Action.SET_ROLE: {"role": role},
            Action.REACTIVATE: {"status": Status.ACTIVE},
            Action.RESEND_INVITATION: {},
        }
        self.roster = [
            m.model_copy(update=changes[action]) if m.email == email else m for m in self.roster
        ]

    async def invite(self, invitation: Invitation, on_commit: Callable[[], None]) -> AfterClick:
        self.fault("before_click")
        on_commit()
        step = self.click(invitation.email, Action.INVITE, invitation.role)
        return await shown_after(self, step, invitation.email)


async def shown_after(ui: FakeUI, step: Click, email: str) -> AfterClick:
    """What the page shows after a click, as the script says."""
    if step.held is not None:
        await step.held.wait()
    ui.fault("after_click")
    if step.banner == "ok":
        return AfterClick("success", step.text or "Member deactivated", step.text is None)
    if step.banner == "error":
        return AfterClick("error", step.text or "Could not deactivate", False)
    if step.banner == "signed_out":
        ui.sign_ins += 1
        return AfterClick("signed_out", "the session had ended", False)
    if step.banner == "cancelled":
        return AfterClick("cancelled", f"the dialog does not name {email}", False)
    return AfterClick("nothing", None, False)


@dataclass
class FakeRow:
    ui: FakeUI
    found: Member

    @property
    def member(self) -> Member:
        return self.found

    async def act(
        self, action: Action, on_commit: Callable[[], None], *, role: Role | None = None
    ) -> AfterClick:
        self.ui.fault("before_click")
        on_commit()
        step = self.ui.click(self.found.email, action, role)
        return await shown_after(self.ui, step, self.found.email)

    async def evidence(self, label: str) -> str | None:
        self.ui.shots.append(label)
        return f"fake://{label}.png"

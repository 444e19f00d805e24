"""What every proven write shares: the result, finding the row, the one commit before a click,
the --step prompt and the outcome. removal.py (Deactivate, Cancel invitation) and grant.py
(Invite, Set role, Reactivate, Resend) are its two state machines; neither touches a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from connector.errors import ConnectorError, PageNotRecognised, TransientFailure
from connector.logs import first_line, get_logger
from connector.members_ui import AfterClick, MemberRow, MembersUI
from connector.models import Member, MemberList, Outcome, OutcomeStatus, PlanTarget

log = get_logger(__name__)

# Asked before every state-changing click with what is about to happen; answers go|skip|quit.
StepPrompt = Callable[[str], Awaitable[Literal["go", "skip", "quit"]]]


@dataclass
class Written:
    """The result of one write (a removal or a grant), with the roster read that proved it."""

    outcome: Outcome
    roster_after: MemberList | None
    clicks: int = 0
    evidence: list[str] = field(default_factory=list)
    page_not_recognised: bool = False
    quit: bool = False  # a person chose "quit" at the --step prompt
    # The last prediction one page proved (page_proof.py); the outcome rests on it while it is
    # roster_after, and on a full read once a later read replaced it.
    page_proven: MemberList | None = None

    @property
    def proven_on_page(self) -> bool:
        return self.roster_after is not None and self.roster_after is self.page_proven

    @property
    def proof(self) -> Literal["roster", "page"] | None:
        """What the outcome rests on: the row's page alone, a full read, or no read at all."""
        if self.roster_after is None:
            return None
        return "page" if self.proven_on_page else "roster"

    @property
    def halts_batch(self) -> bool:
        """After an unknown outcome, UI drift or a quit, the rest of the batch is not attempted."""
        return self.page_not_recognised or self.quit or self.outcome.status is OutcomeStatus.UNKNOWN


def find_member(roster: MemberList, email: str) -> Member | None:
    return next((m for m in roster.members if m.email == email), None)


class Writer:
    """The parts of a proven write that do not depend on what is written."""

    event = "write"  # the log events' prefix: "removal", "grant"

    def __init__(
        self,
        ui: MembersUI,
        *,
        needles: tuple[str, ...],
        attempts: int,
        client_id: int,
        step: StepPrompt | None = None,
        on_click: Callable[[PlanTarget], None] | None = None,
        fence: Callable[[], None] | None = None,
        early_read_s: float = 0.0,
    ) -> None:
        """`on_click(target)` runs just before each click that may change Stitch (the audit
        trail's `clicked` record), so a run killed mid-click still leaves a trace. `needles`: the
        emails every fresh read looks for in the list's text (the whole plan's targets).
        `early_read_s`: no banner this long after the click, read beside the page (0: never)."""
        self.early_read_s = early_read_s
        self.ui = ui
        self.needles = needles
        self.attempts = attempts
        self.client_id = client_id
        self.step = step
        self.on_click = on_click
        self.fence = fence

    async def read_roster(self) -> MemberList:
        return await self.ui.members(self.needles)

    async def _find(self, email: str) -> MemberRow | None:
        """Open the list and look for the row; a list that failed to load is opened again."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.ui.row(email)
            except TransientFailure as exc:
                if attempt == self.attempts:
                    raise
                log.warning(
                    f"{self.event}.list_retry", email=email, attempt=attempt, error=str(exc)
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_or_prove(
        self,
        act: Callable[[], Awaitable[AfterClick]],
        result: Written,
        prove: Callable[[], Awaitable[MemberList | None]],
    ) -> tuple[AfterClick, MemberList | None]:
        """Click through (`act`) and wait for what the page shows. If it shows nothing for
        `early_read_s`, a fresh read on a second page (`prove`: the roster, if it proves the
        write) may already prove it: then the wait ends there, with that read as the proof. A
        read that proves nothing changes nothing: the page keeps waiting, and reads beside it
        again, less and less often (a first read may come before a slow server acted)."""
        if self.early_read_s <= 0:
            return await act(), None
        clicks = result.clicks  # this attempt's click is the one after these
        acting = asyncio.ensure_future(act())
        try:
            wait, started = self.early_read_s, time.monotonic()
            while True:
                await asyncio.wait({acting}, timeout=wait)
                if acting.done():  # shown in time
                    return await acting, None
                if result.clicks == clicks:  # not clicked yet: nothing to read for
                    continue
                proof = await prove()
                if acting.done():  # what the page showed meanwhile still counts
                    return await acting, proof
                if proof is not None:
                    break
                wait *= 2
            waited = round(time.monotonic() - started, 2)
            log.info(f"{self.event}.proven_beside", email=result.outcome.email, after_s=waited)
            return AfterClick("nothing", None, False), proof
        finally:  # proven beside, or this task cancelled: the page stops waiting too
            if not acting.done():
                acting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acting

    def _committed(self, target: PlanTarget, result: Written) -> Callable[[], None]:
        """Runs just before the click that may change Stitch."""

        def committed() -> None:
            if self.fence is not None:
                self.fence()  # raises before the click: a run without the lock clicks nothing
            result.clicks += 1
            if self.on_click is not None:
                self.on_click(target)

        return committed

    async def _go_ahead(self, target: PlanTarget, result: Written, what: str) -> bool:
        """The --step prompt, when there is one: a person's no is recorded as their decision."""
        if self.step is None:
            return True
        decision = await self.step(f"{what} on account {self.client_id}")
        if decision == "go":
            return True
        self._finish(
            result,
            target,
            OutcomeStatus.REFUSED,
            reason=f"{decision} at the --step prompt",
            rule=f"human_{decision}",
        )
        result.quit = decision == "quit"
        return False

    async def _attempt(self, target: PlanTarget, result: Written, write: Awaitable[None]) -> None:
        """Run one write's steps; whatever stops them is settled by _settle_after_error (a
        raw browser error, too: it can come after the click)."""
        try:
            await write
        except ConnectorError as exc:
            await self._settle_after_error(target, result, exc)
        except Exception as exc:
            wrapped = TransientFailure(f"{type(exc).__name__}: {first_line(str(exc))}")
            await self._settle_after_error(target, result, wrapped)

    async def _settle_after_error(
        self, target: PlanTarget, result: Written, exc: ConnectorError
    ) -> None:
        """An error mid-write. Before any click it simply failed; after one, a fresh read
        decides (`_settled_by`), else it is unknown."""
        if isinstance(exc, PageNotRecognised):
            result.page_not_recognised = True
            result.evidence.extend(str(p) for p in exc.artifacts)
        if result.clicks == 0:
            self._finish(result, target, OutcomeStatus.FAILED, reason=f"{exc.kind}: {exc}")
            return
        try:
            roster = await self.read_roster()
        except ConnectorError as second:
            reason = f"clicked, then {exc.kind}: {exc}; the re-read failed too: {second}"
            self._finish(result, target, OutcomeStatus.UNKNOWN, reason=reason)
            return
        result.roster_after = roster
        status = self._settled_by(roster, target) or OutcomeStatus.UNKNOWN
        self._finish(result, target, status, reason=f"clicked, then {exc.kind}: {exc}")

    def _settled_by(self, roster: MemberList, target: PlanTarget) -> OutcomeStatus | None:
        """The outcome this read proves for `target`'s write, or None (it proves nothing)."""
        raise NotImplementedError

    def _shot(self, result: Written, path: str | None) -> None:
        if path:
            result.evidence.append(path)

    def _finish(
        self,
        result: Written,
        target: PlanTarget,
        status: OutcomeStatus,
        *,
        reason: str | None,
        rule: str | None = None,
    ) -> None:
        result.outcome = Outcome(
            email=target.email,
            status=status,
            action=target.action,
            rule=rule,
            reason=reason,
            member_before=target.member,
            evidence=list(result.evidence),
            role=target.granted_role,
        )
        log.info(f"{self.event}.outcome", email=target.email, status=status.value, reason=reason)

"""One removal, proven: the state machine behind every Deactivate and Cancel invitation.

    row seen ──click──▶ clicked ──▶ fresh read ──row gone / Deactivated──▶ DEACTIVATED
       │                   │            └──row still active──▶ FAILED, or UNKNOWN if nothing showed
       │                   └──"try again" error banner──▶ fresh read ──still active──▶ click again
       └──not on a fresh read──▶ ALREADY_ABSENT

The banner is a signal; the fresh read of the roster is the proof. A click whose effect nothing
showed is never repeated: its outcome is UNKNOWN until a human looks. The cheapest sufficient
read comes first: the row's own page, loaded afresh, when it leaves no other reading
(page_proof.py); else the whole list. When the page shows nothing for a moment
(`early_read_s`), that read is made on a second page while the first keeps waiting: a read that
proves the member gone ends the wait (a dropped banner costs that moment, not the whole write
timeout); one that does not changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from connector.logs import first_line, get_logger
from connector.members_ui import AfterClick, MemberRow
from connector.models import (
    Action,
    Member,
    MemberList,
    Outcome,
    OutcomeStatus,
    PlanTarget,
    Status,
)
from connector.page_proof import ShownPage, proven_on_page
from connector.writer import StepPrompt, Writer, Written, find_member

log = get_logger(__name__)

_ROW_STATUS = {Action.DEACTIVATE: Status.ACTIVE, Action.CANCEL_INVITATION: Status.PENDING}


Removal = Written  # the result of one removal: the shape every proven write shares
__all__ = ["Removal", "Remover", "StepPrompt", "gone"]


_LABELS = {Action.DEACTIVATE: "Deactivate", Action.CANCEL_INVITATION: "Cancel the invitation of"}


def _describe(action: Action, member: Member) -> str:
    return f"{_LABELS[action]} {member.email} ({member.role.value})"


def gone(roster: MemberList, email: str) -> bool:
    """Proven gone: no row, and the address nowhere in the list's text; or shown Deactivated."""
    member = find_member(roster, email)
    if member is None:
        return email not in roster.mentioned
    return member.status is Status.DEACTIVATED


class Remover(Writer):
    event = "removal"

    async def remove(self, target: PlanTarget, before: MemberList | None = None) -> Removal:
        """`before`: the roster as last read or proven, which a page proof predicts from (None:
        every proof is a full read)."""
        assert target.action is not None, "only targets with an action are removed"
        result = Removal(Outcome(email=target.email, status=OutcomeStatus.FAILED), None)
        await self._attempt(target, result, self._run(target, target.action, result, before))
        return result

    async def _run(
        self, target: PlanTarget, action: Action, result: Removal, before: MemberList | None
    ) -> None:
        email = target.email
        for attempt in range(1, self.attempts + 1):
            found = await self._find(email)
            if found is None or not await self._clickable(target, action, result, found):
                if found is None:
                    await self._no_row(target, action, result)
                return
            if before is not None:  # a retry predicts from the newest read
                before = result.roster_after or before
            after, proof = await self._act(found, target, action, result, before)
            self._shot(result, await self.ui.evidence(f"{email}-after"))
            log.info("removal.clicked", email=email, shown=after.shown, text=after.text)
            last = attempt == self.attempts
            verdict = await self._verdict(
                target, action, result, after, last=last, proof=proof, before=before
            )
            if verdict:
                return
            log.warning("removal.retry", email=email, attempt=attempt, text=after.text)
        self._finish(result, target, OutcomeStatus.FAILED, reason="gave up")  # pragma: no cover

    async def _act(
        self,
        found: MemberRow,
        target: PlanTarget,
        action: Action,
        result: Removal,
        before: MemberList | None,
    ) -> tuple[AfterClick, MemberList | None]:
        """Click through and wait for what the page shows. If it shows nothing for
        `early_read_s`, a fresh read on a second page may already prove the member gone: then
        the wait ends there, with that read as the proof. A read that proves nothing changes
        nothing: the page keeps waiting, and reads beside it again, less and less often (a
        first read may come before a slow server acted); the verdict reads again afterwards."""
        committed = self._committed(target, result)
        return await self._wait_or_prove(
            lambda: found.act(action, committed),
            result,
            lambda: self._read_beside(target.email, result, before),
        )

    async def _read_beside(
        self, email: str, result: Removal, before: MemberList | None
    ) -> MemberList | None:
        """The roster read beside the page (the row's page first), if it proves `email`
        gone; else None. A page still showing the row as it was ends it there: the write has
        not happened yet (or will not), and no other read can prove it now."""
        if before is not None:
            proven, still_listed = await self._page_proof(email, before, self.ui.page_beside)
            if proven is not None:
                result.page_proven = proven
                return proven
            if still_listed:
                return None
        try:
            roster = await self.ui.members_beside(self.needles)
        except Exception as exc:  # no proof either way: the main page's outcome decides
            log.info("removal.read_beside_inconclusive", email=email, error=first_line(str(exc)))
            return None
        return roster if gone(roster, email) else None

    async def _no_row(self, target: PlanTarget, action: Action, result: Removal) -> None:
        """No row on any page. Not finding a row is no proof (the plan just saw them): a
        counted read is."""
        roster = await self.read_roster()
        result.roster_after = roster
        if not gone(roster, target.email):
            self._finish(
                result,
                target,
                OutcomeStatus.FAILED if result.clicks == 0 else OutcomeStatus.UNKNOWN,
                reason="the roster lists them, but no row for them was found; not clicked",
            )
            return
        status = OutcomeStatus.ALREADY_ABSENT if result.clicks == 0 else action.proven
        self._finish(result, target, status, reason="not on the list when looked up")

    async def _clickable(
        self, target: PlanTarget, action: Action, result: Removal, found: MemberRow
    ) -> bool:
        """Is this row still the one to click (and does the person at --step agree)? When
        not, the outcome is settled here and nothing is clicked."""
        member = found.member
        if member.status is Status.DEACTIVATED:
            status = OutcomeStatus.ALREADY_ABSENT if result.clicks == 0 else action.proven
            self._finish(result, target, status, reason="not on the list when looked up")
            return False
        if member.status is not _ROW_STATUS[action]:
            reason = f"the row now shows {member.status.value}; not clicked"
            self._finish(result, target, OutcomeStatus.FAILED, reason=reason)
            return False
        self._shot(result, await found.evidence(f"{target.email}-before"))
        return await self._go_ahead(target, result, _describe(action, member))

    async def _verdict(
        self,
        target: PlanTarget,
        action: Action,
        result: Removal,
        after: AfterClick,
        *,
        last: bool,
        proof: MemberList | None,
        before: MemberList | None,
    ) -> bool:
        """After the click, a fresh read decides (`proof`: one made while the page waited).
        False: the app refused the write before acting (an error it calls temporary, or a
        session that had ended) and the member is still there, so it may be clicked again (the
        read signs in again when it must)."""
        roster = proof if proof is not None else await self._proof_read(after, result, before)
        result.roster_after = roster
        email = target.email
        reason: str | None
        if after.shown == "cancelled":
            # We cancelled the dialog ourselves: nothing was confirmed. The read proves it.
            result.page_not_recognised = True  # the dialog changed: stop the batch
            status = action.proven if gone(roster, email) else OutcomeStatus.FAILED
            reason = f"{after.text}; cancelled it, nothing was confirmed"
        elif gone(roster, email):
            status = action.proven
            reason = None if after.expected_text else f"page showed {after.shown}: {after.text}"
        elif after.shown == "nothing":
            status = OutcomeStatus.UNKNOWN
            reason = "no banner in time and the member is still listed; not clicked again"
        elif after.shown == "success":
            status = OutcomeStatus.FAILED
            reason = f"the page said {after.text!r} but a fresh read still lists them"
        else:
            transient = after.shown == "signed_out" or any(
                t in (after.text or "") for t in self.ui.transient_errors
            )
            if transient and not last:
                return False
            status, reason = OutcomeStatus.FAILED, after.text
        self._finish(result, target, status, reason=reason)
        return True

    async def _proof_read(
        self, after: AfterClick, result: Removal, before: MemberList | None
    ) -> MemberList:
        """After the success banner the selectors promise, the row's own page may prove it
        (page_proof.py); anything else, or a page that proves nothing, reads the whole list."""
        email = result.outcome.email
        if before is not None and after.shown == "success" and after.expected_text:
            proven, _ = await self._page_proof(email, before, self.ui.page_after_write)
            if proven is not None:
                result.page_proven = proven
                return proven
        return await self.read_roster()

    async def _page_proof(
        self,
        email: str,
        before: MemberList,
        read: Callable[[Iterable[str]], Awaitable[ShownPage]],
    ) -> tuple[MemberList | None, bool]:
        """The roster `read` (one page) proves, or None: it proves nothing, or failed; and
        whether that page still shows the row undeactivated."""
        try:
            shown = await read(self.needles)
        except Exception as exc:  # no proof either way: the full read decides
            log.info("removal.page_proof_failed", email=email, error=first_line(str(exc)))
            return None, False
        proven = proven_on_page(before, email, shown)
        log.info("removal.page_proof", email=email, proven=proven is not None)
        listed = any(m.email == email and m.status is not Status.DEACTIVATED for m in shown.members)
        return proven, listed

    def _settled_by(self, roster: MemberList, target: PlanTarget) -> OutcomeStatus | None:
        assert target.action is not None
        return target.action.proven if gone(roster, target.email) else None

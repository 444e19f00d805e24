"""One grant, proven: the state machine behind Invite, Set role, Reactivate and Resend invitation.

    row as expected ──click──▶ clicked ──▶ fresh read ──shows the change──▶ INVITED | CHANGED | ...
         │                        │             └──does not──▶ FAILED (the page said why), or
         │                        │                            UNKNOWN (nothing showed: never again)
         │                        └──"try again" error──▶ fresh read ──unchanged──▶ click again
         └──the row already shows it──▶ ALREADY_MEMBER | ALREADY_INVITED | UNCHANGED (no click)

As in removal.py, the banner is a signal and a fresh full read of the roster the proof: an
invitation is a pending (or active) row with the role asked for, a role change the row showing
that role, a reactivation the row Active again. A resend changes nothing a read can see: it
rests on the app's own success banner, with the row still pending, and is unknown without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from connector.logs import get_logger
from connector.members_ui import AfterClick, Invitation, MemberRow
from connector.models import Action, MemberList, Outcome, OutcomeStatus, PlanTarget, Role, Status
from connector.writer import Writer, Written, find_member

log = get_logger(__name__)

_LABELS = {
    Action.INVITE: "Invite",
    Action.SET_ROLE: "Change the role of",
    Action.REACTIVATE: "Reactivate",
    Action.RESEND_INVITATION: "Resend the invitation of",
}


def shows_grant(roster: MemberList, target: PlanTarget, after: AfterClick | None) -> bool:
    """Does this read show what the grant asked for? (`after`: what the page showed, which a
    resend's proof rests on.)"""
    member = find_member(roster, target.email)
    if member is None:
        return False
    role = target.granted_role
    if target.action is Action.INVITE:
        return member.status in (Status.PENDING, Status.ACTIVE) and member.role is role
    if target.action is Action.SET_ROLE:
        return member.status is not Status.DEACTIVATED and member.role is role
    if target.action is Action.REACTIVATE:
        return member.status is Status.ACTIVE
    return (  # resend: nothing to see but the app's word, and the invitation still there
        member.status is Status.PENDING
        and after is not None
        and after.shown == "success"
        and after.expected_text
    )


class Granter(Writer):
    event = "grant"

    async def grant(self, target: PlanTarget) -> Written:
        assert target.action is not None and not target.action.removes, "grants only"
        result = Written(Outcome(email=target.email, status=OutcomeStatus.FAILED), None)
        await self._attempt(target, result, self._run(target, result))
        return result

    async def _run(self, target: PlanTarget, result: Written) -> None:
        for attempt in range(1, self.attempts + 1):
            clicked = await self._click(target, result)
            if clicked is None:  # settled without (another) click
                return
            after, proof = clicked
            self._shot(result, await self.ui.evidence(f"{target.email}-after"))
            log.info("grant.clicked", email=target.email, shown=after.shown, text=after.text)
            last = attempt == self.attempts
            if await self._verdict(target, result, after, last=last, proof=proof):
                return
            log.warning("grant.retry", email=target.email, attempt=attempt, text=after.text)

    async def _click(
        self, target: PlanTarget, result: Written
    ) -> tuple[AfterClick, MemberList | None] | None:
        """Check, then click through once: what the page showed, and a read beside it that
        proved the grant while the page showed nothing (Writer._wait_or_prove); None when the
        outcome was settled without a click."""
        assert target.action is not None
        role = target.granted_role
        what = f"{_LABELS[target.action]} {target.email}" + (f" as {role.value}" if role else "")
        if target.action is Action.INVITE:
            if result.clicks and await self._settled_by_read(target, result):
                return None
            self._shot(result, await self.ui.evidence(f"{target.email}-before"))
            if not await self._go_ahead(target, result, what):
                return None
            name = target.grant.name if target.grant else None
            invitation = Invitation(target.email, role or Role.GENERAL_USER, name)
            committed = self._committed(target, result)
            return await self._wait_or_prove(
                lambda: self.ui.invite(invitation, committed), result, self._beside(target)
            )
        found = await self._find(target.email)
        if found is None:
            await self._no_row(target, result)
            return None
        if not self._clickable(target, result, found):
            return None
        self._shot(result, await found.evidence(f"{target.email}-before"))
        if not await self._go_ahead(target, result, what):
            return None
        action, committed = target.action, self._committed(target, result)
        return await self._wait_or_prove(
            lambda: found.act(action, committed, role=role), result, self._beside(target)
        )

    def _beside(self, target: PlanTarget) -> Callable[[], Awaitable[MemberList | None]]:
        """A read on a second page that proves the grant, or None (it proves nothing, or
        failed: the page's outcome and the verdict's own read decide)."""

        async def read() -> MemberList | None:
            try:
                roster = await self.ui.members_beside(self.needles)
            except Exception as exc:
                log.info("grant.read_beside_inconclusive", email=target.email, error=str(exc))
                return None
            return roster if shows_grant(roster, target, None) else None

        return read

    def _clickable(self, target: PlanTarget, result: Written, found: MemberRow) -> bool:
        """Is the row still one this grant changes? When not, the outcome is settled here."""
        member, action = found.member, target.action
        wanted = {
            Action.SET_ROLE: (Status.ACTIVE, Status.PENDING),
            Action.REACTIVATE: (Status.DEACTIVATED,),
            Action.RESEND_INVITATION: (Status.PENDING,),
        }[action]  # type: ignore[index]
        if action is Action.SET_ROLE and member.role is target.granted_role:
            done = action.proven if result.clicks else OutcomeStatus.UNCHANGED
            self._finish(result, target, done, reason=None)
            return False
        if member.status in wanted:
            return True
        if action is Action.REACTIVATE and member.status is Status.ACTIVE:
            done = action.proven if result.clicks else OutcomeStatus.ALREADY_MEMBER
            self._finish(result, target, done, reason=None)
        else:
            reason = f"the row now shows {member.status.value}; not clicked"
            self._finish(result, target, OutcomeStatus.FAILED, reason=reason)
        return False

    async def _no_row(self, target: PlanTarget, result: Written) -> None:
        """No row on any page: a counted read says what that means."""
        roster = await self.read_roster()
        result.roster_after = roster
        done = self._settled_by(roster, target) if result.clicks else None
        if done is not None:
            self._finish(result, target, done, reason=None)
            return
        status = OutcomeStatus.UNKNOWN if result.clicks else OutcomeStatus.FAILED
        self._finish(result, target, status, reason="no row for them on the list; not clicked")

    async def _settled_by_read(self, target: PlanTarget, result: Written) -> bool:
        """Before inviting again after a refused attempt: a read that shows them ends it."""
        roster = await self.read_roster()
        result.roster_after = roster
        if find_member(roster, target.email) is None:
            return False
        self._judge(target, result, roster, None)
        return True

    async def _verdict(
        self,
        target: PlanTarget,
        result: Written,
        after: AfterClick,
        *,
        last: bool,
        proof: MemberList | None,
    ) -> bool:
        """After the click, a fresh read decides (`proof`: one made while the page waited).
        False: the app refused the write before acting (an error it calls temporary, or a
        session that had ended), nothing changed, and it may be clicked again."""
        roster = proof if proof is not None else await self.read_roster()
        result.roster_after = roster
        if after.shown in ("error", "signed_out") and not shows_grant(roster, target, after):
            transient = after.shown == "signed_out" or any(
                t in (after.text or "") for t in self.ui.transient_errors
            )
            if transient and not last and find_member(roster, target.email) == target.member:
                return False
        self._judge(target, result, roster, after)
        return True

    def _judge(
        self, target: PlanTarget, result: Written, roster: MemberList, after: AfterClick | None
    ) -> None:
        action = target.action
        assert action is not None
        member = find_member(roster, target.email)
        shown = after.shown if after else "nothing"
        if after is not None and after.shown == "cancelled":
            result.page_not_recognised = True  # a dialog nobody expected: stop the batch
        if action is Action.INVITE and member is not None and shown == "error":
            # The app said no because they are there: someone else was quicker.
            status = (
                OutcomeStatus.ALREADY_INVITED
                if member.status is Status.PENDING
                else OutcomeStatus.ALREADY_MEMBER
            )
            if member.status is Status.DEACTIVATED:
                status = OutcomeStatus.FAILED
            self._finish(result, target, status, reason=after.text if after else None)
        elif shows_grant(roster, target, after):
            odd = after is not None and not after.expected_text
            reason = f"page showed {after.shown}: {after.text}" if odd and after else None
            self._finish(result, target, action.proven, reason=reason)
        elif shown == "nothing" or (shown == "success" and action is Action.RESEND_INVITATION):
            self._finish(
                result,
                target,
                OutcomeStatus.UNKNOWN,
                reason="nothing proved the change; not clicked again",
            )
        elif shown == "success":
            said = after.text if after else None
            reason = f"the page said {said!r} but a fresh read does not show it"
            self._finish(result, target, OutcomeStatus.FAILED, reason=reason)
        else:
            self._finish(result, target, OutcomeStatus.FAILED, reason=after.text if after else None)

    def _settled_by(self, roster: MemberList, target: PlanTarget) -> OutcomeStatus | None:
        assert target.action is not None
        return target.action.proven if shows_grant(roster, target, None) else None

"""Apply a plan: the guards on a fresh roster, one proven removal per target, the audit
trail, and undo.json. StitchConnector.apply runs this under the account's write lock.

It works through the MembersUI protocol only (no browser here): StitchUI in a run, a fake in
the unit tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector import __version__, planner, policy
from connector.approval_rules import Approved
from connector.audit import AuditLog
from connector.errors import PlanStale, PolicyRefused
from connector.grant import Granter
from connector.logs import get_logger
from connector.members_ui import MembersUI
from connector.models import (
    Member,
    MemberList,
    Outcome,
    OutcomeStatus,
    Plan,
    PlanTarget,
    TargetRequest,
)
from connector.planner import History
from connector.removal import Remover
from connector.settings import Settings
from connector.writer import StepPrompt, Written

log = get_logger(__name__)

# Stores held targets as approval requests; returns each one's approval id by email.
Hold = Callable[[list[PlanTarget], MemberList], dict[str, str]]


class PlanRunner:
    def __init__(
        self,
        ui: MembersUI,
        settings: Settings,
        run_dir: Path,
        *,
        run_id: str,
        history: History | None = None,
        step: StepPrompt | None = None,
        fence: Callable[[], None] | None = None,
        hold: Hold | None = None,
        approved: Approved | None = None,
    ) -> None:
        """`fence` raises unless this run still holds the account's write lock; it runs right
        before every click that may change Stitch. `run_dir`: where undo.json goes. `history`:
        what the planner was given; the audit trail's part of it is read again here, under the
        lock, right before the plan is decided again. `hold` stores the targets an approval rule
        holds as one request for a second person (the App's ApprovalDesk) and names it per
        email; `approved`: the approved request this run carries out."""
        self.ui = ui
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.history = history or History()
        self.fence = fence
        self.step = step
        self.hold = hold
        self.approved = approved
        # The roster after the last removal: a full read, or page_proof's proven prediction
        # (which no read returned, so the caller keeps it as its newest roster from here).
        self.roster_after: MemberList | None = None

    async def run(
        self,
        plan: Plan,
        *,
        actor: str,
        override_budget: bool,
        roster: MemberList | None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Outcome]:
        """Guards on a fresh roster, then one proven removal per target, each audited: a
        `clicked` record just before the first click that may change Stitch, then the outcome.

        `should_stop` is asked before each removal; once it says yes, the remaining targets are
        left out of the result (neither attempted nor recorded), so the caller can run them later.
        """
        audit = AuditLog(self.settings.audit_path)
        audit.require_sound()  # no click while the trail of earlier clicks fails verification
        if plan.base_url != self.settings.base_url:
            raise PlanStale(f"the plan is for {plan.base_url}, not {self.settings.base_url}")
        needles = tuple(t.email for t in plan.targets)
        roster = roster or await self.ui.members(needles)
        if roster.fingerprint != plan.roster_fingerprint or roster.account != plan.account:
            raise PlanStale(
                f"the roster changed since the plan was made ({plan.created_at:%Y-%m-%d %H:%M} "
                f"UTC, {plan.roster_count} members; now {roster.count})"
            )
        history = self.history.model_copy(
            update={
                "unresolved": audit.unresolved_unknowns(),
                "removed_last_day": audit.removals_since(datetime.now(UTC) - timedelta(days=1)),
                "granted_last_day": audit.grants_since(datetime.now(UTC) - timedelta(days=1)),
            }
        )
        targets = self._decide(plan, roster, history)
        trail = _Trail(audit, plan, self.run_id, actor, override_budget, self.approved)
        targets, override = self._check_batch(targets, roster, history, trail)
        trail = _Trail(audit, plan, self.run_id, actor, override, self.approved)
        held = [t for t in targets if t.approval is not None]
        waiting = self.hold(held, roster) if held and self.hold else {}
        # Both state machines click under the same fence, audit trail and timings.
        shared: dict[str, Any] = {
            "needles": needles,
            "attempts": self.settings.retries,
            "client_id": roster.account.client_id,
            "step": self.step,
            "on_click": lambda target: trail.record(target, "clicked", datetime.now(UTC)),
            "fence": self.fence,
            "early_read_s": self.settings.early_read_ms / 1000,
        }
        writers = _Writers(Remover(self.ui, **shared), Granter(self.ui, **shared))
        return await self._write_each(targets, roster, writers, trail, should_stop, waiting)

    def _decide(self, plan: Plan, roster: MemberList, history: History) -> list[PlanTarget]:
        """The planner again, on the fresh roster: each target keeps its own request."""
        asked = {t.email: t.request for t in plan.targets}
        removals = [t.email for t in plan.targets if t.grant is None]
        grants = [(t.email, t.grant) for t in plan.targets if t.grant is not None]
        decided = planner.decide(removals, roster, self.settings.policy(), history, grants=grants)
        return [t.model_copy(update={"request": asked.get(t.email)}) for t in decided]

    def _check_batch(
        self, targets: list[PlanTarget], roster: MemberList, history: History, trail: _Trail
    ) -> tuple[list[PlanTarget], bool]:
        """The targets with the approval rule holding each, and whether the run passes the
        budget; PolicyRefused (in the trail for every target) when the whole request is."""
        try:
            return planner.hold_for_approval(
                targets,
                roster,
                self.settings.policy(),
                history,
                actor=trail.actor,
                approved=self.approved,
                override_budget=trail.override_budget,
            )
        except PolicyRefused as exc:  # refused whole: the trail says so for every target
            now = datetime.now(UTC)
            for target in (t for t in targets if t.action is not None):
                trail.record(
                    target,
                    OutcomeStatus.REFUSED.value,
                    now,
                    rule=exc.rule,
                    reason=str(exc),
                    roster_fingerprint_before=roster.fingerprint,
                    roster_fingerprint_after=roster.fingerprint,
                )
            raise

    async def _write_each(
        self,
        targets: list[PlanTarget],
        roster: MemberList,
        writers: _Writers,
        trail: _Trail,
        should_stop: Callable[[], bool] | None,
        waiting: dict[str, str],
    ) -> list[Outcome]:
        """One proven write per target with an action (a removal or a grant), in order, until
        one halts the batch: the rest are then skipped (refused, after a quit), not attempted.
        A held target waits for its approval (`waiting`: its id), nothing clicked."""
        outcomes: list[Outcome] = []
        removed: list[Member] = []
        stop: str | None = None
        quit_ = False
        for target in targets:
            if target.action is not None and stop is None and should_stop and should_stop():
                break  # the caller is stopping: the rest are neither attempted nor recorded
            started = datetime.now(UTC)
            before = roster.fingerprint
            proof: str | None = None
            if target.approval is not None:
                outcome = _held(target, waiting.get(target.email))
                if outcome.approval_id is not None:  # the desk audited the request itself
                    outcomes.append(outcome)
                    continue
            elif target.action is None:
                outcome = _unchanged(target)
            elif stop is not None:
                outcome = _not_attempted(target, stop, quit_)
            else:
                written = await writers.write(target, roster)
                outcome, proof = written.outcome, written.proof
                roster = written.roster_after or roster
                self.roster_after = roster
                if written.halts_batch:
                    quit_ = written.quit
                    stop = (
                        "a person chose quit at the --step prompt"
                        if quit_
                        else f"an earlier {_kind(target)} ended {outcome.status.value}"
                    )
            if self.approved is not None and target.action is not None:
                outcome = outcome.model_copy(update={"approval_id": self.approved.id})
            removed_one = target.action is not None and target.action.removes
            if outcome.status.ok and target.member is not None and removed_one:
                removed.append(target.member)
                self._write_undo(removed)  # after each one: a run killed later keeps it
            outcomes.append(outcome)
            trail.record(
                target,
                outcome.status.value,
                started,
                rule=outcome.rule,
                reason=outcome.reason,
                roster_fingerprint_before=before,
                roster_fingerprint_after=roster.fingerprint,
                evidence=outcome.evidence,
                proof=proof,
            )
        return outcomes

    def _write_undo(self, removed: list[Member]) -> None:
        """Deactivation is undone by inviting again (Stitch docs): keep what that needs."""
        if not removed:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.run_dir / "undo.json"
        path.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "how": "Stitch: Add a Team Member with this email, then set the role.",
                    "members": [
                        {
                            "email": m.email,
                            "name": m.name,
                            "role": m.role.value,
                            "invoice_admin": m.invoice_admin,
                            "status_before": m.status.value,
                        }
                        for m in removed
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
        log.info("undo.written", path=str(path))


@dataclass(frozen=True)
class _Writers:
    """The two state machines: removals, and grants."""

    remover: Remover
    granter: Granter

    async def write(self, target: PlanTarget, roster: MemberList) -> Written:
        if target.grant is not None:
            return await self.granter.grant(target)
        return await self.remover.remove(target, roster)


def _kind(target: PlanTarget) -> str:
    return "removal" if target.grant is None else "change"


def _unchanged(target: PlanTarget) -> Outcome:
    """A target the policy gave no action: its expected outcome, nothing clicked."""
    return Outcome(
        email=target.email,
        status=target.expected,
        rule=target.rule,
        member_before=target.member,
        reason=policy.explain(target.rule),
        role=target.granted_role,
    )


def _held(target: PlanTarget, approval_id: str | None) -> Outcome:
    """A target held for a second person; without a request to hold it in, refused."""
    if approval_id is None:
        return Outcome(
            email=target.email,
            status=OutcomeStatus.REFUSED,
            action=target.action,
            rule=target.approval,
            member_before=target.member,
            reason="needs a second person's approval, and this run cannot ask for one",
        )
    return Outcome(
        email=target.email,
        status=OutcomeStatus.PENDING_APPROVAL,
        action=target.action,
        rule=target.approval,
        member_before=target.member,
        reason=f"waits for approval {approval_id}: nothing was clicked",
        role=target.granted_role,
        approval_id=approval_id,
    )


def _not_attempted(target: PlanTarget, stop: str, quit_: bool) -> Outcome:
    return Outcome(
        email=target.email,
        status=OutcomeStatus.REFUSED if quit_ else OutcomeStatus.SKIPPED,
        action=target.action,
        rule="human_quit" if quit_ else None,
        member_before=target.member,
        reason=f"not attempted: {stop}",
    )


@dataclass(frozen=True)
class _Trail:
    """The audit trail of this run of this plan: one record per target and outcome."""

    audit: AuditLog
    plan: Plan
    run_id: str
    actor: str
    override_budget: bool
    approved: Approved | None = None

    def record(self, target: PlanTarget, outcome: str, started: datetime, **fields: Any) -> None:
        request = target.request or TargetRequest()
        self.audit.append(
            run_id=self.run_id,
            request_id=request.request_id or self.plan.request_id,
            actor=request.actor or self.actor,
            target=target.email,
            action=target.action.value if target.action else None,
            outcome=outcome,
            request_reason=request.reason or self.plan.reason,
            requested_by=request.requested_by,
            started_at=started,
            finished_at=datetime.now(UTC),
            connector_version=__version__,
            row_before=target.member,
            override_budget=self.override_budget,
            approval_id=self.approved.id if self.approved else None,
            **{
                "rule": None,
                "reason": None,
                "evidence": [],
                "roster_fingerprint_before": None,
                "roster_fingerprint_after": None,
                **fields,
            },
        )

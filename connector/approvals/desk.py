"""The approval desk: the App's operations on approval requests, for every entry point.

A run's PlanRunner hands the targets an approval rule holds to `holder()`: they become one
request per caller's request (nothing clicked), audited and announced. A second person approves
or rejects; the requester never approves their own (four eyes). execute.py carries an approved
request out on the App's normal write path: a fresh read, the planner again (a target that
changed in a way that matters is asked again), the lock, the budget (unless an `over_budget`
rule asked), proven outcomes. Rejected and expired requests never run; the jobs they held
finish `refused`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector import __version__
from connector.approval_rules import matching_rules, same_principal
from connector.approvals.models import Approval, ApprovalSource, ApprovalStatus
from connector.approvals.notify import Notifications
from connector.approvals.store import ApprovalStore
from connector.audit import AuditLog
from connector.errors import (
    ApprovalClosed,
    ApprovalUnknown,
    OwnRequest,
    PolicyRefused,
)
from connector.logs import first_line, get_logger, redact_text
from connector.models import (
    MemberList,
    Outcome,
    OutcomeStatus,
    Plan,
    PlanTarget,
    TargetRequest,
)
from connector.offboard_queue.jobs import JobStore
from connector.settings import Settings

log = get_logger(__name__)

Hold = Callable[[list[PlanTarget], MemberList], dict[str, str]]


class ApprovalDesk:
    def __init__(self, settings: Settings, jobs: JobStore) -> None:
        self.settings = settings
        self.jobs = jobs
        self.store = ApprovalStore.in_state_dir(settings.state_dir)
        self.notifications = Notifications(settings, self.store)

    # ------------------------------------------------------------------ asking

    def holder(self, actor: str) -> Hold:
        """The PlanRunner's `hold`: the held targets of one run, as one request per caller's
        request (a service batch carries several), each named by email."""

        def hold(targets: list[PlanTarget], roster: MemberList) -> dict[str, str]:
            groups: dict[tuple[str | None, str], list[PlanTarget]] = {}
            for target in targets:
                request = target.request or TargetRequest()
                groups.setdefault((request.request_id, request.actor or actor), []).append(target)
            named: dict[str, str] = {}
            for (request_id, asker), group in groups.items():
                approval = self._ask(group, roster, asker, request_id)
                named.update(dict.fromkeys((t.email for t in group), approval.id))
            return named

        return hold

    def _ask(
        self, targets: list[PlanTarget], roster: MemberList, asker: str, request_id: str | None
    ) -> Approval:
        policy = self.settings.policy()
        rules = list(
            dict.fromkeys(
                [t.approval for t in targets if t.approval]
                + [
                    r
                    for t in targets
                    for r in matching_rules(
                        t, policy.approvals, actor=asker, request_size=len(targets)
                    )
                ]
            )
        )
        first = targets[0].request or TargetRequest()
        plan = Plan(
            created_at=datetime.now(UTC),
            base_url=self.settings.base_url,
            account=roster.account,
            roster_fingerprint=roster.fingerprint,
            roster_count=roster.count,
            targets=targets,
            reason=first.reason,
            request_id=request_id,
        )
        # The same writes asked again by the same principal (a retry, Entra's next cycle, a
        # second job) join the pending request: one person decides once.
        key = json.dumps(sorted((t.email, str(t.action), repr(t.grant)) for t in targets))
        approval, new = self.store.add(
            plan,
            request_key=key,
            requested_by=asker,
            source=_source(asker),
            rules=rules,
            ttl=timedelta(hours=policy.approvals.ttl_hours),
            job_request_ids=[
                t.request.request_id for t in targets if t.request and t.request.request_id
            ],
        )
        if new:
            self._record(approval, "approval_requested", asker, approval.reason)
            self.notifications.add(approval, "requested")
            log.info("approval.requested", approval=approval.id, rules=rules, targets=len(targets))
        elif any(t.request and t.request.request_id for t in targets):  # another job joins it
            self._record(approval, "approval_joined", asker, first.reason, targets)
        return approval

    # ------------------------------------------------------------------ reading

    def requests(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[Approval]:
        self.expire_due()
        return self.store.requests(status, limit)

    def get(self, approval_id: str) -> Approval:
        self.expire_due()
        found = self.store.get(approval_id)
        if found is None:
            raise ApprovalUnknown(f"no approval request {approval_id!r}")
        return found

    # ------------------------------------------------------------------ deciding

    def approve(self, approval_id: str, by: str, note: str | None) -> Approval:
        """Approve a pending request (another principal than its requester). A replay of an
        approval finds it approved, running or carried out, and changes nothing."""
        return self._decide(approval_id, ApprovalStatus.APPROVED, by, note)

    def reject(self, approval_id: str, by: str, note: str | None) -> Approval:
        """Reject a pending request: it never runs, and the jobs it held finish refused. The
        requester may withdraw their own."""
        return self._decide(approval_id, ApprovalStatus.REJECTED, by, note)

    def _decide(
        self, approval_id: str, decision: ApprovalStatus, by: str, note: str | None
    ) -> Approval:
        current = self.get(approval_id)
        approving = decision is ApprovalStatus.APPROVED
        if approving and same_principal(current.requested_by, by):
            raise OwnRequest(
                f"{by} asked for approval {approval_id} and may not approve it (four eyes)"
            )
        if current.status is ApprovalStatus.PENDING:
            decided = self.store.decide(approval_id, decision, by, note)
            if decided is not None:
                self._after_decision(decided, by, note)
                return decided
            current = self.get(approval_id)  # decided (or expired) meanwhile
        if _replay(current, decision):
            return current
        raise ApprovalClosed(
            f"approval {approval_id} is {current.status.value}"
            + (f" (asked again as {current.superseded_by})" if current.superseded_by else "")
            + f": it cannot be {decision.value}"
        )

    def _after_decision(self, approval: Approval, by: str, note: str | None) -> None:
        outcome = f"approval_{approval.status.value}"
        self._record(approval, outcome, by, note)
        self.notifications.add(approval, approval.status.value)
        log.info("approval.decided", approval=approval.id, status=approval.status.value, by=by)
        if approval.status is ApprovalStatus.REJECTED:
            self._close_jobs(approval, "approval_rejected", f"rejected by {by}")

    def sweep(self, *, lock_free: bool, stuck_after_s: float) -> None:
        """What no single step may leave behind: jobs still waiting on a closed request (their
        outcome is settled now), and, when no process holds the write lock, a request left
        `running` by a process that died (approved again, carried out on a fresh read)."""
        for approval_id in self.store.closed_holding_jobs():
            approval = self.store.get(approval_id)
            if approval is None:
                continue
            if approval.outcomes is not None:
                self.jobs.settle_held(approval.id, {o.email: o for o in approval.outcomes})
            else:
                why = "approval_rejected" if approval.status is ApprovalStatus.REJECTED else None
                self._close_jobs(approval, why or "approval_expired", approval.status.value)
        if lock_free and self.store.recover_interrupted(older_than_s=stuck_after_s):
            log.warning("approval.recovered_interrupted")

    def expire_due(self) -> list[Approval]:
        """Close every pending request past its expiry: never carried out."""
        expired = self.store.expire_due()
        for approval in expired:
            self._record(approval, "approval_expired", "stitch-connector", None)
            self.notifications.add(approval, "expired")
            self._close_jobs(approval, "approval_expired", "nobody decided in time")
            log.info("approval.expired", approval=approval.id)
        return expired

    # ------------------------------------------------------------------ carrying out

    def ready(self) -> list[str]:
        """Approved requests to carry out now."""
        return self.store.ready()

    def begin(self, approval_id: str, run_id: str) -> Approval | None:
        """Take an approved request for this run (execute.py); None: not approved, or another
        run has it."""
        return self.store.claim(approval_id, run_id)

    def ran(self, approval: Approval, run_id: str, outcomes: list[Outcome]) -> None:
        """Its run ended: executed, or stale where a write changed and was asked again."""
        again = next(
            (o.approval_id for o in outcomes if o.approval_id and o.approval_id != approval.id),
            None,
        )
        status = ApprovalStatus.STALE if again else ApprovalStatus.EXECUTED
        self._finish(approval, run_id, status, outcomes, superseded_by=again)

    def refused(self, approval: Approval, run_id: str, exc: PolicyRefused) -> None:
        """A guard refused the whole run (the budget, the roster check): closed, never retried."""
        refused = [_closed(t, exc.rule or "refused", str(exc)) for t in approval.plan.targets]
        self._finish(approval, run_id, ApprovalStatus.REFUSED, refused, error=str(exc))

    def stopped(self, approval: Approval, run_id: str, exc: BaseException) -> None:
        """The run stopped before deciding anything: approved again, tried again later."""
        self.store.release(approval.id, run_id, redact_text(first_line(str(exc))))

    def _finish(
        self,
        approval: Approval,
        run_id: str,
        status: ApprovalStatus,
        outcomes: list[Outcome],
        *,
        superseded_by: str | None = None,
        error: str | None = None,
    ) -> None:
        done = self.store.finish(
            approval.id, run_id, status, outcomes, superseded_by=superseded_by, error=error
        )
        if done is None:
            return
        if status is ApprovalStatus.STALE:
            self._record(
                done, "approval_stale", "stitch-connector", f"asked again as {superseded_by}"
            )
        self.notifications.add(done, status.value)
        self.jobs.settle_held(approval.id, {o.email: o for o in outcomes})

    def _close_jobs(self, approval: Approval, rule: str, reason: str) -> None:
        closed = {t.email: _closed(t, rule, reason) for t in approval.plan.targets}
        self.jobs.settle_held(approval.id, closed)

    def _record(
        self,
        approval: Approval,
        outcome: str,
        actor: str,
        reason: str | None,
        targets: list[PlanTarget] | None = None,
    ) -> None:
        """One audit record per held write: requested (or joined by another request),
        approved, rejected, expired, stale."""
        audit = AuditLog(self.settings.audit_path)
        now = datetime.now(UTC)
        for target in targets or approval.plan.targets:
            request = target.request or TargetRequest()
            audit.append(**_record_fields(approval, target, request, outcome, actor, reason, now))


def _record_fields(
    approval: Approval,
    target: PlanTarget,
    request: TargetRequest,
    outcome: str,
    actor: str,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "run_id": f"approval-{approval.id}",
        "request_id": request.request_id or approval.plan.request_id,
        "actor": actor,
        "target": target.email,
        "action": target.action.value if target.action else None,
        "outcome": outcome,
        "rule": target.approval or (approval.rules[0] if approval.rules else None),
        "reason": reason,
        "request_reason": request.reason or approval.reason,
        "requested_by": request.requested_by,
        "started_at": now,
        "finished_at": now,
        "connector_version": __version__,
        "row_before": target.member,
        "roster_fingerprint_before": approval.plan.roster_fingerprint,
        "roster_fingerprint_after": None,
        "evidence": [],
        "approval_id": approval.id,
    }


def _closed(target: PlanTarget, rule: str, reason: str) -> Outcome:
    return Outcome(
        email=target.email,
        status=OutcomeStatus.REFUSED,
        action=target.action,
        rule=rule,
        reason=reason,
        member_before=target.member,
    )


def _replay(current: Approval, decision: ApprovalStatus) -> bool:
    """The same decision again: nothing more to do."""
    if decision is ApprovalStatus.REJECTED:
        return current.status is ApprovalStatus.REJECTED
    return current.decided_by is not None and current.status in (
        ApprovalStatus.APPROVED,
        ApprovalStatus.RUNNING,
        ApprovalStatus.EXECUTED,
        ApprovalStatus.REFUSED,
    )


def _source(actor: str) -> ApprovalSource:
    prefix = actor.split(":", 1)[0] if ":" in actor else ""
    return prefix if prefix in ("api", "scim", "python") else "cli"  # type: ignore[return-value]

"""The planner: what a removal request would do, decided once, for every entry point.

`plan(roster, request, config, history)` is the only place a request meets the policy: the
dry run, plan files (`plan`), reconcile plans and the service all ask it, so what a plan says is
what apply will decide on the same roster and history. Pure: the caller reads the roster, the
audit trail and the last accepted roster (I/O), and hands over what they say as a `History`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from connector import approval_rules, grant_policy, policy
from connector.approval_rules import Approved
from connector.errors import PolicyRefused, UsageProblem
from connector.models import (
    Grant,
    Member,
    MemberList,
    Outcome,
    OutcomeStatus,
    Plan,
    PlanTarget,
    TargetRequest,
)
from connector.policy import PolicyConfig


class History(BaseModel):
    """What earlier runs tell the planner. Empty (the default) means no history: a first run."""

    model_config = ConfigDict(frozen=True)

    last_accepted: list[Member] | None = Field(
        None,
        description="The members of the last accepted roster: whoever it protected stays "
        "protected (policy.sticky_protections). None: no accepted roster, or one that kept "
        "only its count.",
    )
    previous_count: int | None = Field(
        None, description="How many members the last accepted roster had (roster_implausible)."
    )
    unresolved: frozenset[str] = Field(
        frozenset(),
        description="Members whose last removal ended unknown and no person has resolved since "
        "(AuditLog.unresolved_unknowns): a second click could be the same removal's.",
    )
    known: frozenset[str] | None = Field(
        None,
        description="Every address ever on the roster: stored snapshots, the last accepted "
        "roster, the audit trail's members (removed by the connector before included). An "
        "address never known is `not_found`; None (no history) keeps `already_absent`.",
    )
    removed_last_day: int = Field(
        0, ge=0, description="Removals counted against the day's budget (removals_since)."
    )
    granted_last_day: int = Field(
        0, ge=0, description="Grants counted against the day's grant budget (grants_since)."
    )

    def protected_before(self, config: PolicyConfig) -> dict[str, policy.Rule]:
        """The sticky protections: who the last accepted roster protected, by rule."""
        return policy.sticky_protections(self.last_accepted or [], config)


class PlanRequest(BaseModel):
    """What was asked for: the addresses, and what the plan carries along to apply."""

    model_config = ConfigDict(frozen=True)

    emails: Sequence[str]  # to remove, as given: the planner normalises and de-duplicates them
    grants: Sequence[tuple[str, Grant]] = ()  # invitations, roles, reactivations, resends
    base_url: str
    reason: str | None = None
    request_id: str | None = None
    requests: Mapping[str, TargetRequest] = Field(
        default_factory=dict, description="Single targets' own request (a batch of jobs)."
    )
    whole_batch: bool = Field(
        False,
        description="Also refuse the whole request as apply would (a dry run): PolicyRefused "
        "when the roster looks wrong or the request is over budget.",
    )
    override_budget: bool = False  # with whole_batch: a person reviewed an over-budget run
    now: datetime | None = None  # the plan's created_at; None: now
    actor: str = Field("cli", description="Who asks, where a target has no request of its own.")
    approved: Approved | None = Field(None, description="The approval this request runs under.")


def addresses(emails: Sequence[str], grants: Sequence[tuple[str, Grant]]) -> list[str]:
    """Every address asked about, checked: UsageProblem before the browser acts."""
    asked = [e for e, _ in grant_policy.requested_grants(grants)]
    if asked and not emails:
        return asked
    return [*policy.requested_emails(list(emails)), *asked]  # none at all: a usage error too


def plan(roster: MemberList, request: PlanRequest, config: PolicyConfig, history: History) -> Plan:
    """The expected outcome of every requested address on this roster, bound to its
    fingerprint. Raises UsageProblem for an address that is not one, and PolicyRefused (with
    `request.whole_batch`) when apply would refuse the whole request."""
    targets = decide(request.emails, roster, config, history, grants=request.grants)
    if request.requests:
        targets = [t.model_copy(update={"request": request.requests.get(t.email)}) for t in targets]
    if request.whole_batch:
        targets, _ = hold_for_approval(
            targets,
            roster,
            config,
            history,
            actor=request.actor,
            approved=request.approved,
            override_budget=request.override_budget,
        )
    else:
        rules = config.approvals
        targets = approval_rules.settle(
            targets, rules, actor=request.actor, approved=request.approved
        )
    return Plan(
        created_at=request.now or datetime.now(UTC),
        base_url=request.base_url,
        account=roster.account,
        roster_fingerprint=roster.fingerprint,
        roster_count=roster.count,
        targets=targets,
        reason=request.reason,
        request_id=request.request_id,
    )


def decide(
    emails: Sequence[str],
    roster: MemberList,
    config: PolicyConfig,
    history: History,
    *,
    grants: Sequence[tuple[str, Grant]] = (),
) -> list[PlanTarget]:
    """One PlanTarget per distinct address, removals in request order, then grants:
    policy.decide and grant_policy.decide_grants, given the history exactly as apply gives it
    (sticky protections, unresolved unknowns, known). One address may not be both."""
    sticky = history.protected_before(config)
    removals = (
        policy.decide(
            list(emails),
            roster,
            config,
            unresolved=history.unresolved,
            protected_before=sticky,
            known=history.known,
        )
        if emails
        else []
    )
    if not grants:
        return removals
    granted = grant_policy.decide_grants(
        grants,
        roster,
        config,
        unresolved=history.unresolved,
        protected_before=sticky,
        known=history.known,
    )
    both = {t.email for t in removals} & {t.email for t in granted}
    if both:
        raise UsageProblem(
            f"{sorted(both)[0]} is asked to be removed and changed in one plan",
            hint="Ask for one change per person per plan; nothing was changed.",
        )
    return policy.last_admin_across_the_batch([*removals, *granted], roster)


def check_batch(
    targets: list[PlanTarget],
    roster: MemberList,
    config: PolicyConfig,
    history: History,
    *,
    override_budget: bool,
) -> None:
    """PolicyRefused when apply would refuse the whole request: a roster that shrank
    implausibly since the last accepted one, or more removals than the budget left."""
    policy.check_batch(
        targets,
        roster,
        config,
        previous_count=history.previous_count,
        override_budget=override_budget,
        removed_last_day=history.removed_last_day,
    )
    grant_policy.check_grants(
        targets,
        config,
        granted_last_day=history.granted_last_day,
        override_budget=override_budget,
    )


def hold_for_approval(
    targets: list[PlanTarget],
    roster: MemberList,
    config: PolicyConfig,
    history: History,
    *,
    actor: str,
    approved: Approved | None,
    override_budget: bool,
) -> tuple[list[PlanTarget], bool]:
    """The targets, each an approval rule holds marked with it, and whether the run may pass
    the budget (asked, or an approved over-budget request). The budget counts the whole
    request, held writes too (an approval never splits a request to fit it); a request over it
    is held whole where an `over_budget` rule asks, else PolicyRefused as before."""
    rules = config.approvals
    targets = approval_rules.settle(targets, rules, actor=actor, approved=approved)
    covered = approved.rules if approved else frozenset()
    # Where an over_budget rule asks for a second person, nobody lets themselves past the
    # budget alone (--override-budget): only that rule's approval does.
    asks = rules.over_budget() is not None
    override = approval_rules.overrides_budget(covered, rules) or (override_budget and not asks)
    try:
        check_batch(targets, roster, config, history, override_budget=override)
    except PolicyRefused as exc:
        held = approval_rules.hold_over_budget(targets, exc.rule, rules, covered)
        if held is None:
            raise
        return held, override
    return targets, override


def refusals(
    emails: Sequence[str], roster: MemberList, config: PolicyConfig, history: History
) -> dict[str, str]:
    """The addresses apply would refuse if asked for all of them at once, by rule: what a
    reconcile report shows as `protected`."""
    if not emails:
        return {}
    return {
        t.email: t.rule or ""
        for t in decide(emails, roster, config, history)
        if t.expected is OutcomeStatus.REFUSED
    }


def dry_run_outcomes(made: Plan) -> list[Outcome]:
    """A plan told as outcomes: `planned` (with the action) where apply would act, else the
    outcome it expects (refused with its rule, already absent, not found)."""
    return [
        Outcome(
            email=t.email,
            status=_dry_status(t),
            action=t.action,
            rule=t.approval or t.rule,
            member_before=t.member,
            role=t.granted_role,
        )
        for t in made.targets
    ]


def _dry_status(target: PlanTarget) -> OutcomeStatus:
    if target.approval is not None:
        return OutcomeStatus.PENDING_APPROVAL
    return OutcomeStatus.PLANNED if target.action else target.expected

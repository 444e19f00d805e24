"""Policy for the rest of the lifecycle: who may be invited, reactivated, or given a role, and
how many of those one run and one day may make. Pure functions, no browser; the planner calls
them for every entry point, and apply calls them again on its fresh roster under the lock.

The removal rules (policy.py) still hold where a grant takes something away: demoting a member
to General User is refused for whoever a removal would be (the signed-in account, a protected
address, the last or an SSO Administrator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connector.errors import PolicyRefused, UsageProblem
from connector.models import (
    Action,
    Grant,
    Member,
    MemberList,
    OutcomeStatus,
    PlanTarget,
    Role,
    Status,
    is_requested_email,
)
from connector.policy import PolicyConfig, Rule, protection


def requested_grants(asks: Sequence[tuple[str, Grant]]) -> list[tuple[str, Grant]]:
    """Lower-cased and checked. UsageProblem on a bad one, and on two asks for one address
    (one change per person per plan: which would come first is nobody's guess)."""
    seen: dict[str, Grant] = {}
    for raw, grant in asks:
        email = raw.strip().lower()
        if not is_requested_email(email):
            raise UsageProblem(
                f"not an email address: {raw!r}",
                hint="Give each person's exact email address; nothing was changed.",
            )
        if grant.kind == "set_role" and grant.role is None:
            raise UsageProblem(
                f"no role given for {email}", hint="Say --role Administrator|'General User'."
            )
        if email in seen and seen[email] != grant:
            raise UsageProblem(
                f"{email} is asked for twice ({seen[email].kind}, {grant.kind})",
                hint="Ask for one change per person per plan; nothing was changed.",
            )
        seen[email] = grant
    return list(seen.items())


def decide_grants(
    asks: Sequence[tuple[str, Grant]],
    roster: MemberList,
    config: PolicyConfig,
    *,
    unresolved: frozenset[str] = frozenset(),
    protected_before: Mapping[str, str] | None = None,
    known: frozenset[str] | None = None,
) -> list[PlanTarget]:
    """The expected outcome of each ask on this roster: an action, or what is already true, or
    the rule that refuses it. `known`: every address ever on the roster (planner.History): a
    reactivation re-invites only someone who was a member (a typo is `not_found`)."""
    by_email = {m.email: m for m in roster.members}
    context = _Context(roster, config, protected_before or {}, unresolved, known)
    return [
        _decide_one(email, grant, by_email.get(email), context)
        for email, grant in requested_grants(asks)
    ]


@dataclass(frozen=True)
class _Context:
    roster: MemberList
    config: PolicyConfig
    sticky: Mapping[str, str]
    unresolved: frozenset[str]
    known: frozenset[str] | None


def _decide_one(email: str, grant: Grant, member: Member | None, ctx: _Context) -> PlanTarget:
    grant = _as_asked(email, grant, member, ctx.known)

    def target(
        expected: OutcomeStatus, rule: str | None = None, *, act: bool = False
    ) -> PlanTarget:
        action = Action(grant.kind) if act else None
        return PlanTarget(
            email=email, expected=expected, action=action, rule=rule, member=member, grant=grant
        )

    if member is None and email in ctx.roster.mentioned:
        return target(OutcomeStatus.REFUSED, Rule.SHOWN_BUT_NOT_READ)
    if email in ctx.unresolved:
        return target(OutcomeStatus.REFUSED, Rule.UNRESOLVED_UNKNOWN)
    if grant.kind == "reactivate" and member is None and grant.invite_if_absent:
        return target(OutcomeStatus.NOT_FOUND, Rule.NEVER_A_MEMBER)  # never a member: a typo?
    already = _already(grant, member)
    if already is not None:
        return target(*already)
    rule = _refusal(email, grant, member, ctx)
    if rule is not None:
        return target(OutcomeStatus.REFUSED, rule)
    return target(Action(grant.kind).proven, act=True)


def _as_asked(
    email: str, grant: Grant, member: Member | None, known: frozenset[str] | None
) -> Grant:
    """The ask as it applies to this member: a reactivation of someone the list no longer
    shows is an invitation (where the caller allows it, and they were a member); an invitation
    with a role, of someone already listed with another, is that role change."""
    absent = member is None
    if grant.kind == "reactivate" and absent and grant.invite_if_absent:
        was_member = known is None or email in known
        return grant.model_copy(update={"kind": "invite"}) if was_member else grant
    listed = member is not None and member.status is not Status.DEACTIVATED
    other_role = member is not None and grant.role not in (None, member.role)
    if grant.kind == "invite" and listed and other_role:
        return grant.model_copy(update={"kind": "set_role"})
    return grant


def _already(grant: Grant, member: Member | None) -> tuple[OutcomeStatus, str | None] | None:
    """What is already true (nothing to click), or what makes the ask impossible here."""
    kind = grant.kind
    status = member.status if member else None
    if kind in ("invite", "reactivate", "resend_invitation"):
        if status is Status.ACTIVE:
            return OutcomeStatus.ALREADY_MEMBER, None
        if status is Status.PENDING and kind != "resend_invitation":
            return OutcomeStatus.ALREADY_INVITED, None
    if kind == "invite" and status is Status.DEACTIVATED:
        return OutcomeStatus.REFUSED, Rule.DEACTIVATED_MEMBER
    if kind == "reactivate" and member is None:
        return OutcomeStatus.NOT_FOUND, Rule.NOT_ON_ROSTER
    if kind in ("set_role", "resend_invitation") and status is Status.DEACTIVATED:
        return OutcomeStatus.REFUSED, Rule.DEACTIVATED_MEMBER
    if kind in ("set_role", "resend_invitation") and member is None:
        return OutcomeStatus.NOT_FOUND, Rule.NOT_ON_ROSTER
    if kind == "set_role" and member is not None and member.role is grant.role:
        return OutcomeStatus.UNCHANGED, None
    return None


def _refusal(email: str, grant: Grant, member: Member | None, ctx: _Context) -> str | None:
    """The rule refusing an ask that would act, or None. Whatever gives access or more of it
    (an invitation, a reactivation, a resend, a promotion) goes only to STITCH_INVITE_DOMAINS;
    Administrator (asked for, or restored by a reactivation) only when asked explicitly."""
    kind, role = grant.kind, grant.role or Role.GENERAL_USER
    restores_admin = (
        kind == "reactivate" and member is not None and member.role is Role.ADMINISTRATOR
    )
    promotes = (kind in ("invite", "set_role") and role is Role.ADMINISTRATOR) or restores_admin
    gives_access = kind in ("invite", "reactivate", "resend_invitation") or promotes
    if gives_access and email.rsplit("@", 1)[-1] not in ctx.config.invite_domains:
        return Rule.INVITE_DOMAIN_NOT_ALLOWED
    if promotes and not grant.allow_administrator:
        return Rule.ADMINISTRATOR_NEEDS_FLAG
    if kind == "set_role" and member is not None and role is Role.GENERAL_USER:
        return _demotion_rule(member, ctx.roster, ctx.config, ctx.sticky)
    return None


def _demotion_rule(
    member: Member, roster: MemberList, config: PolicyConfig, sticky: Mapping[str, str]
) -> str | None:
    """Demoting takes access away: refused for whoever a removal would be refused for, except
    the Invoice Admin (who may be a General User). Each rule on its own: an Invoice Admin who
    is also the last Administrator stays the last Administrator."""
    rule = protection(member.model_copy(update={"invoice_admin": False}), roster, config)
    if rule is not None:
        return rule
    was = sticky.get(member.email)
    return was if was in (Rule.WAS_SIGNED_IN_ACCOUNT, Rule.WAS_SSO_ADMIN) else None


def check_grants(
    targets: list[PlanTarget],
    config: PolicyConfig,
    *,
    granted_last_day: int,
    override_budget: bool,
) -> None:
    """Refuse the whole request before any click when its grants are over budget: per run
    (max_grants) and with the last 24 hours' grants (max_grants_per_day). Separate from the
    removals' budget: a day of joiners never uses up the leavers' one."""
    acting = [t for t in targets if t.action is not None and not t.action.removes]
    if override_budget or not acting:
        return
    if len(acting) > config.max_grants:
        raise PolicyRefused(
            f"{len(acting)} invitations, reactivations or role changes requested; the budget is "
            f"{config.max_grants} per run (STITCH_MAX_GRANTS)",
            rule=Rule.BUDGET_MAX_GRANTS,
        )
    if granted_last_day + len(acting) > config.max_grants_per_day:
        raise PolicyRefused(
            f"{len(acting)} grant(s) requested and {granted_last_day} made in the last 24 hours; "
            f"the budget is {config.max_grants_per_day} a day (STITCH_MAX_GRANTS_PER_DAY)",
            rule=Rule.BUDGET_GRANTS_PER_DAY,
        )

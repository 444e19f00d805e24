"""Policy for the rest of the lifecycle: who may be invited, reactivated, or given a role, and
how many of those one run and one day may make. Pure functions, no browser; the planner calls
them for every entry point, and apply calls them again on its fresh roster under the lock.

The removal rules (policy.py) still hold where a grant takes something away: demoting a member
to General User is refused for whoever a removal would be (the signed-in account, a protected
address, the last or an SSO Administrator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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

_DONE = {
    "invite": OutcomeStatus.INVITED,
    "set_role": OutcomeStatus.CHANGED,
    "reactivate": OutcomeStatus.REACTIVATED,
    "resend_invitation": OutcomeStatus.INVITATION_RESENT,
}
_ACTION = {
    "invite": Action.INVITE,
    "set_role": Action.SET_ROLE,
    "reactivate": Action.REACTIVATE,
    "resend_invitation": Action.RESEND_INVITATION,
}
# A demotion takes access away: these removal rules refuse it too. (The Invoice Admin may be a
# General User, and an address outside STITCH_ALLOWED_DOMAINS is still out of scope.)
_DEMOTION_RULES = frozenset(
    {
        Rule.SIGNED_IN_ACCOUNT,
        Rule.PROTECTED_EMAIL,
        Rule.PROTECTED_DOMAIN,
        Rule.DOMAIN_NOT_ALLOWED,
        Rule.SSO_ADMIN,
        Rule.LAST_ADMINISTRATOR,
    }
)


def requested_grants(asks: Sequence[tuple[str, Grant]]) -> list[tuple[str, Grant]]:
    """Lower-cased and checked; the last ask for one address wins. UsageProblem on a bad one."""
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
        seen.pop(email, None)
        seen[email] = grant
    return list(seen.items())


def decide_grants(
    asks: Sequence[tuple[str, Grant]],
    roster: MemberList,
    config: PolicyConfig,
    *,
    unresolved: frozenset[str] = frozenset(),
    protected_before: Mapping[str, str] | None = None,
) -> list[PlanTarget]:
    """The expected outcome of each ask on this roster: an action, or what is already true, or
    the rule that refuses it."""
    by_email = {m.email: m for m in roster.members}
    sticky = protected_before or {}
    return [
        _decide_one(email, grant, by_email.get(email), roster, config, sticky, unresolved)
        for email, grant in requested_grants(asks)
    ]


def _decide_one(
    email: str,
    grant: Grant,
    member: Member | None,
    roster: MemberList,
    config: PolicyConfig,
    sticky: Mapping[str, str],
    unresolved: frozenset[str],
) -> PlanTarget:
    def target(
        expected: OutcomeStatus, rule: str | None = None, *, act: bool = False
    ) -> PlanTarget:
        action = _ACTION[kind] if act else None
        return PlanTarget(
            email=email, expected=expected, action=action, rule=rule, member=member, grant=grant
        )

    kind = grant.kind
    if member is None and email in roster.mentioned:
        return target(OutcomeStatus.REFUSED, Rule.SHOWN_BUT_NOT_READ)
    if email in unresolved:
        return target(OutcomeStatus.REFUSED, Rule.UNRESOLVED_UNKNOWN)
    if kind == "reactivate" and member is None and grant.invite_if_absent:
        kind = "invite"
    already = _already(kind, grant, member)
    if already is not None:
        return target(*already)
    rule = _refusal(email, kind, grant, member, roster, config, sticky)
    if rule is not None:
        return target(OutcomeStatus.REFUSED, rule)
    return target(_DONE[kind], act=True)


def _already(
    kind: str, grant: Grant, member: Member | None
) -> tuple[OutcomeStatus, str | None] | None:
    """What is already true (nothing to click), or what makes the ask impossible here."""
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


def _refusal(
    email: str,
    kind: str,
    grant: Grant,
    member: Member | None,
    roster: MemberList,
    config: PolicyConfig,
    sticky: Mapping[str, str],
) -> str | None:
    """The rule refusing an ask that would act, or None."""
    granted_role = grant.role or Role.GENERAL_USER
    gives_access = kind in ("invite", "reactivate", "resend_invitation")
    if gives_access and email.rsplit("@", 1)[-1] not in config.invite_domains:
        return Rule.INVITE_DOMAIN_NOT_ALLOWED
    promotes = kind in ("invite", "set_role") and granted_role is Role.ADMINISTRATOR
    if promotes and not grant.allow_administrator:
        return Rule.ADMINISTRATOR_NEEDS_FLAG
    if kind == "set_role" and member is not None and granted_role is Role.GENERAL_USER:
        return _demotion_rule(member, roster, config, sticky)
    return None


def _demotion_rule(
    member: Member, roster: MemberList, config: PolicyConfig, sticky: Mapping[str, str]
) -> str | None:
    """Demoting takes access away: refused for whoever a removal would be refused for, except
    the Invoice Admin (who may be a General User). Each rule on its own: an Invoice Admin who
    is also the last Administrator stays the last Administrator."""
    if member.is_self:
        return Rule.SIGNED_IN_ACCOUNT
    plain = member.model_copy(update={"invoice_admin": False})
    rule = protection(plain, roster, config)
    if rule in _DEMOTION_RULES:
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

"""Policy: who may be removed, and whether a whole request is sane. Pure functions, no browser.

It sits below every entry point (CLI, HTTP service, Python API): StitchConnector.apply calls it on
a fresh roster right before any click, whatever the caller checked before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from connector.approval_rules import ApprovalRules
from connector.errors import PolicyRefused, UsageProblem
from connector.models import (
    Action,
    Member,
    MemberList,
    OutcomeStatus,
    PlanTarget,
    Role,
    Status,
    is_requested_email,
)


class Rule(StrEnum):
    """Every rule that refuses a removal. The values are what JSON output, audit records and
    plan files carry: never rename one."""

    # protection(): who is never removed
    SIGNED_IN_ACCOUNT = "signed_in_account"
    PROTECTED_EMAIL = "protected_email"
    PROTECTED_DOMAIN = "protected_domain"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    INVOICE_ADMIN = "invoice_admin"
    SSO_ADMIN = "sso_admin"
    LAST_ADMINISTRATOR = "last_administrator"
    # sticky_protections(): protected in the last accepted roster
    WAS_SIGNED_IN_ACCOUNT = "was_signed_in_account"
    WAS_INVOICE_ADMIN = "was_invoice_admin"
    WAS_SSO_ADMIN = "was_sso_admin"
    # decide(): what the roster and the history say about one address
    SHOWN_BUT_NOT_READ = "shown_but_not_read"
    NEVER_A_MEMBER = "never_a_member"
    UNRESOLVED_UNKNOWN = "unresolved_unknown"
    # check_batch(): the whole request
    ROSTER_IMPLAUSIBLE = "roster_implausible"
    BUDGET_MAX_REMOVALS = "budget_max_removals"
    BUDGET_PER_DAY = "budget_per_day"
    BUDGET_MAX_FRACTION = "budget_max_fraction"
    # a person at the --step prompt (actions.py)
    HUMAN_SKIP = "human_skip"
    HUMAN_QUIT = "human_quit"
    # grant_policy.py: who may be given access, and how much in one run
    INVITE_DOMAIN_NOT_ALLOWED = "invite_domain_not_allowed"
    ADMINISTRATOR_NEEDS_FLAG = "administrator_needs_flag"
    DEACTIVATED_MEMBER = "deactivated_member"
    NOT_ON_ROSTER = "not_on_roster"
    BUDGET_MAX_GRANTS = "budget_max_grants"
    BUDGET_GRANTS_PER_DAY = "budget_grants_per_day"


@dataclass(frozen=True)
class PolicyConfig:
    protected_emails: frozenset[str] = frozenset()
    protected_domains: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()  # empty: any domain may be touched
    max_removals: int = 5
    max_fraction: float = 0.2
    max_removals_per_day: int = 20  # across runs and entry points: the blast radius of a day
    sso_enabled: bool = False  # then Administrators are SSO Admins: the break-glass logins
    invite_domains: frozenset[str] = frozenset()  # empty: no invitation is sent at all
    max_grants: int = 5  # invitations, reactivations, role changes, resends per run
    max_grants_per_day: int = 20
    approvals: ApprovalRules = field(default_factory=ApprovalRules)  # writes held for a person


def requested_emails(emails: list[str]) -> list[str]:
    """Lower-cased, de-duplicated, in order; anything that is not an email is a usage error."""
    requested = list(dict.fromkeys(e.strip().lower() for e in emails))
    bad = [e for e in requested if not is_requested_email(e)]
    if bad or not requested:
        raise UsageProblem(
            f"not an email address: {bad[0]!r}" if bad else "no email to remove was given",
            hint="Give each member's exact email address; nothing was changed.",
        )
    return requested


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def protection(member: Member, roster: MemberList, config: PolicyConfig) -> Rule | None:
    """The rule that protects this member from removal, or None. First match wins."""
    if member.is_self:
        return Rule.SIGNED_IN_ACCOUNT
    if member.email in config.protected_emails:
        return Rule.PROTECTED_EMAIL
    if _domain(member.email) in config.protected_domains:
        return Rule.PROTECTED_DOMAIN
    if config.allowed_domains and _domain(member.email) not in config.allowed_domains:
        return Rule.DOMAIN_NOT_ALLOWED
    if member.invoice_admin:
        return Rule.INVOICE_ADMIN
    if member.role is Role.ADMINISTRATOR and member.status is Status.ACTIVE:
        if config.sso_enabled:
            return Rule.SSO_ADMIN
        others = [
            m
            for m in roster.members
            if m.role is Role.ADMINISTRATOR
            and m.status is Status.ACTIVE
            and m.email != member.email
        ]
        if not others:
            return Rule.LAST_ADMINISTRATOR
    return None


def sticky_protections(previous: list[Member], config: PolicyConfig) -> dict[str, Rule]:
    """Who was protected in the last accepted roster, by the rule that protected them. They stay
    protected until a read that passed every check has been accepted without it: one fresh read
    (a restyled badge, a relabelled role) never switches a protection off."""
    sticky: dict[str, Rule] = {}
    for member in previous:
        if member.is_self:
            sticky[member.email] = Rule.WAS_SIGNED_IN_ACCOUNT
        elif member.invoice_admin:
            sticky[member.email] = Rule.WAS_INVOICE_ADMIN
        elif (
            config.sso_enabled
            and member.role is Role.ADMINISTRATOR
            and member.status is Status.ACTIVE
        ):
            sticky[member.email] = Rule.WAS_SSO_ADMIN
    return sticky


def decide(
    emails: list[str],
    roster: MemberList,
    config: PolicyConfig,
    *,
    unresolved: frozenset[str] = frozenset(),
    protected_before: Mapping[str, str] | None = None,
    known: frozenset[str] | None = None,
) -> list[PlanTarget]:
    """The expected outcome for each requested email, on this roster. Exact email matches only.

    `unresolved`: emails whose last removal ended `unknown` and no person has resolved since:
    clicking again could be the second click of one removal, so they are refused.
    `protected_before`: sticky protections from the last accepted roster (sticky_protections).
    A member the list's text still shows (roster.mentioned) is never "already absent".
    `known`: every address ever on the roster (stored snapshots, the last accepted roster, the
    audit trail). One not on this roster and never known is `not_found` (a typo, most likely: not
    success); None means there is no history yet, and then it is `already_absent` as before."""
    by_email = {m.email: m for m in roster.members}
    sticky = protected_before or {}
    targets = [
        _decide_one(email, by_email.get(email), roster, config, sticky, unresolved, known)
        for email in requested_emails(emails)
    ]
    return last_admin_across_the_batch(targets, roster)


def _decide_one(
    email: str,
    member: Member | None,
    roster: MemberList,
    config: PolicyConfig,
    sticky: Mapping[str, str],
    unresolved: frozenset[str],
    known: frozenset[str] | None,
) -> PlanTarget:
    """One address on its own (decide's parameters); the batch rules come after."""
    if member is None and email in roster.mentioned:
        return PlanTarget(email=email, expected=OutcomeStatus.REFUSED, rule=Rule.SHOWN_BUT_NOT_READ)
    if member is None and known is not None and email not in known:
        return PlanTarget(email=email, expected=OutcomeStatus.NOT_FOUND, rule=Rule.NEVER_A_MEMBER)
    if member is None or member.status is Status.DEACTIVATED:
        return PlanTarget(email=email, expected=OutcomeStatus.ALREADY_ABSENT, member=member)
    rule = protection(member, roster, config) or sticky.get(email)
    if rule is None and email in unresolved:
        rule = Rule.UNRESOLVED_UNKNOWN
    if rule is not None:
        return PlanTarget(email=email, expected=OutcomeStatus.REFUSED, rule=rule, member=member)
    if member.status is Status.PENDING:
        return PlanTarget(
            email=email,
            expected=OutcomeStatus.INVITATION_CANCELLED,
            action=Action.CANCEL_INVITATION,
            member=member,
        )
    return PlanTarget(
        email=email, expected=OutcomeStatus.DEACTIVATED, action=Action.DEACTIVATE, member=member
    )


def last_admin_across_the_batch(targets: list[PlanTarget], roster: MemberList) -> list[PlanTarget]:
    """Removing or demoting several Administrators at once must still leave one: refuse the
    last of them."""
    active_admins = {
        m.email
        for m in roster.members
        if m.role is Role.ADMINISTRATOR and m.status is Status.ACTIVE
    }
    removing = [
        t
        for t in targets
        if t.email in active_admins
        and (
            t.action is Action.DEACTIVATE
            or (
                t.action is Action.SET_ROLE
                and t.grant is not None
                and t.grant.role is Role.GENERAL_USER
            )
        )
    ]
    if removing and len(removing) >= len(active_admins):
        last = removing[-1]
        return [
            t.model_copy(
                update={
                    "expected": OutcomeStatus.REFUSED,
                    "action": None,
                    "rule": Rule.LAST_ADMINISTRATOR,
                }
            )
            if t is last
            else t
            for t in targets
        ]
    return targets


def check_batch(
    targets: list[PlanTarget],
    roster: MemberList,
    config: PolicyConfig,
    *,
    previous_count: int | None,
    override_budget: bool,
    removed_last_day: int = 0,
) -> None:
    """Refuse the whole request before any click: over budget, or a roster that looks wrong.

    `removed_last_day`: proven removals in the audit trail over the last 24 hours, by any entry
    point; with this run they must stay within `max_removals_per_day`."""
    if roster.count <= 1 and (previous_count or 0) > 1:
        raise PolicyRefused(
            f"the roster just read has only {roster.count} member(s), down from {previous_count}: "
            "that is far likelier a page problem than a team that left",
            rule=Rule.ROSTER_IMPLAUSIBLE,
        )
    if previous_count and roster.count < previous_count / 2:
        raise PolicyRefused(
            f"the roster dropped from {previous_count} to {roster.count} members since the last "
            "read: more than half, which looks like UI drift, not departures",
            rule=Rule.ROSTER_IMPLAUSIBLE,
        )
    acting = [t for t in targets if t.action is not None and t.action.removes]
    if override_budget:
        return
    if len(acting) > config.max_removals:
        raise PolicyRefused(
            f"{len(acting)} removals requested; the budget is {config.max_removals} per run",
            rule=Rule.BUDGET_MAX_REMOVALS,
        )
    if acting and removed_last_day + len(acting) > config.max_removals_per_day:
        raise PolicyRefused(
            f"{len(acting)} removal(s) requested and {removed_last_day} done in the last 24 hours; "
            f"the budget is {config.max_removals_per_day} a day (STITCH_MAX_REMOVALS_PER_DAY)",
            rule=Rule.BUDGET_PER_DAY,
        )
    if len(acting) > _by_fraction(roster.count, config):
        raise PolicyRefused(
            f"{len(acting)} of {roster.count} members is more than the "
            f"{config.max_fraction:.0%} a run may remove",
            rule=Rule.BUDGET_MAX_FRACTION,
        )


def remaining_budget(
    config: PolicyConfig, *, roster_count: int | None, removed_last_day: int
) -> int:
    """How many removals one run may still make: the per-run budget, what is left of the day's
    (`removed_last_day`: AuditLog.removals_since, 24 hours back) and the share of a roster of
    `roster_count` members (None: no roster known yet, so one). 0 only when the per-run or the
    day's budget is used up. check_batch refuses exactly the runs that ask for more.

    Replaces the arithmetic of service/worker.py `Worker._batch_limit` (which sizes a batch of
    queued jobs from the latest snapshot's count): call it with that count instead."""
    left_today = config.max_removals_per_day - removed_last_day
    by_fraction = 1 if roster_count is None else _by_fraction(roster_count, config)
    return max(0, min(config.max_removals, left_today, by_fraction))


def _by_fraction(count: int, config: PolicyConfig) -> int:
    """The most removals `max_fraction` of `count` members allows, by the same division
    check_batch used to make (no float rounding surprise). A single removal is always allowed:
    in a team of four it would be 25 %."""
    if count <= 0:
        return 1
    most = min(count, math.floor(config.max_fraction * count))
    while most < count and (most + 1) / count <= config.max_fraction:
        most += 1
    while most > 0 and most / count > config.max_fraction:
        most -= 1
    return max(1, most)


_EXPLANATIONS: dict[str, str] = {
    Rule.SIGNED_IN_ACCOUNT: "the account the connector signs in as is never removed",
    Rule.PROTECTED_EMAIL: "on the protected list (STITCH_PROTECTED_EMAILS)",
    Rule.PROTECTED_DOMAIN: "its domain is protected (STITCH_PROTECTED_DOMAINS)",
    Rule.DOMAIN_NOT_ALLOWED: "its domain is not in STITCH_ALLOWED_DOMAINS",
    Rule.INVOICE_ADMIN: "the Invoice Admin receives the account's invoices",
    Rule.SSO_ADMIN: "an Administrator on an SSO account (an SSO Admin, the break-glass login)",
    Rule.LAST_ADMINISTRATOR: "an account must keep at least one Administrator",
    Rule.WAS_SIGNED_IN_ACCOUNT: "the signed-in account in the last accepted roster",
    Rule.WAS_INVOICE_ADMIN: "the Invoice Admin in the last accepted roster: stays protected until "
    "a read that passed every check no longer shows them as such (run `stitch-connector sync`)",
    Rule.WAS_SSO_ADMIN: "an Administrator on an SSO account in the last accepted roster",
    Rule.SHOWN_BUT_NOT_READ: "the member list shows this address but no row for it could be read: "
    "the UI may have changed (run `stitch-connector doctor`); nothing was clicked",
    Rule.NEVER_A_MEMBER: "this address was never on the roster in any stored snapshot, the last "
    "accepted roster nor the audit trail: check it for a typo (the person's real address may "
    "still have access); nothing was clicked",
    Rule.UNRESOLVED_UNKNOWN: "an earlier write to this member (a removal or a grant) ended "
    "unknown (clicked, never proven); check them in Stitch, then record it with "
    "`stitch-connector audit resolve`",
    Rule.INVITE_DOMAIN_NOT_ALLOWED: "its domain is not in STITCH_INVITE_DOMAINS (no invitation "
    "or reactivation goes to a domain not listed there; none is listed by default)",
    Rule.ADMINISTRATOR_NEEDS_FLAG: "granting Administrator must be asked for explicitly "
    "(--allow-administrator, or the service's admin scope)",
    Rule.DEACTIVATED_MEMBER: "deactivated on this account: reactivate them instead",
    Rule.NOT_ON_ROSTER: "not on the roster (for a reactivation: this Stitch does not list "
    "deactivated members; ask to invite them again)",
}


def explain(rule: str | None) -> str | None:
    return _EXPLANATIONS.get(rule, rule) if rule else None

"""Policy: who may be removed, and whether a whole request is sane. Pure functions, no browser.

It sits below every entry point (CLI, HTTP service, Python API): StitchConnector.apply calls it on
a fresh roster right before any click, whatever the caller checked before.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class PolicyConfig:
    protected_emails: frozenset[str] = frozenset()
    protected_domains: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()  # empty: any domain may be touched
    max_removals: int = 5
    max_fraction: float = 0.2
    max_removals_per_day: int = 20  # across runs and entry points: the blast radius of a day
    sso_enabled: bool = False  # then Administrators are SSO Admins: the break-glass logins


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


def protection(member: Member, roster: MemberList, config: PolicyConfig) -> str | None:
    """The rule that protects this member from removal, or None. First match wins."""
    if member.is_self:
        return "signed_in_account"
    if member.email in config.protected_emails:
        return "protected_email"
    if _domain(member.email) in config.protected_domains:
        return "protected_domain"
    if config.allowed_domains and _domain(member.email) not in config.allowed_domains:
        return "domain_not_allowed"
    if member.invoice_admin:
        return "invoice_admin"
    if member.role is Role.ADMINISTRATOR and member.status is Status.ACTIVE:
        if config.sso_enabled:
            return "sso_admin"
        others = [
            m
            for m in roster.members
            if m.role is Role.ADMINISTRATOR
            and m.status is Status.ACTIVE
            and m.email != member.email
        ]
        if not others:
            return "last_administrator"
    return None


def sticky_protections(previous: list[Member], config: PolicyConfig) -> dict[str, str]:
    """Who was protected in the last accepted roster, by the rule that protected them. They stay
    protected until a read that passed every check has been accepted without it: one fresh read
    (a restyled badge, a relabelled role) never switches a protection off."""
    sticky: dict[str, str] = {}
    for member in previous:
        if member.is_self:
            sticky[member.email] = "was_signed_in_account"
        elif member.invoice_admin:
            sticky[member.email] = "was_invoice_admin"
        elif (
            config.sso_enabled
            and member.role is Role.ADMINISTRATOR
            and member.status is Status.ACTIVE
        ):
            sticky[member.email] = "was_sso_admin"
    return sticky


def decide(
    emails: list[str],
    roster: MemberList,
    config: PolicyConfig,
    *,
    unresolved: frozenset[str] = frozenset(),
    protected_before: dict[str, str] | None = None,
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
    targets: list[PlanTarget] = []
    for email in requested_emails(emails):
        member = by_email.get(email)
        if member is None and email in roster.mentioned:
            targets.append(
                PlanTarget(email=email, expected=OutcomeStatus.REFUSED, rule="shown_but_not_read")
            )
            continue
        if member is None and known is not None and email not in known:
            targets.append(
                PlanTarget(email=email, expected=OutcomeStatus.NOT_FOUND, rule="never_a_member")
            )
            continue
        if member is None or member.status is Status.DEACTIVATED:
            targets.append(
                PlanTarget(email=email, expected=OutcomeStatus.ALREADY_ABSENT, member=member)
            )
            continue
        rule = protection(member, roster, config) or sticky.get(email)
        if rule is None and email in unresolved:
            rule = "unresolved_unknown"
        if rule is not None:
            targets.append(
                PlanTarget(email=email, expected=OutcomeStatus.REFUSED, rule=rule, member=member)
            )
        elif member.status is Status.PENDING:
            targets.append(
                PlanTarget(
                    email=email,
                    expected=OutcomeStatus.INVITATION_CANCELLED,
                    action=Action.CANCEL_INVITATION,
                    member=member,
                )
            )
        else:
            targets.append(
                PlanTarget(
                    email=email,
                    expected=OutcomeStatus.DEACTIVATED,
                    action=Action.DEACTIVATE,
                    member=member,
                )
            )
    return _last_admin_across_the_batch(targets, roster)


def _last_admin_across_the_batch(targets: list[PlanTarget], roster: MemberList) -> list[PlanTarget]:
    """Removing several Administrators at once must still leave one: refuse the last of them."""
    active_admins = {
        m.email
        for m in roster.members
        if m.role is Role.ADMINISTRATOR and m.status is Status.ACTIVE
    }
    removing = [t for t in targets if t.action is Action.DEACTIVATE and t.email in active_admins]
    if removing and len(removing) >= len(active_admins):
        last = removing[-1]
        return [
            t.model_copy(
                update={
                    "expected": OutcomeStatus.REFUSED,
                    "action": None,
                    "rule": "last_administrator",
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
            rule="roster_implausible",
        )
    if previous_count and roster.count < previous_count / 2:
        raise PolicyRefused(
            f"the roster dropped from {previous_count} to {roster.count} members since the last "
            "read: more than half, which looks like UI drift, not departures",
            rule="roster_implausible",
        )
    acting = [t for t in targets if t.action is not None]
    if override_budget:
        return
    if len(acting) > config.max_removals:
        raise PolicyRefused(
            f"{len(acting)} removals requested; the budget is {config.max_removals} per run",
            rule="budget_max_removals",
        )
    if acting and removed_last_day + len(acting) > config.max_removals_per_day:
        raise PolicyRefused(
            f"{len(acting)} removal(s) requested and {removed_last_day} done in the last 24 hours; "
            f"the budget is {config.max_removals_per_day} a day (STITCH_MAX_REMOVALS_PER_DAY)",
            rule="budget_per_day",
        )
    # A single removal is never refused by the fraction: in a team of four it would be 25 %.
    if len(acting) > 1 and len(acting) / roster.count > config.max_fraction:
        raise PolicyRefused(
            f"{len(acting)} of {roster.count} members is more than the "
            f"{config.max_fraction:.0%} a run may remove",
            rule="budget_max_fraction",
        )


_EXPLANATIONS = {
    "signed_in_account": "the account the connector signs in as is never removed",
    "protected_email": "on the protected list (STITCH_PROTECTED_EMAILS)",
    "protected_domain": "its domain is protected (STITCH_PROTECTED_DOMAINS)",
    "domain_not_allowed": "its domain is not in STITCH_ALLOWED_DOMAINS",
    "invoice_admin": "the Invoice Admin receives the account's invoices",
    "sso_admin": "an Administrator on an SSO account (an SSO Admin, the break-glass login)",
    "last_administrator": "an account must keep at least one Administrator",
    "was_signed_in_account": "the signed-in account in the last accepted roster",
    "was_invoice_admin": "the Invoice Admin in the last accepted roster: stays protected until "
    "a read that passed every check no longer shows them as such (run `stitch-connector sync`)",
    "was_sso_admin": "an Administrator on an SSO account in the last accepted roster",
    "shown_but_not_read": "the member list shows this address but no row for it could be read: "
    "the UI may have changed (run `stitch-connector doctor`); nothing was clicked",
    "never_a_member": "this address was never on the roster in any stored snapshot, the last "
    "accepted roster nor the audit trail: check it for a typo (the person's real address may "
    "still have access); nothing was clicked",
    "unresolved_unknown": "an earlier removal of this member ended unknown (clicked, never "
    "proven); check them in Stitch, then record it with `stitch-connector audit resolve`",
}


def explain(rule: str | None) -> str | None:
    return _EXPLANATIONS.get(rule, rule) if rule else None

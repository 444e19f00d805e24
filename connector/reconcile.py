"""Reconciliation: who has Stitch access, against who should (the identity provider).

Pure: no browser, no file access (idp.py reads the IdP file). It classifies every Stitch member
against the IdP's directory and turns the orphans into a Plan for `stitch-connector apply`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from connector import planner, policy
from connector.errors import UsageProblem
from connector.idp import IdpDirectory, IdpFormat, domain_of
from connector.models import Account, Member, MemberList, OutcomeStatus, Plan, Role, Status
from connector.planner import History, PlanRequest
from connector.policy import PolicyConfig

# ------------------------------------------------------------------ classification


class Classification(StrEnum):
    OK = "ok"  # active in the IdP
    ORPHAN = "orphan"  # not in the IdP, or gone there: should be removed
    PROTECTED = "protected"  # would be an orphan, but policy never removes them (`rule`)
    PENDING_INVITE = "pending_invite"  # an invitation not yet accepted in Stitch
    UNMATCHED_DOMAIN = "unmatched_domain"  # not in the IdP and outside the company's domains
    DEACTIVATED = "deactivated"  # listed by Stitch as deactivated: no access, nothing to do


class AliasOf(BaseModel):
    """`user+tag@domain`: reported, never merged with the base address."""

    model_config = ConfigDict(frozen=True)

    email: str = Field(description="The base address, without the +tag.")
    in_idp: bool
    idp_status: str | None = None


class ReconcileRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    name: str | None
    role: Role
    stitch_status: Status
    idp_status: str | None = Field(description="As the IdP file says; null when not in it.")
    classification: Classification
    rule: str | None = Field(None, description="The policy rule, for `protected`.")
    alias_of: AliasOf | None = None


class RosterSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["snapshot", "fresh"]
    snapshot_id: int | None = None
    scraped_at: datetime
    fingerprint: str
    count: int


class IdpSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    format: IdpFormat
    users: int
    active: int


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["stitch-connector/reconcile"] = "stitch-connector/reconcile"
    created_at: datetime
    account: Account
    source: RosterSource
    idp: IdpSource
    company_domains: list[str]
    domains_from: Literal["flag", "idp"]
    rows: list[ReconcileRow]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Members per classification, every class listed."""
        found = Counter(r.classification for r in self.rows)
        return {c.value: found[c] for c in Classification}

    @property
    def orphans(self) -> list[ReconcileRow]:
        return [r for r in self.rows if r.classification is Classification.ORPHAN]


def company_domains(given: list[str]) -> frozenset[str]:
    """--company-domain values: `corp.com` or `@corp.com`, any case."""
    domains = set()
    for value in given:
        domain = value.strip().lower().removeprefix("@")
        if not domain or "@" in domain or "." not in domain or any(c.isspace() for c in domain):
            raise UsageProblem(f"--company-domain {value!r} is not a domain such as corp.com")
        domains.add(domain)
    return frozenset(domains)


def alias_base(email: str) -> str | None:
    """`user+tag@domain` → `user@domain`; None for an address without a +tag."""
    local, _, domain = email.rpartition("@")
    base, plus, _tag = local.partition("+")
    return f"{base}@{domain}" if plus and base else None


def reconcile(
    roster: MemberList,
    idp: IdpDirectory,
    config: PolicyConfig,
    *,
    domains: frozenset[str] = frozenset(),
    source: Literal["snapshot", "fresh"] = "snapshot",
    snapshot_id: int | None = None,
    now: datetime | None = None,
    history: History | None = None,
) -> ReconcileReport:
    """Classify every Stitch member against the IdP. Exact (normalised) emails only.

    `domains`: the company's domains; empty means the domains present in the IdP file.
    `history`: what earlier runs tell (planner.History), so that an orphan apply would refuse
    is `protected` here; None: no history.
    """
    company = domains or idp.domains
    rows = [_classify(member, roster, idp, config, company) for member in roster.members]
    rows = _refused_across_the_batch(rows, roster, config, history or History())
    return ReconcileReport(
        created_at=now or datetime.now(UTC),
        account=roster.account,
        source=RosterSource(
            kind=source,
            snapshot_id=snapshot_id,
            scraped_at=roster.scraped_at,
            fingerprint=roster.fingerprint,
            count=roster.count,
        ),
        idp=IdpSource(
            path=idp.source,
            format=idp.format,
            users=len(idp.users),
            active=sum(u.active for u in idp.users.values()),
        ),
        company_domains=sorted(company),
        domains_from="flag" if domains else "idp",
        rows=rows,
    )


def _classify(
    member: Member,
    roster: MemberList,
    idp: IdpDirectory,
    config: PolicyConfig,
    company: frozenset[str],
) -> ReconcileRow:
    user = idp.users.get(member.email)
    base = alias_base(member.email)
    alias = None
    if base is not None:
        base_user = idp.users.get(base)
        alias = AliasOf(
            email=base,
            in_idp=base_user is not None,
            idp_status=base_user.status if base_user else None,
        )
    rule = None
    if member.status is Status.DEACTIVATED:
        kind = Classification.DEACTIVATED
    elif member.status is Status.PENDING:
        kind = Classification.PENDING_INVITE
    elif user is not None and user.active:
        kind = Classification.OK
    elif user is None and domain_of(member.email) not in company:
        kind = Classification.UNMATCHED_DOMAIN
    else:  # gone in the IdP, or absent from it inside the company's domains
        rule = policy.protection(member, roster, config)
        kind = Classification.ORPHAN if rule is None else Classification.PROTECTED
    return ReconcileRow(
        email=member.email,
        name=member.name,
        role=member.role,
        stitch_status=member.status,
        idp_status=user.status if user else None,
        classification=kind,
        rule=rule,
        alias_of=alias,
    )


def _refused_across_the_batch(
    rows: list[ReconcileRow], roster: MemberList, config: PolicyConfig, history: History
) -> list[ReconcileRow]:
    """What only the planner shows (removing every Administrator at once, an unresolved
    earlier removal, a sticky protection): those orphans are protected too, by the rule apply
    would refuse them with."""
    orphans = [r.email for r in rows if r.classification is Classification.ORPHAN]
    refused = planner.refusals(orphans, roster, config, history)
    return [
        r.model_copy(update={"classification": Classification.PROTECTED, "rule": refused[r.email]})
        if r.email in refused and r.classification is Classification.ORPHAN
        else r
        for r in rows
    ]


def plan_for(
    report: ReconcileReport,
    roster: MemberList,
    config: PolicyConfig,
    *,
    base_url: str,
    now: datetime | None = None,
    history: History | None = None,
) -> Plan:
    """The orphans as a Plan for `apply`, bound to this roster's fingerprint: planner.plan on
    the same roster and `history` apply decides on (None: no history, a first run).

    Protected rows are not targets. An orphan apply would refuse (the report was made
    without this history) is a `refused` target with its rule, never one to act on. No
    orphans: a plan with no targets."""
    if report.source.fingerprint != roster.fingerprint:
        raise ValueError("the report was made against another roster")
    request = PlanRequest(
        emails=[r.email for r in report.orphans],
        base_url=base_url,
        reason=f"reconcile: not active in the identity provider ({report.idp.path})",
        now=now,
    )
    made = planner.plan(roster, request, config, history or History())
    kept = [t for t in made.targets if t.action is not None or t.expected is OutcomeStatus.REFUSED]
    return made.model_copy(update={"targets": kept})

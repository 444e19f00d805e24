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
from connector.models import Account, Grant, Member, MemberList, OutcomeStatus, Plan, Role, Status
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


class JoinerRow(BaseModel):
    """Active and assigned in the IdP, inside the company's domains, without Stitch access."""

    model_config = ConfigDict(frozen=True)

    email: str
    idp_status: str
    role: Role | None = Field(None, description="The role the IdP gives, if it says.")
    stitch_status: Status | None = Field(
        None, description="deactivated: Stitch lists them deactivated (a reactivation)."
    )


class RoleDriftRow(BaseModel):
    """A member whose Stitch role is not the one the IdP gives."""

    model_config = ConfigDict(frozen=True)

    email: str
    stitch_role: Role
    idp_role: Role
    stitch_status: Status


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
    joiners: list[JoinerRow] = Field(
        default_factory=list, description="Only when the IdP file says who is assigned."
    )
    role_drift: list[RoleDriftRow] = Field(
        default_factory=list, description="Only where the IdP file carries roles."
    )

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
        joiners=joiners(roster, idp, company),
        role_drift=role_drift(roster, idp),
    )


def joiners(roster: MemberList, idp: IdpDirectory, company: frozenset[str]) -> list[JoinerRow]:
    """Active, assigned IdP users of the company's domains that Stitch does not list as active
    or invited, in the IdP file's order."""
    listed = {m.email: m for m in roster.members}
    found = []
    for user in idp.users.values():
        member = listed.get(user.email)
        if not (user.active and user.assigned) or domain_of(user.email) not in company:
            continue
        if member is not None and member.status is not Status.DEACTIVATED:
            continue
        stitch = member.status if member else None
        found.append(JoinerRow(email=user.email, idp_status=user.status, role=user.role,
                               stitch_status=stitch))  # fmt: skip
    return found


def role_drift(roster: MemberList, idp: IdpDirectory) -> list[RoleDriftRow]:
    """Active or invited members whose role the IdP gives otherwise (where it gives one)."""
    drift = []
    for member in roster.members:
        user = idp.users.get(member.email)
        if user is None or user.role is None or not user.active:
            continue
        if member.status is Status.DEACTIVATED or member.role is user.role:
            continue
        drift.append(RoleDriftRow(email=member.email, stitch_role=member.role,
                                  idp_role=user.role, stitch_status=member.status))  # fmt: skip
    return drift


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
    allow_administrator: bool = False,
) -> Plan:
    """The orphans (and the joiners and role drift, as invitations, reactivations and role
    changes) as a Plan for `apply`, bound to this roster's fingerprint: planner.plan on the
    same roster and `history` apply decides on (None: no history, a first run).

    Protected rows are not targets. An orphan apply would refuse (the report was made
    without this history) is a `refused` target with its rule, never one to act on. No
    orphans: a plan with no targets."""
    if report.source.fingerprint != roster.fingerprint:
        raise ValueError("the report was made against another roster")
    request = PlanRequest(
        emails=[r.email for r in report.orphans],
        grants=grants_for(report, allow_administrator=allow_administrator),
        base_url=base_url,
        reason=f"reconcile: Stitch brought in line with the identity provider ({report.idp.path})",
        now=now,
    )
    made = planner.plan(roster, request, config, history or History())
    kept = [t for t in made.targets if t.action is not None or t.expected is OutcomeStatus.REFUSED]
    return made.model_copy(update={"targets": kept})


def grants_for(report: ReconcileReport, *, allow_administrator: bool) -> list[tuple[str, Grant]]:
    """Joiners invited (or reactivated, where Stitch lists them deactivated) with the IdP's
    role; role drift set to the IdP's role. The planner decides whether each may be."""
    allowed = allow_administrator
    grants: list[tuple[str, Grant]] = [
        (
            j.email,
            Grant(kind="reactivate", allow_administrator=allowed)
            if j.stitch_status is Status.DEACTIVATED
            else Grant(kind="invite", role=j.role, allow_administrator=allowed),
        )
        for j in report.joiners
    ]
    grants += [
        (d.email, Grant(kind="set_role", role=d.idp_role, allow_administrator=allowed))
        for d in report.role_drift
    ]
    return grants

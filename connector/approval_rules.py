"""Approval rules: which writes wait for a second person. Pure, like policy.py.

A rule names a kind of write that hurts if wrong. The planner asks `holds()` of every target it
decides to act on; a target a rule matches is held (expected `pending_approval`), unless the run
carries an approval that covers it. Rules come from STITCH_APPROVAL_RULES_FILE (TOML, `[[rule]]`
tables) and a few STITCH_APPROVE_* shortcuts (settings.py); none means nothing is ever held.

    when = "removes_administrator"    a removal of an Administrator (or an SSO Admin)
    when = "grants_administrator"     an invitation, promotion or reactivation as Administrator
    when = "more_than"                a request acting on more than `targets` members
    when = "over_budget"              a request over the per-run or per-day budget: instead of a
                                      refusal, it waits for a person; approved, it runs past the
                                      budget (the only rule whose approval is an override)
    when = "domain"                   a member whose address is in one of `domains`
    when = "principal"                anything asked by one of `principals` (a token's name, a
                                      CLI actor; with or without its `api:`/`human:` prefix)
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.errors import ConfigError, UsageProblem
from connector.models import Action, PlanTarget, Role

When = Literal[
    "removes_administrator",
    "grants_administrator",
    "more_than",
    "over_budget",
    "domain",
    "principal",
]
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
# policy.Rule's budget rules, by value (policy imports this module, not the other way round).
_BUDGET_RULES = frozenset({"budget_max_removals", "budget_max_fraction", "budget_per_day"})
_GRANT_BUDGET_RULES = frozenset({"budget_max_grants", "budget_grants_per_day"})
_PER_DAY = frozenset({"budget_per_day", "budget_grants_per_day"})


class ApprovalRule(BaseModel):
    """One `[[rule]]` of the rules file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: RuleName = Field(description="Shown in plans, jobs, approvals and the audit trail.")
    when: When
    targets: int | None = Field(None, ge=1, description="more_than: the largest request let by.")
    domains: frozenset[str] = frozenset()
    principals: frozenset[str] = frozenset()

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> object:
        return _each(value, _domain)

    @field_validator("principals", mode="before")
    @classmethod
    def _principals(cls, value: object) -> object:
        return _each(value, _principal)

    @model_validator(mode="after")
    def _complete(self) -> ApprovalRule:
        if self.when == "more_than" and self.targets is None:
            raise ValueError("a `more_than` rule needs `targets` (the largest request let by)")
        if self.when == "domain" and not self.domains:
            raise ValueError("a `domain` rule needs `domains`")
        if self.when == "principal" and not self.principals:
            raise ValueError("a `principal` rule needs `principals`")
        return self


class ApprovalRules(BaseModel):
    """Every rule, and how long a request waits for its decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[ApprovalRule, ...] = ()
    ttl_hours: float = Field(24.0, gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _unique(self) -> ApprovalRules:
        names = Counter(r.name for r in self.rules)
        twice = sorted(n for n, c in names.items() if c > 1)
        if twice:
            raise ValueError(f"two rules are named {twice[0]!r}")
        return self

    def by_name(self, name: str) -> ApprovalRule | None:
        return next((r for r in self.rules if r.name == name), None)

    def over_budget(self) -> ApprovalRule | None:
        return next((r for r in self.rules if r.when == "over_budget"), None)


def load_rules(path: Path, *, ttl_hours: float | None = None) -> ApprovalRules:
    """The rules file, validated whole: ConfigError naming the rule and field at fault."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the approval rules file {path}: {exc.strerror or exc}",
            hint="Set STITCH_APPROVAL_RULES_FILE to a readable TOML file, or unset it.",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the approval rules file {path} is not TOML: {exc}") from None
    body = {"rules": raw.pop("rule", []), **raw}
    if ttl_hours is not None:
        body.setdefault("ttl_hours", ttl_hours)
    try:
        return ApprovalRules.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise ConfigError(
            f"the approval rules file {path} is not valid: {where}: {first['msg']}",
            hint="See the README, 'Approvals', for the rule kinds; nothing was changed.",
        ) from None


def _each(value: object, check: Callable[[str], str]) -> object:
    """A list (or one string) of a rule's names, each checked; anything else: pydantic's."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        return value
    return frozenset(check(str(raw)) for raw in value)


def _domain(raw: str) -> str:
    domain = raw.strip().lower().lstrip("@")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{raw!r} is not a domain such as contractors.example.com")
    return domain


def _principal(raw: str) -> str:
    if not _bare(raw):
        raise ValueError(f"{raw!r} names no principal")
    return raw.strip()


def _bare(principal: str) -> str:
    """`api:airflow` and `airflow` are one principal; names compare case-blind."""
    return principal.rsplit(":", 1)[-1].strip().lower()


_DECIDER = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,62}$")


def decider(name: str) -> str:
    """A person's name as the CLI or the Python API gives it (`--as bob`): one plain name. A
    prefix (`api:bob`) would pose as an authenticated token; UsageProblem says so."""
    plain = name.strip().lower()
    if not _DECIDER.fullmatch(plain):
        raise UsageProblem(
            f"{name!r} is not a plain name (letters, digits, '.', '_', '-', '@'; no ':')",
            hint="Say who decides, e.g. --as bob; the entry point adds its own prefix.",
        )
    return plain


def same_principal(one: str, other: str) -> bool:
    """Four eyes: a person approving their own request under another prefix is still them; a
    name that is empty once its prefix is gone is nobody, and may decide nothing."""
    return not _bare(one) or not _bare(other) or _bare(one) == _bare(other)


def holds(
    targets: Sequence[PlanTarget],
    rules: ApprovalRules,
    *,
    actor: str,
    covered: frozenset[str] = frozenset(),
) -> list[PlanTarget]:
    """The targets with `approval` set to the first rule that holds them. Only targets with an
    action are held; `covered` are rule names an approved request already answered. `actor`:
    who asked, where a target carries no request of its own."""
    if not rules.rules:
        return list(targets)
    acting = [t for t in targets if t.action is not None]
    sizes = Counter(_request_key(t) for t in acting)
    held = []
    for target in targets:
        rule = None
        if target.action is not None:
            rule = _first_rule(
                target, rules, _asker(target, actor), sizes[_request_key(target)], covered
            )
        held.append(target.model_copy(update={"approval": rule}) if rule else target)
    return held


def hold_over_budget(
    targets: Sequence[PlanTarget],
    refused_rule: str | None,
    rules: ApprovalRules,
    covered: frozenset[str],
) -> list[PlanTarget] | None:
    """A request the budget would refuse, held instead by an `over_budget` rule; None: no such
    rule (or it already approved this request), so the refusal stands."""
    rule = rules.over_budget()
    if rule is None or rule.name in covered:
        return None
    if refused_rule not in _BUDGET_RULES | _GRANT_BUDGET_RULES:
        return None
    requests = {t.request.request_id for t in targets if t.action is not None and t.request}
    if len(requests) > 1 and refused_rule not in _PER_DAY:
        return None  # a service batch of several jobs: the worker runs it smaller instead
    # This rule first: its approval is the one that lets the run past the budget (the request
    # also names every other rule that holds it: ApprovalDesk._ask).
    return [
        t.model_copy(update={"approval": rule.name}) if t.action is not None else t for t in targets
    ]


def overrides_budget(covered: frozenset[str], rules: ApprovalRules) -> bool:
    """An approval answers the budget only when an `over_budget` rule asked for it."""
    rule = rules.over_budget()
    return rule is not None and rule.name in covered


def _asker(target: PlanTarget, actor: str) -> str:
    """Who asked for this target: its own request's actor (a service batch carries several),
    else the run's."""
    return (target.request.actor if target.request else None) or actor


def _request_key(target: PlanTarget) -> str | None:
    return target.request.request_id if target.request else None


def _first_rule(
    target: PlanTarget, rules: ApprovalRules, asker: str, request_size: int, covered: frozenset[str]
) -> str | None:
    for rule in rules.rules:
        if rule.name not in covered and _matches(rule, target, asker, request_size):
            return rule.name
    return None


def _matches(rule: ApprovalRule, target: PlanTarget, asker: str, request_size: int) -> bool:
    assert target.action is not None
    member = target.member
    if rule.when == "removes_administrator":
        return target.action.removes and member is not None and member.role is Role.ADMINISTRATOR
    if rule.when == "grants_administrator":
        back_as_admin = member is not None and member.role is Role.ADMINISTRATOR
        if target.action is Action.REACTIVATE:
            return back_as_admin
        return not target.action.removes and target.granted_role is Role.ADMINISTRATOR
    if rule.when == "more_than":
        return rule.targets is not None and request_size > rule.targets
    if rule.when == "domain":
        return target.email.rsplit("@", 1)[-1].lower() in rule.domains
    if rule.when == "principal":
        return any(same_principal(asker, p) for p in rule.principals)
    return False  # over_budget: hold_over_budget, where the budget refuses


class Approved(BaseModel):
    """An approved request, as the run carrying it out sees it: the rules it answered and the
    targets as they were approved (a target that changed since is asked again)."""

    model_config = ConfigDict(frozen=True)

    id: str
    rules: frozenset[str]
    targets: dict[str, PlanTarget]


def matching_rules(
    target: PlanTarget, rules: ApprovalRules, *, actor: str, request_size: int = 1
) -> list[str]:
    """Every rule that would hold this target (an approval answers all of them at once)."""
    if target.action is None:
        return []
    asker = _asker(target, actor)
    return [r.name for r in rules.rules if _matches(r, target, asker, request_size)]


def settle(
    targets: Sequence[PlanTarget],
    rules: ApprovalRules,
    *,
    actor: str,
    approved: Approved | None,
) -> list[PlanTarget]:
    """`holds`, then what an approval answers: a target it approved, unchanged in what matters
    and held by no rule it did not answer, goes ahead; any other is held again."""
    if approved is None:
        return holds(targets, rules, actor=actor)
    asked = holds(targets, rules, actor=actor, covered=approved.rules)
    settled = []
    for target in asked:
        before = approved.targets.get(target.email)
        if target.action is None:
            pass
        elif before is None:  # never approved: held by its own rules, as any request is
            rule = _first_rule(target, rules, _asker(target, actor), 1, frozenset())
            target = target.model_copy(update={"approval": rule})
        elif changed(before, target):
            asker = _asker(target, actor)
            rule = target.approval or _first_rule(target, rules, asker, 1, frozenset())
            target = target.model_copy(update={"approval": rule or "roster_changed"})
        settled.append(target)
    return settled


def changed(before: PlanTarget, now: PlanTarget) -> str | None:
    """What changed in a way that matters since a target was approved; None: nothing."""
    if before.action != now.action or before.grant != now.grant:
        was = before.action.value if before.action else "nothing"
        return f"approved to {was}, now {now.action.value if now.action else 'nothing'}"
    b, n = before.member, now.member
    seen_b = None if b is None else (b.role, b.status, b.invoice_admin, b.is_self)
    seen_n = None if n is None else (n.role, n.status, n.invoice_admin, n.is_self)
    if seen_b != seen_n:
        return "the member's row changed (role, status or Invoice Admin)"
    return None

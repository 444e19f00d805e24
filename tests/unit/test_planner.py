"""The planner is pure: every rule it decides by, each asserted with its outcome and its rule.
No browser, no state dir: a roster, a request, a PolicyConfig and a History."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.errors import PolicyRefused, UsageProblem
from connector.models import (
    Account,
    Action,
    Member,
    MemberList,
    OutcomeStatus,
    Role,
    Status,
    TargetRequest,
)
from connector.planner import History, PlanRequest, dry_run_outcomes, plan, refusals
from connector.policy import PolicyConfig, Rule

A, G = Role.ADMINISTRATOR, Role.GENERAL_USER
S = OutcomeStatus
NO_HISTORY = History()
DEFAULT = PolicyConfig()


def m(email: str, role: Role = G, status: Status = Status.ACTIVE, **kw: bool) -> Member:
    return Member(email=email, name=email.split("@")[0], role=role, status=status, **kw)


def roster(*members: Member, mentioned: frozenset[str] = frozenset()) -> MemberList:
    return MemberList(
        account=Account(client_id=7),
        members=list(members),
        scraped_at=datetime(2026, 1, 1, tzinfo=UTC),
        pages=1,
        source_url="x",
        selectors_version="t",
        mentioned=mentioned,
    )


TEAM = roster(
    m("me@corp.com", A, is_self=True),
    m("boss@corp.com", A),
    m("pay@corp.com", invoice_admin=True),
    m("new@corp.com", status=Status.PENDING),
    m("gone@corp.com", status=Status.DEACTIVATED),
    m("ext@partner.io"),
    m("vip@corp.com"),
    *[m(f"u{i}@corp.com") for i in range(13)],
)  # 20 members: 4 removals are the default 20 %


def decided(
    emails: list[str],
    *,
    config: PolicyConfig = DEFAULT,
    history: History = NO_HISTORY,
    team: MemberList = TEAM,
    **request: object,
) -> list[tuple[str, OutcomeStatus, Action | None, str | None]]:
    made = plan(team, PlanRequest(emails=emails, base_url="https://x.test", **request), config,
                history)  # fmt: skip
    return [(t.email, t.expected, t.action, t.rule) for t in made.targets]


def one(email: str, **kw: Any) -> tuple[OutcomeStatus, str | None]:
    ((_, expected, _, rule),) = decided([email], **kw)
    return expected, rule


# ------------------------------------------------------------------ per member


def test_a_plain_member_is_deactivated_and_an_invitation_cancelled() -> None:
    assert decided(["u1@corp.com", "new@corp.com"]) == [
        ("u1@corp.com", S.DEACTIVATED, Action.DEACTIVATE, None),
        ("new@corp.com", S.INVITATION_CANCELLED, Action.CANCEL_INVITATION, None),
    ]


VIP, PARTNER, CORP = frozenset({"vip@corp.com"}), frozenset({"partner.io"}), frozenset({"corp.com"})


@pytest.mark.parametrize(
    ("email", "config", "rule"),
    [
        ("me@corp.com", DEFAULT, Rule.SIGNED_IN_ACCOUNT),
        ("vip@corp.com", PolicyConfig(protected_emails=VIP), "protected_email"),
        ("ext@partner.io", PolicyConfig(protected_domains=PARTNER), "protected_domain"),
        ("ext@partner.io", PolicyConfig(allowed_domains=CORP), "domain_not_allowed"),
        ("pay@corp.com", DEFAULT, "invoice_admin"),
        ("boss@corp.com", PolicyConfig(sso_enabled=True), "sso_admin"),
    ],
)  # fmt: skip
def test_protected_members_are_refused_by_their_rule(
    email: str, config: PolicyConfig, rule: str
) -> None:
    assert one(email, config=config) == (S.REFUSED, rule)


def test_the_only_administrator_is_the_last_administrator() -> None:
    team = roster(m("me@corp.com", is_self=True), m("boss@corp.com", A), m("u@corp.com"))
    assert one("boss@corp.com", team=team) == (S.REFUSED, "last_administrator")


def test_the_last_administrator_across_the_batch() -> None:
    team = roster(m("me@corp.com", is_self=True), m("a1@corp.com", A), m("a2@corp.com", A))
    assert decided(["a1@corp.com", "a2@corp.com"], team=team) == [
        ("a1@corp.com", S.DEACTIVATED, Action.DEACTIVATE, None),
        ("a2@corp.com", S.REFUSED, None, "last_administrator"),
    ]
    # One at a time, either may go: the other stays.
    assert one("a2@corp.com", team=team) == (S.DEACTIVATED, None)


@pytest.mark.parametrize(
    ("before", "config", "rule"),
    [
        (m("u1@corp.com", invoice_admin=True), DEFAULT, "was_invoice_admin"),
        (m("u1@corp.com", is_self=True), DEFAULT, "was_signed_in_account"),
        (m("u1@corp.com", A), PolicyConfig(sso_enabled=True), "was_sso_admin"),
    ],
)
def test_sticky_protections_from_the_last_accepted_roster(
    before: Member, config: PolicyConfig, rule: str
) -> None:
    history = History(last_accepted=[before])
    assert one("u1@corp.com", config=config, history=history) == (S.REFUSED, rule)
    assert one("u1@corp.com", config=config) == (S.DEACTIVATED, None)  # no history: removable


def test_an_unresolved_earlier_removal_is_refused() -> None:
    history = History(unresolved=frozenset({"u1@corp.com"}))
    assert one("u1@corp.com", history=history) == (S.REFUSED, "unresolved_unknown")
    assert one("u2@corp.com", history=history) == (S.DEACTIVATED, None)
    # A protection names the stronger reason.
    assert one("pay@corp.com", history=History(unresolved=frozenset({"pay@corp.com"}))) == (
        S.REFUSED,
        "invoice_admin",
    )


def test_already_absent_deactivated_or_removed_before() -> None:
    assert one("gone@corp.com") == (S.ALREADY_ABSENT, None)
    # Removed by the connector before: known from the audit trail, so absent is success.
    known = History(known=frozenset({"left@corp.com"}))
    assert one("left@corp.com", history=known) == (S.ALREADY_ABSENT, None)


def test_a_never_seen_address_is_not_found_once_there_is_history() -> None:
    known = History(known=frozenset({"u1@corp.com"}))
    assert one("typo@corp.com", history=known) == (S.NOT_FOUND, "never_a_member")
    assert one("typo@corp.com") == (S.ALREADY_ABSENT, None)  # no history at all: a first run


def test_shown_on_the_page_but_not_read_is_refused() -> None:
    team = roster(m("me@corp.com", A, is_self=True), mentioned=frozenset({"ghost@corp.com"}))
    assert one("ghost@corp.com", team=team) == (S.REFUSED, "shown_but_not_read")


def test_duplicates_and_case_are_one_target_in_request_order() -> None:
    assert decided(["U1@Corp.com ", "u2@corp.com", "u1@corp.com"]) == [
        ("u1@corp.com", S.DEACTIVATED, Action.DEACTIVATE, None),
        ("u2@corp.com", S.DEACTIVATED, Action.DEACTIVATE, None),
    ]


def test_not_an_email_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem, match="not an email"):
        decided(["u1@corp.com", "nobody"])


# ------------------------------------------------------------------ the whole request


@pytest.mark.parametrize(
    ("emails", "config", "history", "rule"),
    [
        ([f"u{i}@corp.com" for i in range(3)], PolicyConfig(max_removals=2), NO_HISTORY,
         "budget_max_removals"),
        (["u1@corp.com", "u2@corp.com"], DEFAULT, History(removed_last_day=19), "budget_per_day"),
        ([f"u{i}@corp.com" for i in range(5)], DEFAULT, NO_HISTORY, "budget_max_fraction"),
        (["u1@corp.com"], DEFAULT, History(previous_count=50), "roster_implausible"),
    ],
)  # fmt: skip
def test_a_dry_run_refuses_the_whole_request_as_apply_would(
    emails: list[str], config: PolicyConfig, history: History, rule: str
) -> None:
    with pytest.raises(PolicyRefused) as refused:
        decided(emails, config=config, history=history, whole_batch=True)
    assert refused.value.rule == rule
    # A plan file is still written: apply decides the budget, with --override-budget if a
    # person reviewed it.
    assert all(t[2] is not None for t in decided(emails, config=config, history=history))


def test_within_budget_and_overridden() -> None:
    four = [f"u{i}@corp.com" for i in range(4)]
    assert len(decided(four, whole_batch=True)) == 4  # 4 of 20: within 20 %
    five = [*four, "u9@corp.com"]
    assert len(decided(five, whole_batch=True, override_budget=True)) == 5
    # Refused targets never count against the budget.
    assert len(decided([*four, "me@corp.com", "pay@corp.com"], whole_batch=True)) == 6
    # The override never passes a roster that looks wrong.
    with pytest.raises(PolicyRefused, match="far likelier a page problem"):
        decided(["u1@corp.com"], team=roster(m("u1@corp.com")), history=History(previous_count=9),
                whole_batch=True, override_budget=True)  # fmt: skip


# ------------------------------------------------------------------ what a plan carries


def test_the_plan_is_bound_to_the_roster_and_carries_the_request() -> None:
    own = TargetRequest(request_id="job-2", actor="api:hr")
    at = datetime(2026, 2, 2, tzinfo=UTC)
    request = PlanRequest(
        emails=["u1@corp.com", "u2@corp.com"],
        base_url="https://x.test",
        reason="left",
        request_id="r-1",
        requests={"u2@corp.com": own},
        now=at,
    )
    made = plan(TEAM, request, DEFAULT, NO_HISTORY)
    assert (made.roster_fingerprint, made.roster_count) == (TEAM.fingerprint, 20)
    assert (made.account, made.base_url, made.created_at) == (TEAM.account, "https://x.test", at)
    assert (made.reason, made.request_id) == ("left", "r-1")
    assert [t.request for t in made.targets] == [None, own]
    u1 = next(x for x in TEAM.members if x.email == "u1@corp.com")
    assert made.targets[0].member == u1  # the row as read: undo.json needs it


def test_no_emails_is_an_empty_plan() -> None:
    assert decided([]) == []


def test_dry_run_outcomes_and_refusals() -> None:
    made = plan(
        TEAM,
        PlanRequest(emails=["u1@corp.com", "me@corp.com", "gone@corp.com"], base_url="x"),
        DEFAULT,
        NO_HISTORY,
    )
    assert [(o.email, o.status, o.action, o.rule) for o in dry_run_outcomes(made)] == [
        ("u1@corp.com", S.PLANNED, Action.DEACTIVATE, None),
        ("me@corp.com", S.REFUSED, None, "signed_in_account"),
        ("gone@corp.com", S.ALREADY_ABSENT, None, None),
    ]
    sticky = History(last_accepted=[m("u2@corp.com", invoice_admin=True)])
    assert refusals(["u1@corp.com", "u2@corp.com", "me@corp.com"], TEAM, DEFAULT, sticky) == {
        "u2@corp.com": "was_invoice_admin",
        "me@corp.com": "signed_in_account",
    }
    assert refusals([], TEAM, DEFAULT, sticky) == {}


def test_history_is_frozen_and_validated() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        History(removed_last_day=-1)
    with pytest.raises(ValueError, match="frozen"):
        NO_HISTORY.removed_last_day = 3  # type: ignore[misc]

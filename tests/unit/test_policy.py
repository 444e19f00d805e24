"""Policy is pure: who may be removed, and whether a request is sane. No browser needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.errors import PolicyRefused, UsageProblem
from connector.models import Account, Member, MemberList, OutcomeStatus, Role, Status
from connector.policy import (
    PolicyConfig,
    Rule,
    check_batch,
    decide,
    explain,
    remaining_budget,
    requested_emails,
    sticky_protections,
)

A, G = Role.ADMINISTRATOR, Role.GENERAL_USER


def m(email: str, role: Role = G, status: Status = Status.ACTIVE, **kw: bool) -> Member:
    return Member(email=email, name=email.split("@")[0], role=role, status=status, **kw)


def roster(*members: Member) -> MemberList:
    return MemberList(
        account=Account(client_id=1),
        members=list(members),
        scraped_at=datetime.now(UTC),
        pages=1,
        source_url="x",
        selectors_version="t",
    )


TEAM = roster(
    m("me@corp.com", A, is_self=True),
    m("boss@corp.com", A),
    m("pay@corp.com", invoice_admin=True),
    m("a@corp.com"),
    m("aa@corp.com"),
    m("new@corp.com", status=Status.PENDING),
    m("gone@corp.com", status=Status.DEACTIVATED),
    m("ext@partner.io"),
    m("vip@corp.com"),
    *[m(f"u{i}@corp.com") for i in range(11)],
)


DEFAULT = PolicyConfig()


def outcome(email: str, config: PolicyConfig = DEFAULT, team: MemberList = TEAM) -> tuple:
    (t,) = decide([email], team, config)
    return t.expected, t.rule


def test_plain_members_and_invitations() -> None:
    assert outcome("a@corp.com") == (OutcomeStatus.DEACTIVATED, None)
    assert outcome("new@corp.com") == (OutcomeStatus.INVITATION_CANCELLED, None)
    assert outcome("boss@corp.com") == (OutcomeStatus.DEACTIVATED, None)  # not the last admin


def test_exact_case_insensitive_email_only() -> None:
    assert outcome("A@Corp.COM") == (OutcomeStatus.DEACTIVATED, None)
    with pytest.raises(UsageProblem, match=r"not an email address: 'corp\.com'"):
        outcome("corp.com")
    assert outcome("a@corp.co") == (OutcomeStatus.ALREADY_ABSENT, None)
    targets = decide(["a@corp.com"], TEAM, PolicyConfig())
    assert [t.email for t in targets] == ["a@corp.com"]  # never aa@corp.com


def test_absent_and_deactivated_are_already_absent() -> None:
    assert outcome("nobody@corp.com") == (OutcomeStatus.ALREADY_ABSENT, None)
    assert outcome("gone@corp.com") == (OutcomeStatus.ALREADY_ABSENT, None)


@pytest.mark.parametrize(
    ("email", "config", "rule"),
    [
        ("me@corp.com", PolicyConfig(), "signed_in_account"),
        ("pay@corp.com", PolicyConfig(), "invoice_admin"),
        (
            "vip@corp.com",
            PolicyConfig(protected_emails=frozenset({"vip@corp.com"})),
            "protected_email",
        ),
        (
            "ext@partner.io",
            PolicyConfig(protected_domains=frozenset({"partner.io"})),
            "protected_domain",
        ),
        (
            "ext@partner.io",
            PolicyConfig(allowed_domains=frozenset({"corp.com"})),
            "domain_not_allowed",
        ),
        ("boss@corp.com", PolicyConfig(sso_enabled=True), "sso_admin"),
    ],
)
def test_protected_members_are_refused(email: str, config: PolicyConfig, rule: str) -> None:
    assert outcome(email, config) == (OutcomeStatus.REFUSED, rule)


def test_last_administrator_alone_and_across_a_batch() -> None:
    two_admins = roster(m("me@corp.com", is_self=True), m("x@corp.com", A), m("y@corp.com", A))
    targets = decide(["x@corp.com", "y@corp.com"], two_admins, PolicyConfig())
    assert [(t.expected, t.rule) for t in targets] == [
        (OutcomeStatus.DEACTIVATED, None),
        (OutcomeStatus.REFUSED, "last_administrator"),
    ]
    one_admin = roster(m("me@corp.com", is_self=True), m("x@corp.com", A))
    assert outcome("x@corp.com", team=one_admin) == (OutcomeStatus.REFUSED, "last_administrator")


def test_budget_refuses_the_whole_request_unless_overridden() -> None:
    emails = [f"u{i}@corp.com" for i in range(6)]
    targets = decide(emails, TEAM, PolicyConfig())
    with pytest.raises(PolicyRefused) as info:
        check_batch(targets, TEAM, PolicyConfig(), previous_count=None, override_budget=False)
    assert info.value.rule == "budget_max_removals"
    check_batch(targets, TEAM, PolicyConfig(), previous_count=None, override_budget=True)


def test_fraction_budget_but_never_for_a_single_removal() -> None:
    config = PolicyConfig(max_removals=100, max_fraction=0.1)
    two = decide(["u1@corp.com", "u2@corp.com", "u3@corp.com"], TEAM, config)
    with pytest.raises(PolicyRefused) as info:
        check_batch(two, TEAM, config, previous_count=None, override_budget=False)
    assert info.value.rule == "budget_max_fraction"
    small = roster(m("me@corp.com", A, is_self=True), m("a@corp.com"), m("b@corp.com"))
    one = decide(["a@corp.com"], small, config)
    check_batch(one, small, config, previous_count=None, override_budget=False)


def test_refused_and_absent_targets_do_not_count_against_the_budget() -> None:
    config = PolicyConfig(max_removals=1)
    targets = decide(["me@corp.com", "nobody@corp.com", "a@corp.com"], TEAM, config)
    check_batch(targets, TEAM, config, previous_count=None, override_budget=False)


@pytest.mark.parametrize("previous", [len(TEAM.members) * 3, 50])
def test_an_implausible_roster_is_refused_even_with_override(previous: int) -> None:
    targets = decide(["a@corp.com"], TEAM, PolicyConfig())
    with pytest.raises(PolicyRefused) as info:
        check_batch(targets, TEAM, PolicyConfig(), previous_count=previous, override_budget=True)
    assert info.value.rule == "roster_implausible"
    check_batch(
        targets, TEAM, PolicyConfig(), previous_count=len(TEAM.members) + 3, override_budget=False
    )


def test_the_daily_budget_counts_every_earlier_removal() -> None:
    config = PolicyConfig(max_removals=5, max_removals_per_day=4)
    two = decide(["u1@corp.com", "u2@corp.com"], TEAM, config)
    check_batch(two, TEAM, config, previous_count=None, override_budget=False, removed_last_day=2)
    with pytest.raises(PolicyRefused) as info:
        check_batch(
            two, TEAM, config, previous_count=None, override_budget=False, removed_last_day=3
        )
    assert info.value.rule == "budget_per_day" and "3 done in the last 24 hours" in str(info.value)
    check_batch(two, TEAM, config, previous_count=None, override_budget=True, removed_last_day=3)


def test_a_member_whose_last_click_was_never_proven_is_refused() -> None:
    stuck = frozenset({"u1@corp.com", "gone@corp.com"})
    targets = decide(
        ["u1@corp.com", "gone@corp.com", "u2@corp.com"], TEAM, DEFAULT, unresolved=stuck
    )
    assert [(t.email, t.expected, t.rule) for t in targets] == [
        ("u1@corp.com", OutcomeStatus.REFUSED, "unresolved_unknown"),
        ("gone@corp.com", OutcomeStatus.ALREADY_ABSENT, None),  # gone: nothing to click
        ("u2@corp.com", OutcomeStatus.DEACTIVATED, None),
    ]
    assert "audit resolve" in (explain("unresolved_unknown") or "")


def test_the_service_and_the_policy_accept_the_same_emails() -> None:
    from pydantic import ValidationError

    from connector.offboard_queue.models import OffboardingRequest

    for email in ["leaver@localhost", "no-at-sign", "a@b."]:
        with pytest.raises(UsageProblem):
            requested_emails([email])
        with pytest.raises(ValidationError):
            OffboardingRequest(email=email, request_id="r", requested_by="t")
    ok = OffboardingRequest(email=" Leaver@Corp.com ", request_id="r", requested_by="t")
    assert requested_emails([ok.email]) == ["leaver@corp.com"]


# ---------------------------------------------------------------- sticky protections


def test_a_protection_of_the_last_accepted_roster_survives_one_fresh_read() -> None:
    """The Invoice Admin badge restyled into nothing: the fresh read says pay@ is a plain
    member, but the last accepted roster says otherwise, so pay@ stays protected."""
    before = [m("me@corp.com", A, is_self=True), m("pay@corp.com", invoice_admin=True)]
    fresh = roster(m("me@corp.com", A, is_self=True), m("boss@corp.com", A), m("pay@corp.com"))
    sticky = sticky_protections(before, DEFAULT)
    assert sticky == {"me@corp.com": "was_signed_in_account", "pay@corp.com": "was_invoice_admin"}
    (t,) = decide(["pay@corp.com"], fresh, DEFAULT, protected_before=sticky)
    assert (t.expected, t.rule, t.action) == (OutcomeStatus.REFUSED, "was_invoice_admin", None)
    assert explain("was_invoice_admin")
    (t,) = decide(["pay@corp.com"], fresh, DEFAULT)  # without the history: removable
    assert t.expected is OutcomeStatus.DEACTIVATED


def test_sso_administrators_stay_protected_after_a_relabelled_role() -> None:
    before = [m("me@corp.com", A, is_self=True), m("boss@corp.com", A)]
    fresh = roster(m("me@corp.com", A, is_self=True), m("boss@corp.com"))
    sso = PolicyConfig(sso_enabled=True)
    assert sticky_protections(before, DEFAULT) == {"me@corp.com": "was_signed_in_account"}
    (t,) = decide(["boss@corp.com"], fresh, sso, protected_before=sticky_protections(before, sso))
    assert (t.expected, t.rule) == (OutcomeStatus.REFUSED, "was_sso_admin")


def test_an_address_still_shown_on_the_page_is_never_already_absent() -> None:
    shown = TEAM.model_copy(update={"mentioned": frozenset({"ghost@corp.com"})})
    (t,) = decide(["ghost@corp.com"], shown, DEFAULT)
    assert (t.expected, t.rule, t.action) == (OutcomeStatus.REFUSED, "shown_but_not_read", None)
    (t,) = decide(["nobody@corp.com"], shown, DEFAULT)
    assert t.expected is OutcomeStatus.ALREADY_ABSENT


def test_rule_names_are_the_strings_records_and_plan_files_carry() -> None:
    assert {r.value for r in Rule} == {
        "signed_in_account", "protected_email", "protected_domain", "domain_not_allowed",
        "invoice_admin", "sso_admin", "last_administrator", "was_signed_in_account",
        "was_invoice_admin", "was_sso_admin", "shown_but_not_read", "never_a_member",
        "unresolved_unknown", "roster_implausible", "budget_max_removals", "budget_per_day",
        "budget_max_fraction", "human_skip", "human_quit", "invite_domain_not_allowed",
        "administrator_needs_flag", "deactivated_member", "not_on_roster", "budget_max_grants",
        "budget_grants_per_day",
    }  # fmt: skip
    assert explain(Rule.INVOICE_ADMIN) == explain("invoice_admin")
    (t,) = decide(["pay@corp.com"], TEAM, DEFAULT)
    assert t.model_dump(mode="json")["rule"] == "invoice_admin"


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("day", [0, 3, 18, 20, 25])
def test_remaining_budget_is_exactly_what_check_batch_accepts(fraction: float, day: int) -> None:
    config = PolicyConfig(max_removals=6, max_fraction=fraction, max_removals_per_day=20)
    for size in (1, 2, 3, 4, 7, 10, 21, 30):
        team = roster(*[m(f"u{i}@corp.com") for i in range(size)])
        left = remaining_budget(config, roster_count=size, removed_last_day=day)

        def accepted(n: int, team: MemberList = team) -> bool:
            targets = decide([f"u{i}@corp.com" for i in range(n)], team, config) if n else []
            try:
                check_batch(
                    targets,
                    team,
                    config,
                    previous_count=None,
                    override_budget=False,
                    removed_last_day=day,
                )
            except PolicyRefused:
                return False
            return True

        assert accepted(left), (size, left)
        if left < size:
            assert not accepted(left + 1), (size, left)


def test_remaining_budget_without_a_roster_and_when_the_day_is_spent() -> None:
    config = PolicyConfig(max_removals=5, max_removals_per_day=20)
    assert remaining_budget(config, roster_count=None, removed_last_day=0) == 1
    assert remaining_budget(config, roster_count=100, removed_last_day=0) == 5
    assert remaining_budget(config, roster_count=100, removed_last_day=17) == 3
    assert remaining_budget(config, roster_count=100, removed_last_day=20) == 0
    assert remaining_budget(config, roster_count=100, removed_last_day=26) == 0
    assert remaining_budget(config, roster_count=4, removed_last_day=0) == 1  # 20 % of 4: one

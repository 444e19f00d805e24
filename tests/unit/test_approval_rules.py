"""Approval rules are pure: which write each rule holds, what an approval answers, what a
changed roster asks again, and a rules file that is wrong fails at load naming the rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.approval_rules import (
    ApprovalRule,
    ApprovalRules,
    Approved,
    decider,
    load_rules,
    same_principal,
)
from connector.approvals.models import Approval, ApprovalStatus
from connector.approvals.notify import message
from connector.audit import AuditLog
from connector.errors import ConfigError, PolicyRefused, UsageProblem
from connector.models import Grant, MemberList, OutcomeStatus, Plan, Role, TargetRequest
from connector.planner import History, PlanRequest, dry_run_outcomes, plan
from connector.policy import PolicyConfig
from connector.settings import Settings
from tests.unit.test_planner import TEAM, A, m, roster

ADMINS = ApprovalRules(rules=(ApprovalRule(name="admins", when="removes_administrator"),))


def planned(
    emails: list[str],
    rules: ApprovalRules,
    *,
    actor: str = "human:alice",
    approved: Approved | None = None,
    grants: list[tuple[str, Grant]] | None = None,
    whole_batch: bool = True,
    team: MemberList = TEAM,
    **config: int,
) -> Plan:
    request = PlanRequest(
        emails=emails,
        grants=grants or [],
        base_url="x",
        actor=actor,
        approved=approved,
        whole_batch=whole_batch,
    )
    policy = PolicyConfig(approvals=rules, invite_domains=frozenset({"corp.com"}), **config)
    return plan(team, request, policy, History())


def held(made: Plan) -> dict[str, str | None]:
    return {t.email: t.approval for t in made.targets}


def test_no_rule_holds_nothing() -> None:
    assert held(planned(["boss@corp.com"], ApprovalRules())) == {"boss@corp.com": None}


def test_each_kind_of_rule_holds_what_it_names_and_nothing_else() -> None:
    assert held(planned(["boss@corp.com", "u1@corp.com"], ADMINS)) == {
        "boss@corp.com": "admins",
        "u1@corp.com": None,
    }
    domain = ApprovalRules(
        rules=(ApprovalRule(name="x", when="domain", domains=frozenset({"partner.io"})),)
    )
    assert held(planned(["ext@partner.io", "u1@corp.com"], domain)) == {
        "ext@partner.io": "x",
        "u1@corp.com": None,
    }
    who = ApprovalRules(
        rules=(ApprovalRule(name="hr", when="principal", principals=frozenset({"hr-export"})),)
    )
    assert held(planned(["u1@corp.com"], who, actor="api:hr-export")) == {"u1@corp.com": "hr"}
    assert held(planned(["u1@corp.com"], who, actor="api:airflow")) == {"u1@corp.com": None}
    bulk = ApprovalRules(rules=(ApprovalRule(name="bulk", when="more_than", targets=2),))
    assert set(held(planned(["u1@corp.com", "u2@corp.com"], bulk)).values()) == {None}
    three = planned(["u1@corp.com", "u2@corp.com", "u3@corp.com"], bulk)
    assert set(held(three).values()) == {"bulk"}
    # A held target is not a write: nothing already absent or refused is held.
    assert held(planned(["gone@corp.com", "me@corp.com"], ADMINS)) == {
        "gone@corp.com": None,
        "me@corp.com": None,
    }


def test_granting_administrator_is_held_but_a_general_user_invitation_is_not() -> None:
    rules = ApprovalRules(rules=(ApprovalRule(name="admin-grant", when="grants_administrator"),))
    grants = [
        ("lead@corp.com", Grant(kind="invite", role=Role.ADMINISTRATOR, allow_administrator=True)),
        ("joe@corp.com", Grant(kind="invite")),
        ("u1@corp.com", Grant(kind="set_role", role=Role.ADMINISTRATOR, allow_administrator=True)),
    ]
    made = planned([], rules, grants=grants)
    assert held(made) == {
        "lead@corp.com": "admin-grant",
        "joe@corp.com": None,
        "u1@corp.com": "admin-grant",
    }
    outcomes = {o.email: o for o in dry_run_outcomes(made)}
    assert outcomes["lead@corp.com"].status is OutcomeStatus.PENDING_APPROVAL
    assert outcomes["joe@corp.com"].status is OutcomeStatus.PLANNED


def test_over_budget_asks_instead_of_refusing_and_only_its_approval_overrides() -> None:
    emails = [f"u{i}@corp.com" for i in range(3)]
    with pytest.raises(PolicyRefused):
        planned(emails, ApprovalRules(), max_removals=2)
    rules = ApprovalRules(rules=(ApprovalRule(name="over", when="over_budget"),))
    assert set(held(planned(emails, rules, max_removals=2)).values()) == {"over"}
    made = planned(emails, rules, max_removals=2)
    answered = Approved(
        id="apr_1", rules=frozenset({"over"}), targets={t.email: t for t in made.targets}
    )
    assert set(held(planned(emails, rules, approved=answered, max_removals=2)).values()) == {None}
    # An approval for another rule is no budget override.
    admins_too = ApprovalRules(rules=(*rules.rules, *ADMINS.rules))
    other = Approved(
        id="apr_2", rules=frozenset({"admins"}), targets={t.email: t for t in made.targets}
    )
    assert set(held(planned(emails, admins_too, approved=other, max_removals=2)).values()) == {
        "over"
    }


def test_an_approval_answers_only_the_writes_it_saw() -> None:
    made = planned(["boss@corp.com"], ADMINS)
    answered = Approved(
        id="apr_1", rules=frozenset({"admins"}), targets={t.email: t for t in made.targets}
    )
    assert held(planned(["boss@corp.com"], ADMINS, approved=answered)) == {"boss@corp.com": None}
    # The row changed since (demoted, then still asked to go): asked again.
    changed = roster(
        *(
            m(x.email, x.role, x.status, is_self=x.is_self)
            for x in TEAM.members
            if x.email != "boss@corp.com"
        ),
        m("boss@corp.com"),
    )
    assert held(planned(["boss@corp.com"], ADMINS, approved=answered, team=changed)) == {
        "boss@corp.com": "roster_changed"
    }
    # A target it never saw is held by its own rule.
    with_other = planned(["boss@corp.com", "u1@corp.com"], ADMINS, approved=answered)
    assert held(with_other) == {"boss@corp.com": None, "u1@corp.com": None}
    stranger = roster(*TEAM.members, m("boss2@corp.com", A))
    assert held(planned(["boss2@corp.com"], ADMINS, approved=answered, team=stranger)) == {
        "boss2@corp.com": "admins"
    }


def test_a_rules_file_is_checked_at_load(tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text('ttl_hours = 8\n[[rule]]\nname = "bulk"\nwhen = "more_than"\ntargets = 10\n')
    loaded = load_rules(good)
    assert (loaded.ttl_hours, loaded.rules[0].targets) == (8, 10)
    for body, words in [
        ('[[rule]]\nname = "bulk"\nwhen = "more_than"\n', "needs `targets`"),
        ('[[rule]]\nname = "x"\nwhen = "sometimes"\n', "rules.0.when"),
        ('[[rule]]\nname = "a"\nwhen = "over_budget"\n' * 2, "two rules are named"),
        ("[[rule]\n", "not TOML"),
        ('[[rule]]\nname = "Bad Name"\nwhen = "over_budget"\n', "rules.0.name"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(ConfigError, match=words.replace("`", ".")):
            load_rules(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    with pytest.raises(ConfigError):
        Settings(approval_rules_file=tmp_path / "missing.toml")
    shortcut = Settings(approve_admin_removals=True, approve_domains="Partner.io")
    assert [(r.name, r.when) for r in shortcut.approval_rules().rules] == [
        ("admin-removal", "removes_administrator"),
        ("domains", "domain"),
    ]


def test_the_webhook_shows_untrusted_text_as_text() -> None:
    made = planned(["boss@corp.com"], ADMINS)
    now = datetime.now(UTC)
    approval = Approval(
        id="apr_1",
        status=ApprovalStatus.REJECTED,
        requested_by="api:<!channel>",
        source="api",
        rules=["admins"],
        plan=made,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        decided_by="human:bob",
        note="<http://evil.example|click> & `code`\nnew line",
    )
    body = message(approval, "rejected")
    text = str(body["text"])
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<http://evil" not in text and "&amp;" in text and "`code`" not in text
    assert "new line" in text and "\nnew line" not in text


def test_a_request_record_never_settles_an_unknown_click(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    now = datetime.now(UTC)
    base = {
        "run_id": "r1", "request_id": None, "actor": "t", "target": "u1@corp.com",
        "action": "deactivate", "rule": None, "reason": None, "started_at": now,
        "finished_at": now, "connector_version": "t", "row_before": None,
        "roster_fingerprint_before": None, "roster_fingerprint_after": None, "evidence": [],
    }  # fmt: skip
    audit.append(**{**base, "outcome": "unknown"})
    audit.append(
        **{
            **base,
            "run_id": "approval-apr_1",
            "outcome": "approval_requested",
            "approval_id": "apr_1",
        }
    )
    assert audit.unresolved_unknowns() == frozenset({"u1@corp.com"})
    assert audit.removals_since(now - timedelta(days=1)) == 0


def test_the_budget_rules_an_approval_may_answer_are_the_policys() -> None:
    from connector import approval_rules
    from connector.policy import Rule

    budgets = {r.value for r in Rule if r.value.startswith("budget")}
    assert budgets == approval_rules._BUDGET_RULES | approval_rules._GRANT_BUDGET_RULES


def test_a_self_granted_budget_override_never_passes_an_over_budget_rule() -> None:
    rules = ApprovalRules(rules=(ApprovalRule(name="over", when="over_budget"),))
    emails = [f"u{i}@corp.com" for i in range(3)]
    request = PlanRequest(
        emails=emails, base_url="x", actor="alice", whole_batch=True, override_budget=True
    )
    made = plan(TEAM, request, PolicyConfig(approvals=rules, max_removals=2), History())
    assert set(held(made).values()) == {"over"}


def test_a_service_batch_over_the_run_budget_is_refused_to_be_split_not_held() -> None:
    rules = ApprovalRules(rules=(ApprovalRule(name="over", when="over_budget"),))
    emails = [f"u{i}@corp.com" for i in range(3)]
    jobs = {e: TargetRequest(request_id=f"job-{e}", actor="api:airflow") for e in emails}
    request = PlanRequest(emails=emails, base_url="x", requests=jobs, whole_batch=True)
    with pytest.raises(PolicyRefused) as refused:  # the worker halves the batch instead
        plan(TEAM, request, PolicyConfig(approvals=rules, max_removals=2), History())
    assert refused.value.rule == "budget_max_removals"


def test_names_that_could_pose_as_another_principal_are_refused() -> None:
    assert decider(" Bob ") == "bob"
    for bad in ("api:bob", "alice:", "", "bob smith", "\u202ebob"):
        with pytest.raises(UsageProblem):
            decider(bad)
    assert same_principal("api:alice", "human:ALICE")
    assert same_principal("alice:", "human:alice")  # nobody: never allowed to decide
    assert not same_principal("api:alice", "human:bob")


def test_a_rule_with_a_malformed_domain_or_principal_fails_at_load() -> None:
    ok = ApprovalRule(name="d", when="domain", domains=frozenset({"@Contractors.Example.com"}))
    assert ok.domains == frozenset({"contractors.example.com"})
    for bad in ("*.example.com", "example.com.", "example", "exa mple.com"):
        with pytest.raises(ValueError, match="not a domain"):
            ApprovalRule(name="d", when="domain", domains=frozenset({bad}))
    with pytest.raises(ValueError, match="names no principal"):
        ApprovalRule(name="p", when="principal", principals=frozenset({"api:"}))


def test_one_token_name_never_holds_both_a_write_scope_and_approve() -> None:
    from connector.service_tokens import parse_tokens

    with pytest.raises(ValueError, match="must have the same scope"):
        parse_tokens("alice:write:" + "a" * 20 + ",alice:approve:" + "b" * 20)


def test_a_changed_target_is_asked_again_under_the_rule_its_own_requester_matches() -> None:
    rules = ApprovalRules(
        rules=(ApprovalRule(name="hr", when="principal", principals=frozenset({"hr-export"})),)
    )
    asked = {"u1@corp.com": TargetRequest(request_id="job-1", actor="api:hr-export")}

    def made(team: MemberList, approved: Approved | None = None) -> Plan:
        request = PlanRequest(
            emails=["u1@corp.com"], base_url="x", actor="orchestrator", requests=asked,
            approved=approved,
        )  # fmt: skip
        return plan(team, request, PolicyConfig(approvals=rules), History())

    first = made(TEAM)
    assert held(first) == {"u1@corp.com": "hr"}
    answered = Approved(
        id="apr_1", rules=frozenset({"hr"}), targets={"u1@corp.com": first.targets[0]}
    )
    promoted = roster(*(x for x in TEAM.members if x.email != "u1@corp.com"), m("u1@corp.com", A))
    # The row changed: asked again, named by the rule its requester matches, not "roster_changed"
    # (the run's own actor, the orchestrator, matches no rule).
    assert held(made(promoted, answered)) == {"u1@corp.com": "hr"}

"""Reconcile, the other direction (pure): who should have Stitch and has not (joiners), and whose
role the IdP gives otherwise (role drift), read from the IdP file, and planned as grants."""

from __future__ import annotations

import pytest

from connector.errors import ConfigError
from connector.idp import IdpDirectory, parse_idp
from connector.models import Action, OutcomeStatus, Role, Status
from connector.planner import History
from connector.policy import PolicyConfig
from connector.reconcile import grants_for, plan_for, reconcile
from tests.unit.test_reconcile import stitch_roster

TEAM = [
    {"email": "me@corp.com", "name": "Me", "role": "Administrator", "status": "active",
     "invoice_admin": False, "is_login_user": True},
    {"email": "ann@corp.com", "name": "Ann", "role": "General User", "status": "active",
     "invoice_admin": True},
    {"email": "bo@corp.com", "name": "Bo", "role": "General User", "status": "active",
     "invoice_admin": False},
    {"email": "old@corp.com", "name": "Old", "role": "General User", "status": "deactivated",
     "invoice_admin": False},
]  # fmt: skip
CONFIG = PolicyConfig(invite_domains=frozenset({"corp.com"}))

CSV = """email,status,stitch,role
me@corp.com,active,yes,Administrator
ann@corp.com,active,yes,
bo@corp.com,active,yes,Administrator
new@corp.com,active,yes,General User
boss@corp.com,active,yes,Administrator
old@corp.com,active,yes,
nope@corp.com,active,no,
gone@corp.com,inactive,yes,
ext@partner.com,active,yes,
"""


def test_joiners_and_role_drift_from_an_assigned_column_and_a_role_column() -> None:
    report = reconcile(stitch_roster(TEAM), _assigned(CSV), CONFIG, domains=frozenset({"corp.com"}))
    assert [(j.email, j.role, j.stitch_status) for j in report.joiners] == [
        ("new@corp.com", Role.GENERAL_USER, None),
        ("boss@corp.com", Role.ADMINISTRATOR, None),
        ("old@corp.com", None, Status.DEACTIVATED),  # listed deactivated: a reactivation
    ]  # not: unassigned, gone in the IdP, outside the company's domains, already members
    assert [(d.email, d.stitch_role, d.idp_role) for d in report.role_drift] == [
        ("bo@corp.com", Role.GENERAL_USER, Role.ADMINISTRATOR)
    ]


def _assigned(text: str, name: str = "stitch") -> IdpDirectory:
    return parse_idp(text.encode(), "idp.csv", suffix=".csv", assigned=name)


def test_a_groups_column_or_json_groups_and_fields_say_who_is_assigned() -> None:
    csv = "email,status,groups\nnew@corp.com,active,eng; stitch\nx@corp.com,active,eng\n"
    users = parse_idp(csv.encode(), "g.csv", suffix=".csv", assigned="Stitch").users
    assert (users["new@corp.com"].assigned, users["x@corp.com"].assigned) == (True, False)
    text = (
        '[{"email": "a@corp.com", "status": "active", "groups": ["stitch"]},'
        ' {"email": "b@corp.com", "status": "active", "stitch": true, "role": "administrator"},'
        ' "c@corp.com"]'
    )
    users = parse_idp(text.encode(), "d.json", suffix=".json", assigned="stitch").users
    assert [users[e].assigned for e in ("a@corp.com", "b@corp.com", "c@corp.com")] == [
        True,
        True,
        False,
    ]
    assert users["b@corp.com"].role is Role.ADMINISTRATOR
    unasked = parse_idp(text.encode(), "d.json", suffix=".json").users
    assert unasked["a@corp.com"].assigned is None  # not asked: no joiners at all


@pytest.mark.parametrize(
    ("text", "assigned", "says"),
    [
        (
            "email,status,role\na@corp.com,active,Owner\n",
            None,
            "line 2: unknown Stitch role 'Owner'",
        ),
        ("email,status,stitch\na@corp.com,active,maybe\n", "stitch", "line 2: column 'stitch'"),
        ("email,status\na@corp.com,active\n", "stitch", "no column of that name"),
    ],
)
def test_a_bad_role_or_assignment_is_a_config_error_naming_the_line(
    text: str, assigned: str | None, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_idp(text.encode(), "bad.csv", suffix=".csv", assigned=assigned)


def test_the_plan_brings_stitch_in_line_within_the_policy() -> None:
    roster = stitch_roster(TEAM)
    report = reconcile(roster, _assigned(CSV), CONFIG, domains=frozenset({"corp.com"}))
    asks = grants_for(report, allow_administrator=False)
    assert [(e, g.kind, g.role) for e, g in asks] == [
        ("new@corp.com", "invite", Role.GENERAL_USER),
        ("boss@corp.com", "invite", Role.ADMINISTRATOR),
        ("old@corp.com", "reactivate", None),
        ("bo@corp.com", "set_role", Role.ADMINISTRATOR),
    ]
    made = plan_for(report, roster, CONFIG, base_url="https://x", history=History())
    kinds = {t.email: (t.action, t.expected, t.rule) for t in made.targets}
    assert kinds["new@corp.com"] == (Action.INVITE, OutcomeStatus.INVITED, None)
    assert kinds["old@corp.com"] == (Action.REACTIVATE, OutcomeStatus.REACTIVATED, None)
    # Administrators only when asked: refused targets, kept so the reviewer sees why.
    assert kinds["boss@corp.com"] == (None, OutcomeStatus.REFUSED, "administrator_needs_flag")
    assert kinds["bo@corp.com"] == (None, OutcomeStatus.REFUSED, "administrator_needs_flag")
    allowed = plan_for(report, roster, CONFIG, base_url="https://x", allow_administrator=True)
    assert {t.email for t in allowed.targets if t.action} >= {"boss@corp.com", "bo@corp.com"}
    nowhere = plan_for(report, roster, PolicyConfig(), base_url="https://x")
    assert {t.rule for t in nowhere.targets if t.email == "new@corp.com"} == {
        "invite_domain_not_allowed"
    }

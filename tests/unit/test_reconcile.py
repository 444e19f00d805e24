"""Reconciliation is pure: IdP files parsed (every malformed case names its line), members
classified, aliases reported, orphans turned into a plan. No browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError, UsageProblem
from connector.idp import IdpDirectory, IdpFormat, load_idp, parse_idp
from connector.models import Account, Member, MemberList, OutcomeStatus, Plan, Role, Status
from connector.planner import History
from connector.policy import PolicyConfig, decide, sticky_protections
from connector.reconcile import (
    AliasOf,
    Classification,
    ReconcileReport,
    alias_base,
    company_domains,
    plan_for,
    reconcile,
)

DATA = Path(__file__).parents[1] / "data" / "idp"
SAMPLES = ["okta-export.csv", "generic.csv", "directory.json"]
C = Classification


def stitch_roster(people: list[dict[str, Any]] | None = None) -> MemberList:
    """A roster from a sandbox members file (the same file the e2e tests serve)."""
    people = people or json.loads((DATA / "stitch-roster.json").read_text())
    return MemberList(
        account=Account(client_id=116078, company_name="Corp"),
        members=[
            Member(
                email=p["email"],
                name=p["name"],
                role=Role(p["role"]),
                status=Status(p["status"]),
                invoice_admin=p["invoice_admin"],
                is_self=p.get("is_login_user", False),
            )
            for p in people
        ],
        scraped_at=datetime(2024, 11, 28, 12, 0, tzinfo=UTC),
        pages=1,
        source_url="https://app.stitchdata.com/client/116078/settings/members",
        selectors_version="test",
    )


def parse(
    text: str | bytes, fmt: IdpFormat = IdpFormat.AUTO, name: str = "idp.csv"
) -> IdpDirectory:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_idp(data, name, fmt, suffix=Path(name).suffix)


def classes(report: ReconcileReport) -> dict[str, str]:
    return {r.email: r.classification.value for r in report.rows}


# The stitch-roster.json members against the sample IdP files (all three say the same).
EXPECTED = {
    "me@corp.com": "ok",
    "boss@corp.com": "ok",
    "pay@corp.com": "protected",  # gone in the IdP, but the Invoice Admin
    "a@corp.com": "ok",  # " A@Corp.COM " in the IdP
    "gone@corp.com": "orphan",
    "left@corp.com": "orphan",  # not in the IdP at all
    "sus@corp.com": "orphan",
    "ann+etl@corp.com": "orphan",  # an alias: classified by its own address
    "ann@corp.com": "ok",
    "staged@corp.com": "ok",
    "new@corp.com": "pending_invite",
    "ext@partner.io": "unmatched_domain",
    **{f"user{i}@corp.com": "ok" for i in range(9)},
}


# ------------------------------------------------------------------ parsers


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("okta-export.csv", "okta"), ("generic.csv", "csv"), ("directory.json", "json")],
)
def test_each_sample_format_is_detected_and_says_the_same(name: str, fmt: str) -> None:
    idp = load_idp(DATA / name)
    assert idp.format == fmt and idp.source == str(DATA / name)
    assert len(idp.users) == 19 and idp.domains == {"corp.com"}
    gone = {u.email for u in idp.users.values() if not u.active}
    assert gone == {"pay@corp.com", "gone@corp.com", "sus@corp.com"}
    assert "a@corp.com" in idp.users  # trimmed and lower-cased
    assert next(iter(idp.users)) == "me@corp.com"  # file order


def test_okta_export_columns_statuses_and_lines() -> None:
    idp = load_idp(DATA / "okta-export.csv")
    assert idp.users["a@corp.com"].status == "LOCKED_OUT" and idp.users["a@corp.com"].active
    assert idp.users["a@corp.com"].line == 5
    assert idp.users["boss@corp.com"].status == "ACTIVE"  # Primary email, not Username
    assert idp.users["user7@corp.com"].line == 18  # Primary email empty: Username is an email
    assert "bo@home.example" not in idp.users  # the Secondary email is never matched
    assert idp.users["user8@corp.com"].active  # a quoted cell with a comma and quotes


@pytest.mark.parametrize(
    ("status", "active"),
    [
        ("ACTIVE", True),
        ("STAGED", True),
        ("PROVISIONED", True),
        ("RECOVERY", True),
        ("PASSWORD_EXPIRED", True),
        ("LOCKED_OUT", True),
        ("SUSPENDED", False),
        ("DEPROVISIONED", False),
        ("Locked out", True),  # the Admin Console's labels
        ("Pending user action", True),
        ("Password reset", True),
        ("Deactivated", False),
        ("locked_out", True),
    ],
)
def test_okta_statuses(status: str, active: bool) -> None:
    idp = parse(f"Username,Primary email,Status\nx@corp.com,x@corp.com,{status}\n")
    assert idp.format is IdpFormat.OKTA
    assert idp.users["x@corp.com"].active is active
    assert idp.users["x@corp.com"].status == status


@pytest.mark.parametrize(
    ("status", "active"),
    [("active", True), ("ACTIVE", True), ("Inactive", False), ("suspended", False),
     ("DEPROVISIONED", False), (" active ", True)],
)  # fmt: skip
def test_generic_statuses_are_case_insensitive(status: str, active: bool) -> None:
    assert parse(f"email,status\nx@corp.com,{status}\n").users["x@corp.com"].active is active


def test_okta_header_names_are_case_and_space_insensitive_and_username_is_the_fallback() -> None:
    idp = parse("USERNAME , status\n  J.Doe@Corp.com ,Active\n")
    assert idp.format is IdpFormat.OKTA and list(idp.users) == ["j.doe@corp.com"]


def test_generic_csv_extra_columns_bom_crlf_blank_lines() -> None:
    text = "\ufeffemail,name,status\r\na@corp.com,A,active\r\n\r\n,,\r\nb@corp.com,B,inactive\r\n"
    idp = parse(text)
    assert idp.format is IdpFormat.CSV
    assert {e: (u.active, u.line) for e, u in idp.users.items()} == {
        "a@corp.com": (True, 2),
        "b@corp.com": (False, 5),
    }


def test_line_numbers_count_physical_lines_across_quoted_newlines() -> None:
    text = 'email,note,status\na@corp.com,"two\nlines",active\na@corp.com,x,active\n'
    with pytest.raises(
        ConfigError, match=r"idp.csv line 4: duplicate email a@corp.com \(first on line 2\)"
    ):
        parse(text)


def test_json_objects_and_plain_strings() -> None:
    idp = parse('["A@corp.com", {"email": "b@corp.com", "status": "Suspended"}]', name="d.json")
    assert {e: u.active for e, u in idp.users.items()} == {"a@corp.com": True, "b@corp.com": False}
    assert idp.users["a@corp.com"].status == "active"


@pytest.mark.parametrize(
    ("text", "name", "fmt"),
    [
        ('["a@corp.com"]', "users.txt", IdpFormat.JSON),  # sniffed from the content
        ("email,status\na@corp.com,active\n", "users.txt", IdpFormat.CSV),
        ("Username,Status\na@corp.com,ACTIVE\n", "export", IdpFormat.OKTA),
        ("email,username,status\na@corp.com,jdoe,active\n", "users.csv", IdpFormat.CSV),
    ],
)
def test_auto_detection(text: str, name: str, fmt: IdpFormat) -> None:
    assert parse(text, name=name).format is fmt


def test_forced_format_is_obeyed() -> None:
    okta = (DATA / "okta-export.csv").read_bytes()
    with pytest.raises(ConfigError, match="line 1: need the columns 'email' and 'status'"):
        parse(okta, IdpFormat.CSV)
    with pytest.raises(ConfigError, match="line 1: expected a JSON list of users"):
        parse(okta, IdpFormat.JSON)
    with pytest.raises(ConfigError, match="line 1: not an Okta user export"):
        parse("email,status\na@corp.com,active\n", IdpFormat.OKTA)


# ------------------------------------------------------------------ malformed files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad-duplicate.csv", "line 6: duplicate email b@corp.com (first on line 3)"),
        (
            "bad-columns.csv",
            "line 1: need the columns 'email' and 'status'; the header is: mail, state",
        ),
        ("bad-encoding.csv", "line 3: not UTF-8 text (byte 0xe9)"),
        ("empty.csv", "line 1: the file is empty"),
        ("bad-no-email.csv", "line 4: no email"),
        ("bad-json.json", "line 4: invalid JSON: Expecting ',' delimiter"),
        ("bad-okta-status.csv", "line 3: unknown status 'RETIRED'"),
    ],
)
def test_malformed_sample_files_name_the_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_idp(DATA / name)
    assert str(caught.value).startswith(f"{DATA / name} {message}")
    assert "nothing was written" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("  \n\n", "idp.csv", "line 1: the file is empty"),
        ("email,status\n", "idp.csv", "line 1: no users in the file"),
        ("email,status\n\n,,\n", "idp.csv", "line 1: no users in the file"),
        ("[]", "idp.json", "line 1: no users in the file"),
        (
            "email,status\na@corp.com,active,extra\n",
            "idp.csv",
            "line 2: 3 fields, the header has 2",
        ),
        ("email,status\na@corp.com\n", "idp.csv", "line 2: 1 fields, the header has 2"),
        (
            "email,status\nnot-an-email,active\n",
            "idp.csv",
            "line 2: not an email address: 'not-an-email'",
        ),
        ("email,status\na@corp.com,\n", "idp.csv", "line 2: no status"),
        ("email,Email,status\n", "idp.csv", "line 1: column 'email' appears twice"),
        ('email,status\na@corp.com,active\nb@corp.com,"open\n', "idp.csv", "line 3: not valid CSV"),
        (
            "email,status\na\x00@corp.com,active\n",
            "idp.csv",
            "line 2: not an email address: 'a\\x00@corp.com'",
        ),
        (
            "Username,First name,Status\njdoe,J,ACTIVE\n",
            "o.csv",
            "line 2: no email: Primary email is empty and Username 'jdoe' is not an email address",
        ),
        ("Username,Primary email,Status\n,,ACTIVE\n", "o.csv", "line 2: no email"),
        ('{"users": []}', "idp.json", "line 1: expected a JSON list of users"),
        (
            '[\n"a@corp.com",\n 42\n]',
            "idp.json",
            "line 3: each item must be an email string or an object",
        ),
        (
            '[\n{"mail": "a@corp.com"}\n]',
            "idp.json",
            'line 2: no email (each object needs an "email" string)',
        ),
        ('[\n{"email": "a@corp.com"}\n]', "idp.json", "line 2: no status for a@corp.com"),
        ('[\n{"email": ""\n, "status": "active"}]', "idp.json", "line 2: no email"),
        (
            '[\n"a@corp.com",\n"A@CORP.COM"\n]',
            "idp.json",
            "line 3: duplicate email a@corp.com (first on line 2)",
        ),
        ('[\n"a@corp.com",\n]', "idp.json", "line 3: invalid JSON: Expecting value"),
        ('[\n"a@corp.com"\n] x', "idp.json", "line 3: invalid JSON: extra data after the list"),
        ('[\n"a@corp.com"\n', "idp.json", "line 3: invalid JSON: expected ',' or ']'"),
        (
            '[\n{"email": "a@corp.com", "status": "gone"}]',
            "idp.json",
            "line 2: unknown status 'gone'",
        ),
    ],
)
def test_malformed_input_names_the_line(text: str, name: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, name=name)
    assert str(caught.value).startswith(f"{name} {message}")


def test_bad_byte_after_a_byte_order_mark_is_named_right() -> None:
    with pytest.raises(ConfigError, match=r"idp.csv line 2: not UTF-8 text \(byte 0xe9\)"):
        parse(b"\xef\xbb\xbfemail,status\nren\xe9@corp.com,active\n")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the IdP file"):
        load_idp(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="cannot read the IdP file"):
        load_idp(tmp_path)  # a folder


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize("name", SAMPLES)
def test_classification_of_the_sample_team(name: str) -> None:
    roster = stitch_roster()
    report = reconcile(roster, load_idp(DATA / name), PolicyConfig())
    assert classes(report) == EXPECTED
    assert [r.email for r in report.rows] == [m.email for m in roster.members]  # roster order
    assert report.counts == {
        "ok": 14,
        "orphan": 4,
        "protected": 1,
        "pending_invite": 1,
        "unmatched_domain": 1,
        "deactivated": 0,
    }
    row = {r.email: r for r in report.rows}
    assert row["pay@corp.com"].rule == "invoice_admin"
    assert row["left@corp.com"].idp_status is None
    assert row["ext@partner.io"].rule is None
    assert report.company_domains == ["corp.com"] and report.domains_from == "idp"
    assert report.idp.users == 19 and report.idp.active == 16
    assert report.source.kind == "snapshot" and report.source.fingerprint == roster.fingerprint


def test_rows_carry_both_sides() -> None:
    report = reconcile(stitch_roster(), load_idp(DATA / "okta-export.csv"), PolicyConfig())
    a = next(r for r in report.rows if r.email == "a@corp.com")
    assert a.model_dump(mode="json") == {
        "email": "a@corp.com",
        "name": "Ann Lee",
        "role": "General User",
        "stitch_status": "active",
        "idp_status": "LOCKED_OUT",
        "classification": "ok",
        "rule": None,
        "alias_of": None,
    }


def m(
    email: str, role: Role = Role.GENERAL_USER, status: Status = Status.ACTIVE, **kw: Any
) -> dict[str, Any]:
    return {"email": email, "name": None, "role": role.value, "status": status.value,
            "invoice_admin": False, **kw}  # fmt: skip


ME = m("me@corp.com", Role.ADMINISTRATOR, is_login_user=True)


def test_aliases_are_reported_never_merged() -> None:
    roster = stitch_roster(
        [
            ME,
            m("jo@corp.com"),
            m("jo+etl@corp.com"),  # base active, alias not in the IdP: still an orphan
            m("jo+bi@corp.com"),  # the alias itself is in the IdP
            m("max+old@corp.com"),  # base deprovisioned
            m("zed+x@corp.com"),  # base not in the IdP
        ]
    )
    idp = parse(
        "email,status\nme@corp.com,active\njo@corp.com,active\njo+bi@corp.com,active\n"
        "max@corp.com,deprovisioned\n"
    )
    rows = {r.email: r for r in reconcile(roster, idp, PolicyConfig()).rows}
    assert rows["jo@corp.com"].alias_of is None
    assert rows["jo+etl@corp.com"].classification is C.ORPHAN
    assert rows["jo+etl@corp.com"].alias_of == AliasOf(
        email="jo@corp.com", in_idp=True, idp_status="active"
    )
    assert rows["jo+bi@corp.com"].classification is C.OK
    assert rows["jo+bi@corp.com"].alias_of == AliasOf(
        email="jo@corp.com", in_idp=True, idp_status="active"
    )
    assert rows["max+old@corp.com"].alias_of == AliasOf(
        email="max@corp.com", in_idp=True, idp_status="deprovisioned"
    )
    assert rows["zed+x@corp.com"].classification is C.ORPHAN
    assert rows["zed+x@corp.com"].alias_of == AliasOf(email="zed@corp.com", in_idp=False)


@pytest.mark.parametrize(
    ("email", "base"),
    [("a+b@x.com", "a@x.com"), ("a+b+c@x.com", "a@x.com"), ("a@x.com", None), ("+b@x.com", None)],
)
def test_alias_base(email: str, base: str | None) -> None:
    assert alias_base(email) == base


def test_domains_from_the_flag_or_from_the_idp() -> None:
    roster = stitch_roster(
        [
            ME,
            m("x@sub.corp.com"),  # not in the IdP; a subdomain is another domain
            m("y@corp.io"),  # not in the IdP
            m("ext@partner.io"),  # active in the IdP although outside the domains
            m("old@partner.io"),  # deprovisioned in the IdP: gone, whatever the domain
        ]
    )
    idp = parse(
        "email,status\nme@corp.com,active\next@partner.io,active\nold@partner.io,deprovisioned\n"
    )
    by_idp = reconcile(roster, idp, PolicyConfig())
    assert by_idp.company_domains == ["corp.com", "partner.io"] and by_idp.domains_from == "idp"
    assert classes(by_idp) == {
        "me@corp.com": "ok",
        "x@sub.corp.com": "unmatched_domain",
        "y@corp.io": "unmatched_domain",
        "ext@partner.io": "ok",
        "old@partner.io": "orphan",
    }
    flagged = reconcile(
        roster, idp, PolicyConfig(), domains=company_domains(["CORP.com", "@corp.io"])
    )
    assert flagged.company_domains == ["corp.com", "corp.io"] and flagged.domains_from == "flag"
    assert classes(flagged)["y@corp.io"] == "orphan"
    assert classes(flagged)["x@sub.corp.com"] == "unmatched_domain"
    assert classes(flagged)["ext@partner.io"] == "ok"


@pytest.mark.parametrize("bad", ["", "  ", "a@corp.com", "corp", "co rp.com"])
def test_bad_company_domain_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageProblem, match="--company-domain"):
        company_domains([bad])


def test_pending_deactivated_and_protected_members() -> None:
    roster = stitch_roster(
        [
            ME,
            m("boss@corp.com", Role.ADMINISTRATOR),
            m("inv@corp.com", status=Status.PENDING),  # not in the IdP: still pending_invite
            m("was@corp.com", status=Status.DEACTIVATED),
            m("vip@corp.com"),
            m("ops@ops.corp.com"),
        ]
    )
    idp = parse("email,status\nboss@corp.com,active\nops@ops.corp.com,suspended\n")
    config = PolicyConfig(
        protected_emails=frozenset({"vip@corp.com"}), protected_domains=frozenset({"ops.corp.com"})
    )
    report = reconcile(roster, idp, config)
    assert [(r.email, r.classification.value, r.rule) for r in report.rows] == [
        ("me@corp.com", "protected", "signed_in_account"),  # the login is not in the IdP
        ("boss@corp.com", "ok", None),
        ("inv@corp.com", "pending_invite", None),
        ("was@corp.com", "deactivated", None),
        ("vip@corp.com", "protected", "protected_email"),
        ("ops@ops.corp.com", "protected", "protected_domain"),
    ]


def test_sso_admins_and_the_last_administrator_across_the_batch() -> None:
    roster = stitch_roster(
        [
            ME,
            m("ad1@corp.com", Role.ADMINISTRATOR),
            m("ad2@corp.com", Role.ADMINISTRATOR),
            m("u@corp.com"),
        ]
    )
    idp = parse("email,status\nu@corp.com,active\n")
    # me is protected (signed in); both other admins leaving would still leave me: both orphans
    assert classes(reconcile(roster, idp, PolicyConfig())) == {
        "me@corp.com": "protected",
        "ad1@corp.com": "orphan",
        "ad2@corp.com": "orphan",
        "u@corp.com": "ok",
    }
    sso = reconcile(roster, idp, PolicyConfig(sso_enabled=True))
    assert [r.rule for r in sso.rows] == ["signed_in_account", "sso_admin", "sso_admin", None]
    # Without the login among the admins, removing both would leave none: the last is refused.
    alone = stitch_roster(
        [
            m("me@corp.com", is_login_user=True),
            m("ad1@corp.com", Role.ADMINISTRATOR),
            m("ad2@corp.com", Role.ADMINISTRATOR),
        ]
    )
    rows = reconcile(alone, parse("email,status\nme@corp.com,active\n"), PolicyConfig()).rows
    assert [(r.classification.value, r.rule) for r in rows] == [
        ("ok", None),
        ("orphan", None),
        ("protected", "last_administrator"),
    ]


# ------------------------------------------------------------------ plan and report


def test_plan_targets_the_orphans_on_this_roster() -> None:
    roster = stitch_roster()
    report = reconcile(roster, load_idp(DATA / "okta-export.csv"), PolicyConfig())
    plan = plan_for(report, roster, PolicyConfig(), base_url="https://app.stitchdata.com")
    assert [(t.email, t.expected, t.action) for t in plan.targets] == [
        ("gone@corp.com", OutcomeStatus.DEACTIVATED, "deactivate"),
        ("left@corp.com", OutcomeStatus.DEACTIVATED, "deactivate"),
        ("sus@corp.com", OutcomeStatus.DEACTIVATED, "deactivate"),
        ("ann+etl@corp.com", OutcomeStatus.DEACTIVATED, "deactivate"),
    ]
    assert plan.roster_fingerprint == roster.fingerprint and plan.roster_count == 21
    assert plan.account == roster.account and "okta-export.csv" in (plan.reason or "")
    assert Plan.model_validate_json(plan.model_dump_json()) == plan  # what `apply` reads


def test_no_orphans_is_a_plan_with_no_targets() -> None:
    roster = stitch_roster([ME, m("u@corp.com")])
    report = reconcile(roster, parse("email,status\nu@corp.com,active\n"), PolicyConfig())
    assert report.orphans == []
    assert plan_for(report, roster, PolicyConfig(), base_url="https://x.test").targets == []


def test_plan_refuses_another_roster() -> None:
    roster = stitch_roster([ME, m("u@corp.com")])
    report = reconcile(roster, parse("email,status\nme@corp.com,active\n"), PolicyConfig())
    other = stitch_roster([ME])
    with pytest.raises(ValueError, match="another roster"):
        plan_for(report, other, PolicyConfig(), base_url="https://x.test")


def test_report_json_round_trip() -> None:
    report = reconcile(
        stitch_roster(), load_idp(DATA / "directory.json"), PolicyConfig(), source="fresh"
    )
    data = json.loads(report.model_dump_json())
    assert data["kind"] == "stitch-connector/reconcile"
    assert data["source"]["kind"] == "fresh" and data["source"]["snapshot_id"] is None
    assert data["idp"]["format"] == "json"
    assert data["counts"]["orphan"] == 4
    alias = next(r for r in data["rows"] if r["email"] == "ann+etl@corp.com")["alias_of"]
    assert alias == {"email": "ann@corp.com", "in_idp": True, "idp_status": "active"}
    assert ReconcileReport.model_validate(data).rows == report.rows


PAY_WAS_INVOICE_ADMIN = Member(
    email="pay@corp.com", role=Role.GENERAL_USER, status=Status.ACTIVE, invoice_admin=True
)


def test_a_reconcile_plan_never_lists_a_target_apply_would_refuse() -> None:
    """Apply decides on the audit trail and the last accepted roster too (apply.py): the
    reconcile plan decides on the same history, and reports whom apply would refuse, by rule."""
    roster = stitch_roster([ME, m("gone@corp.com"), m("pay@corp.com"), m("u@corp.com")])
    idp = parse("email,status\nme@corp.com,active\nu@corp.com,active\n")
    config = PolicyConfig()
    history = History(
        unresolved=frozenset({"gone@corp.com"}),  # its last removal ended unknown
        last_accepted=[PAY_WAS_INVOICE_ADMIN],  # a fresh read never switches that off
    )
    report = reconcile(roster, idp, config, history=history)
    rows = {r.email: (r.classification, r.rule) for r in report.rows}
    assert rows["gone@corp.com"] == (C.PROTECTED, "unresolved_unknown")
    assert rows["pay@corp.com"] == (C.PROTECTED, "was_invoice_admin")
    plan = plan_for(report, roster, config, base_url="https://x.test", history=history)
    assert plan.targets == []
    # A report made without the history: the plan still refuses them, naming the rule.
    blind = reconcile(roster, idp, config)
    assert {r.email for r in blind.orphans} == {"gone@corp.com", "pay@corp.com"}
    plan = plan_for(blind, roster, config, base_url="https://x.test", history=history)
    assert [(t.email, t.expected, t.action, t.rule) for t in plan.targets] == [
        ("gone@corp.com", OutcomeStatus.REFUSED, None, "unresolved_unknown"),
        ("pay@corp.com", OutcomeStatus.REFUSED, None, "was_invoice_admin"),
    ]
    # What apply decides on that plan (apply.py's call), with the same history.
    applied = decide(
        [t.email for t in plan.targets],
        roster,
        config,
        unresolved=history.unresolved,
        protected_before=sticky_protections(list(history.last_accepted or []), config),
        known=history.known,
    )
    assert [t.action for t in applied] == [t.action for t in plan.targets] == [None, None]

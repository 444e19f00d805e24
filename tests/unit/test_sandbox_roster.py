"""The sandbox's options and rosters: deterministic generation and strict roster-file validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError
from connector.sandbox.options import SandboxOptions
from connector.sandbox.roster import (
    ADMINISTRATOR,
    display_sort_key,
    generate_roster,
    load_roster_file,
)


def entry(email: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "email": email,
        "name": email.split("@")[0].title(),
        "role": "General User",
        "status": "active",
        "invoice_admin": False,
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "roster.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


# ---------------------------------------------------------------- generated rosters


def test_same_seed_gives_the_same_roster_and_another_seed_does_not() -> None:
    first = generate_roster(SandboxOptions(members=40, seed=7))
    again = generate_roster(SandboxOptions(members=40, seed=7))
    other = generate_roster(SandboxOptions(members=40, seed=8))
    assert first == again
    assert [m.email for m in first] != [m.email for m in other]


@pytest.mark.parametrize(("total", "pending"), [(12, 1), (50, 5), (237, 24)])
def test_generated_roster_has_the_promised_shape(total: int, pending: int) -> None:
    roster = generate_roster(SandboxOptions(members=total, admin_email="boss@example.com"))
    assert len(roster) == total

    login = [m for m in roster if m.is_login_user]
    assert len(login) == 1
    assert login[0].email == "boss@example.com"
    assert login[0].role == ADMINISTRATOR and login[0].status == "active"
    assert login[0].name and " " in login[0].name

    invoice = [m for m in roster if m.invoice_admin]
    assert len(invoice) == 1 and not invoice[0].is_login_user
    assert invoice[0].status == "active"

    invites = [m for m in roster if m.status == "pending"]
    assert len(invites) == pending
    assert all(m.name is None for m in invites)
    assert all(m.name for m in roster if m.status == "active")

    admins = [m for m in roster if m.role == ADMINISTRATOR]
    assert len(admins) >= 2  # extra Administrators from 10 rows up

    emails = [m.email for m in roster]
    assert len(set(emails)) == total
    assert all(e == e.lower() and "@" in e for e in emails)
    assert len({m.id for m in roster}) == total


def test_generated_names_include_non_ascii_ones() -> None:
    names = [m.name or "" for m in generate_roster(SandboxOptions(members=30))]
    assert any(not name.isascii() for name in names)
    featured = {"Zoë Ødegaard", "José Núñez", "Łukasz Żółw", "Nguyễn Thị Hoa", "Søren Kierkegaard"}
    assert len(featured & set(names)) >= 3


def test_tiny_rosters() -> None:
    (only,) = generate_roster(SandboxOptions(members=1))
    assert only.is_login_user and only.role == ADMINISTRATOR and not only.invoice_admin
    two = generate_roster(SandboxOptions(members=2))
    assert [m.invoice_admin for m in two if not m.is_login_user] == [True]


def test_display_order_is_admins_then_names_then_nameless_invites() -> None:
    roster = generate_roster(SandboxOptions(members=120))
    assert roster == sorted(roster, key=display_sort_key)
    roles = [m.role for m in roster]
    assert roles == sorted(roles, key=lambda role: role != ADMINISTRATOR)
    general = [m for m in roster if m.role != ADMINISTRATOR]
    first_nameless = next(i for i, m in enumerate(general) if m.name is None)
    assert all(m.name is None for m in general[first_nameless:])


# ---------------------------------------------------------------- roster files


def test_a_valid_roster_file_loads_in_display_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            entry("zed@example.com", name="Zed"),
            entry("pending@example.com", name=None, status="pending"),
            entry("GONE@example.com", status="deactivated"),
            entry("me@example.com", name="Ann Admin", role="Administrator", is_login_user=True),
            entry("amy@example.com", name="Amy", invoice_admin=True),
        ],
    )
    roster = load_roster_file(path)
    assert [m.email for m in roster] == [
        "me@example.com",
        "amy@example.com",
        "GONE@example.com",
        "zed@example.com",
        "pending@example.com",
    ]
    assert [m.is_login_user for m in roster] == [True, False, False, False, False]


def test_the_file_login_user_replaces_admin_email(tmp_path: Path) -> None:
    path = write(tmp_path, [entry("owner@example.org", role="Administrator", is_login_user=True)])
    from connector.sandbox.state import SandboxState

    state = SandboxState(SandboxOptions(members_file=path))
    assert state.check_password("owner@example.org", "sandbox-password") == "ok"
    assert state.check_password("admin@example.com", "sandbox-password") == "invalid"


LOGIN = entry("me@example.com", role="Administrator", is_login_user=True)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"members": [LOGIN]}, "must be a JSON list of members, not dict"),
        ("[{", "not valid JSON"),
        ([LOGIN, {"email": "x@example.com", "name": "X", "role": "General User"}], "item 1"),
        ([LOGIN, entry("x@example.com", role="Owner")], "item 1 field 'role'"),
        ([LOGIN, entry("x@example.com", status="gone")], "item 1 field 'status'"),
        ([LOGIN, entry("x@example.com", invoice_admin="yes")], "item 1 field 'invoice_admin'"),
        ([LOGIN, entry("not-an-email")], "item 1 field 'email': not an email address"),
        ([LOGIN, entry("x@example.com", colour="red")], "item 1 field 'colour'"),
        ([LOGIN, entry("ME@Example.com")], "item 1: duplicate email 'ME@Example.com'"),
        ([entry("a@example.com")], 'exactly one member needs "is_login_user": true (found none)'),
        ([], "(found none)"),
        ([LOGIN, entry("b@example.com", is_login_user=True)], "(found items 0, 1)"),
        (
            [entry("me@example.com", status="pending", is_login_user=True)],
            'item 0: the login user must have status "active"',
        ),
    ],
)
def test_bad_roster_files_are_config_errors(tmp_path: Path, content: object, expected: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as caught:
        load_roster_file(path)
    message = str(caught.value)
    assert message.startswith(f"roster file {path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_fields_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, [LOGIN, {"email": "x@example.com", "name": "X"}])
    with pytest.raises(
        ConfigError, match=r"item 1 field '(role|status|invoice_admin)': Field required"
    ):
        load_roster_file(path)


@pytest.mark.parametrize("make", [lambda p: p / "absent.json", lambda p: p])
def test_unreadable_roster_files_are_config_errors(tmp_path: Path, make: Any) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=r"^roster file .*: cannot read it"):
        load_roster_file(path)


def test_invalid_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "roster.json"
    path.write_bytes(b"\xff\xfe[]")
    with pytest.raises(ConfigError, match="cannot read it"):
        load_roster_file(path)


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"variant": "2019"}, "variant"),
        ({"members": 0}, "members: must be between 1 and 100000"),
        ({"fault_rate": 1.5}, "fault_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"session_ttl": 0}, "session_ttl"),
        ({"totp_secret": "not base32!"}, "totp_secret"),
        ({"admin_email": "admin"}, "admin_email"),
        ({"client_id": 12}, "client_id"),
        ({"app_port": 8000, "login_port": 8000}, "must differ"),
        ({"mfa": "sms"}, "mfa"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        SandboxOptions(**kwargs)


def test_options_are_frozen_and_normalise_the_totp_secret() -> None:
    options = SandboxOptions(totp_secret="jbsw y3dp ehpk 3pxp")
    assert options.totp_secret == "JBSWY3DPEHPK3PXP"
    assert SandboxOptions().totp_secret == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with pytest.raises(Exception):  # noqa: B017 (pydantic's frozen-instance error)
        options.members = 3  # type: ignore[misc]

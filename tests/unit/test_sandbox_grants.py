"""The member lifecycle over real HTTP: invite, role change, reactivate (docs/sandbox-dom.md
"Member lifecycle"). Each rule with its status and exact text, per variant where they differ, the
write log's entries, the seat limit, the second account, SSO, faults and slow writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.errors import ConfigError
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from tests.unit.test_sandbox_writes import (
    API,
    CID,
    Session,
    answer_of,
    brief,
    error,
    ids_by_email,
    person,
    status_of,
    wait_until,
    write_roster,
    writes_of,
)

ALREADY = "This person is already a member of this account."
ELSEWHERE = "This email address is already associated with an active user."
INVITE_NOT_ADMIN = "Only Administrators can invite new users."
ROLE_NOT_ADMIN = "Only Administrators can change roles."
REACTIVATE_NOT_ADMIN = "Only Administrators can reactivate team members."
REQUIRED = "Email is required"
INVALID = "Please enter a valid email address"
OWN_ROLE = "You can't change your own role."
UNKNOWN_ROLE = "Choose Administrator or General User."
LAST_ADMIN = "An account must have at least one Administrator."
NO_SUCH = "This team member no longer exists."
SERVER_ERROR = "Something went wrong. Please try again."
OTHER = "analyst@other-account.example"

ROSTER = [
    person("me@example.com", "Administrator", is_login_user=True),
    person("boss@example.com", "Administrator"),
    person("user@example.com", invoice_admin=True),
    person("pending@example.com", status="pending"),
    person("gone@example.com", status="deactivated"),
]  # seats used: me, boss, user, pending = 4


class Admin(Session):
    def invite(self, body: Any) -> httpx.Response:
        if isinstance(body, dict):
            return self.app.post(f"{API}/invitations", json=body)
        return self.app.post(f"{API}/invitations", content=body)

    def set_role(self, member_id: str, role: Any) -> httpx.Response:
        return self.app.put(f"{API}/members/{member_id}/role", json={"role": role})

    def reactivate(self, member_id: str) -> httpx.Response:
        return self.app.post(f"{API}/members/{member_id}/reactivate")

    def row(self, email: str) -> dict[str, Any] | None:
        members: list[dict[str, Any]] = self.listed()["members"]
        return next((m for m in members if m["email"] == email), None)

    def page(self) -> str:
        path = (
            f"/v2/client/{CID}/settings/account"
            if self.sandbox.options.variant == "legacy"
            else f"/client/{CID}/pipeline/v2/settings/members"
        )
        answer = self.app.get(path)
        assert answer.status_code == 200
        return answer.text


@pytest.fixture(scope="module")
def roster_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_roster(tmp_path_factory.mktemp("grants"), ROSTER)


@pytest.fixture(scope="module")
def ids(roster_path: Path) -> dict[str, str]:
    return ids_by_email(roster_path)


@pytest.fixture
def open_admin(roster_path: Path) -> Iterator[Any]:
    """A signed-in Administrator on a sandbox started with these options."""
    opened: list[Any] = []

    def start(**options: Any) -> Admin:
        context = running_sandbox(SandboxOptions(members_file=roster_path, latency_ms=0, **options))
        sandbox = context.__enter__()
        session = Admin(sandbox)
        opened.append((context, session))
        session.sign_in()
        return session

    yield start
    for context, session in opened:
        session.close()
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def box(roster_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxOptions(members_file=roster_path, latency_ms=0)) as running:
        yield running


@pytest.fixture
def admin(box: RunningSandbox) -> Iterator[Admin]:
    box.reset()
    session = Admin(box)
    session.sign_in()
    yield session
    session.close()


# ---------------------------------------------------------------- options and state


def test_lifecycle_options_defaults_and_validation(roster_path: Path) -> None:
    options = SandboxOptions()
    assert (options.seat_limit, options.plan, options.other_account_emails) == (
        None,
        "Standard",
        (OTHER,),
    )
    assert SandboxOptions(other_account_emails=(" A@B.example ",)).other_account_emails == (
        "a@b.example",
    )
    for bad in ({"seat_limit": 0}, {"plan": " "}, {"other_account_emails": ("not-an-email",)}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SandboxOptions(**bad)
    # One email, one Stitch account: the second account cannot hold a roster member's email.
    clash = SandboxOptions(members_file=roster_path, other_account_emails=("USER@example.com",))
    with (
        pytest.raises(ConfigError, match=r"user@example\.com is on this account's roster"),
        running_sandbox(clash),
    ):
        pass


def test_the_state_names_the_second_account(admin: Admin) -> None:
    state = admin.app.get("/__sandbox__/state").json()
    assert state["other_accounts"] == [{"client_id": 211417, "emails": [OTHER]}]
    # Adding one of its members to this account behind the connector's back is refused too.
    answer = admin.app.post("/__sandbox__/add-member", json={"email": OTHER, "name": "A"})
    assert answer.status_code == 400 and "another Stitch account" in answer.json()["message"]


def test_the_member_list_carries_the_seats(open_admin: Any) -> None:
    assert open_admin().listed()["seats"] == {"limit": None, "used": 4, "plan": "Standard"}
    full = open_admin(seat_limit=4, plan="Premium").listed()["seats"]
    assert full == {"limit": 4, "used": 4, "plan": "Premium"}


# ---------------------------------------------------------------- invite


def test_an_invitation_adds_a_pending_row_with_the_chosen_role(admin: Admin) -> None:
    answer = admin.invite({"email": "  New.Person@Example.COM ", "role": "Administrator"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"ok", "id"} and body["ok"] is True
    row = admin.row("new.person@example.com")  # stored trimmed and lower-cased
    assert row is not None
    assert (row["id"], row["name"], row["role"], row["status"]) == (
        body["id"],
        None,
        "Administrator",
        "pending",
    )
    # The default role is General User; a `+` alias is another email [S].
    assert admin.invite({"email": "user+prod@example.com"}).status_code == 200
    alias = admin.row("user+prod@example.com")
    assert alias is not None and alias["role"] == "General User"
    assert admin.listed()["seats"]["used"] == 6
    entries = writes_of(admin.sandbox)
    assert brief(entries) == [
        ("invite", "new.person@example.com", 200, "ok"),
        ("invite", "user+prod@example.com", 200, "ok"),
    ]
    assert set(entries[0]) == {"at", "action", "email", "status", "outcome"}


def test_invitation_refusals_each_with_its_status_and_text(admin: Admin) -> None:
    cases = [
        ({"email": ""}, error(400, REQUIRED)),
        ({"email": "   "}, error(400, REQUIRED)),
        ({"role": "Administrator"}, error(400, REQUIRED)),  # no email at all
        ({"email": "not-an-email"}, error(400, INVALID)),
        ({"email": "a@b"}, error(400, INVALID)),
        ({"email": "x@example.com", "role": "Owner"}, error(400, UNKNOWN_ROLE)),
        ({"email": "USER@example.com"}, error(409, ALREADY)),  # active
        ({"email": "pending@example.com"}, error(409, ALREADY)),  # pending
        ({"email": "me@example.com"}, error(409, ALREADY)),  # the viewer
        ({"email": OTHER.upper()}, error(409, ELSEWHERE)),  # another Stitch account
    ]
    for body, expected in cases:
        assert answer_of(admin.invite(body)) == expected, body
    assert admin.invite(b"not json").status_code == 400
    assert admin.listed()["total"] == 4
    assert brief(writes_of(admin.sandbox))[-5:] == [
        ("invite", "user@example.com", 409, "refused"),
        ("invite", "pending@example.com", 409, "refused"),
        ("invite", "me@example.com", 409, "refused"),
        ("invite", OTHER, 409, "refused"),
        ("invite", "", 400, "refused"),
    ]


def test_a_deactivated_member_is_re_invited_unless_the_list_keeps_the_row(
    admin: Admin, open_admin: Any
) -> None:
    # Gone from the list: "you can simply re-add them" [S]; the row comes back as pending.
    assert admin.invite({"email": "gone@example.com"}).status_code == 200
    assert status_of(admin.sandbox, "gone@example.com") == "pending"
    # Kept in the list as Deactivated: it is still a member of this account (Reactivate it).
    kept = open_admin(keep_deactivated=True)
    assert answer_of(kept.invite({"email": "gone@example.com"})) == error(409, ALREADY)


def test_the_seat_limit_refuses_invitations_and_frees_with_a_cancelled_one(
    open_admin: Any, ids: dict[str, str]
) -> None:
    session = open_admin(seat_limit=5)
    assert session.invite({"email": "fifth@example.com"}).status_code == 200
    full = error(409, "Your Standard plan allows 5 users.")
    assert answer_of(session.invite({"email": "sixth@example.com"})) == full
    # Already-a-member answers before the seats do.
    assert answer_of(session.invite({"email": "user@example.com"})) == error(409, ALREADY)
    assert session.cancel(ids["pending@example.com"]).status_code == 200
    assert session.invite({"email": "sixth@example.com"}).status_code == 200
    other_plan = open_admin(seat_limit=4, plan="Free")
    assert answer_of(other_plan.invite({"email": "x@example.com"})) == error(
        409, "Your Free plan allows 4 users."
    )


def test_legacy_invitations_carry_a_name_and_no_role(open_admin: Any) -> None:
    session = open_admin(variant="legacy")
    body = {"email": "named@example.com", "name": "  Ana Núñez ", "role": "Administrator"}
    assert session.invite(body).status_code == 200
    row = session.row("named@example.com")
    assert row is not None
    assert (row["name"], row["role"], row["status"]) == ("Ana Núñez", "General User", "pending")
    assert session.invite({"email": "nameless@example.com", "name": " "}).status_code == 200
    nameless = session.row("nameless@example.com")
    assert nameless is not None and nameless["name"] is None


def test_an_invited_person_accepts_through_the_control_endpoint(admin: Admin) -> None:
    assert admin.invite({"email": "new.person@example.com"}).status_code == 200
    accepted = admin.app.post(
        "/__sandbox__/accept-invite", json={"email": "New.Person@example.com"}
    )
    assert accepted.json() == {"ok": True}
    row = admin.row("new.person@example.com")
    assert row is not None and (row["status"], row["name"]) == ("active", "New Person")
    again = admin.app.post("/__sandbox__/accept-invite", json={"email": "new.person@example.com"})
    assert again.status_code == 400  # no pending invitation any more


# ---------------------------------------------------------------- role change


def test_a_role_change_moves_the_row_and_is_logged_with_the_role(
    admin: Admin, ids: dict[str, str]
) -> None:
    before = [m["email"] for m in admin.listed()["members"]]
    assert before.index("user@example.com") > before.index("me@example.com")
    assert answer_of(admin.set_role(ids["user@example.com"], "Administrator")) == (
        200,
        {"ok": True},
    )
    after = admin.listed()["members"]
    # Administrators first, then by name: Boss, Me, User.
    assert [m["email"] for m in after][:3] == [
        "boss@example.com",
        "me@example.com",
        "user@example.com",
    ]
    assert after[2]["role"] == "Administrator"
    # Pending invitations have a role too [S]; the same role again changes nothing.
    assert admin.set_role(ids["pending@example.com"], "Administrator").status_code == 200
    state_before = admin.sandbox.state()["members"]
    assert admin.set_role(ids["pending@example.com"], "Administrator").status_code == 200
    assert admin.sandbox.state()["members"] == state_before
    entries = writes_of(admin.sandbox)
    assert [(w["action"], w["email"], w["role"], w["status"]) for w in entries] == [
        ("set_role", "user@example.com", "Administrator", 200),
        ("set_role", "pending@example.com", "Administrator", 200),
        ("set_role", "pending@example.com", "Administrator", 200),
    ]
    assert set(entries[0]) == {"at", "action", "email", "role", "status", "outcome"}


def test_role_change_refusals_each_with_its_status_and_text(
    admin: Admin, ids: dict[str, str]
) -> None:
    assert answer_of(admin.set_role(ids["user@example.com"], "Owner")) == error(400, UNKNOWN_ROLE)
    assert answer_of(admin.set_role(ids["user@example.com"], None)) == error(400, UNKNOWN_ROLE)
    assert answer_of(admin.set_role("m-00000000", "General User")) == error(404, NO_SUCH)
    assert answer_of(admin.set_role(ids["gone@example.com"], "Administrator")) == error(
        404, NO_SUCH
    )
    assert answer_of(admin.set_role(ids["me@example.com"], "General User")) == error(400, OWN_ROLE)
    assert admin.set_role(ids["boss@example.com"], "General User").status_code == 200
    # Now the viewer is the last active Administrator: 409 before 400, as for deactivation.
    assert answer_of(admin.set_role(ids["me@example.com"], "General User")) == error(
        409, LAST_ADMIN
    )
    assert answer_of(admin.set_role(ids["me@example.com"], "Administrator")) == error(400, OWN_ROLE)
    assert [(w["email"], w["role"], w["status"]) for w in writes_of(admin.sandbox)] == [
        ("user@example.com", "Owner", 400),
        ("user@example.com", "", 400),
        ("", "General User", 404),
        ("gone@example.com", "Administrator", 404),
        ("me@example.com", "General User", 400),
        ("boss@example.com", "General User", 200),
        ("me@example.com", "General User", 409),
        ("me@example.com", "Administrator", 400),
    ]


def test_legacy_has_no_role_changes(open_admin: Any, ids: dict[str, str]) -> None:
    session = open_admin(variant="legacy")
    answer = session.set_role(ids["user@example.com"], "Administrator")
    assert answer_of(answer) == error(400, "Roles are assigned automatically.")
    assert status_of(session.sandbox, "user@example.com") == "active"
    row = session.row("user@example.com")
    assert row is not None and row["role"] == "General User"


# ---------------------------------------------------------------- reactivate


def test_reactivate_needs_a_kept_deactivated_row_and_a_free_seat(
    open_admin: Any, ids: dict[str, str]
) -> None:
    gone = ids["gone@example.com"]
    without = open_admin()  # the list does not show deactivated members: nothing to reactivate
    assert answer_of(without.reactivate(gone)) == error(404, NO_SUCH)

    full = open_admin(keep_deactivated=True, seat_limit=4)
    assert answer_of(full.reactivate(gone)) == error(409, "Your Standard plan allows 4 users.")

    session = open_admin(keep_deactivated=True)
    assert answer_of(session.reactivate(gone)) == (200, {"ok": True})
    row = session.row("gone@example.com")
    assert row is not None and row["status"] == "active"
    assert answer_of(session.reactivate(gone)) == error(404, NO_SUCH)  # active now
    assert answer_of(session.reactivate(ids["pending@example.com"])) == error(404, NO_SUCH)
    assert answer_of(session.reactivate("m-00000000")) == error(404, NO_SUCH)
    assert brief(writes_of(session.sandbox)) == [
        ("reactivate", "gone@example.com", 200, "ok"),
        ("reactivate", "gone@example.com", 404, "refused"),
        ("reactivate", "pending@example.com", 404, "refused"),
        ("reactivate", "", 404, "refused"),
    ]


# ---------------------------------------------------------------- who may, sessions, accounts


def test_general_users_are_refused_every_lifecycle_write(tmp_path: Path) -> None:
    roster = [
        person("boss@example.com", "Administrator"),
        person("me@example.com", is_login_user=True),
        person("gone@example.com", status="deactivated"),
    ]
    path = write_roster(tmp_path, roster)
    ids = ids_by_email(path)
    for variant in ("current", "legacy"):
        options = SandboxOptions(
            members_file=path, latency_ms=0, keep_deactivated=True, variant=variant
        )
        with running_sandbox(options) as sandbox:
            session = Admin(sandbox)
            session.sign_in()
            # Validation comes after the role check: even a blank email answers 403.
            for body in ({"email": "x@example.com"}, {"email": ""}):
                assert answer_of(session.invite(body)) == error(403, INVITE_NOT_ADMIN)
            answer = session.set_role(ids["boss@example.com"], "General User")
            assert answer_of(answer) == error(403, ROLE_NOT_ADMIN)
            answer = session.reactivate(ids["gone@example.com"])
            assert answer_of(answer) == error(403, REACTIVATE_NOT_ADMIN)
            assert [w["status"] for w in writes_of(sandbox)] == [403] * 4
            page = session.page()
            # legacy shows the add button to everyone (the server refuses); current hides it.
            assert ('aria-label="Add a Team Member"' in page) is (variant == "legacy")
            assert 'id="st-t-add-team-member"' not in page
            session.close()


def test_signed_out_and_wrong_account_writes_are_logged(box: RunningSandbox) -> None:
    box.reset()
    anonymous = Admin(box)
    assert answer_of(anonymous.invite({"email": "x@example.com"})) == (
        401,
        {"code": "Unauthorized"},
    )
    anonymous.sign_in()
    other = anonymous.app.post(f"/api/clients/{CID + 1}/invitations", json={"email": "Y@x.com"})
    assert other.status_code == 404
    anonymous.close()
    assert brief(writes_of(box)) == [
        ("invite", "x@example.com", 401, "refused"),
        ("invite", "y@x.com", 404, "refused"),
    ]


# ---------------------------------------------------------------- the add button


@pytest.mark.parametrize("variant", ["current", "rbac2022", "legacy"])
def test_the_add_button_per_variant_and_when_the_seats_are_full(
    open_admin: Any, variant: str
) -> None:
    page = open_admin(variant=variant).page()
    if variant == "legacy":
        assert (
            '<button type="button" class="st-button st-button--blue st-add-member" '
            'aria-label="Add a Team Member" title="Add a Team Member">+</button>'
        ) in page
    else:
        assert (
            '<button type="button" id="st-t-add-team-member" '
            'class="st-button st-button--primary">Add a Team Member</button>'
        ) in page
    full = open_admin(variant=variant, seat_limit=4).page()
    title = 'title="Your plan includes 4 users. Upgrade to add more team members."'
    assert title in full and " disabled>" in full


# ---------------------------------------------------------------- SSO


def test_sso_drops_pending_invitations_but_new_ones_can_be_sent(
    roster_path: Path, tmp_path: Path
) -> None:
    options = SandboxOptions(members_file=roster_path, latency_ms=0, sso=True)
    with running_sandbox(options) as sandbox:
        assert status_of(sandbox, "pending@example.com") is None
        session = Admin(sandbox)
        session.sign_in()
        assert session.invite({"email": "new@example.com"}).status_code == 200
        assert status_of(sandbox, "new@example.com") == "pending"
        sandbox.reset()
        assert status_of(sandbox, "new@example.com") is None  # a reset drops pending ones again
        assert status_of(sandbox, "pending@example.com") is None
        session.close()
    roster = [person("boss@example.com", "Administrator"), person("me@x.com", is_login_user=True)]
    path = write_roster(tmp_path, roster)
    for variant in ("legacy", "current"):
        options = SandboxOptions(members_file=path, latency_ms=0, sso=True, variant=variant)
        with running_sandbox(options) as sandbox:
            # me@x.com is a General User, so sign-in needs a session issued directly.
            client = httpx.Client(base_url=sandbox.app_url, timeout=10)
            client.cookies.set("stitch_session", sandbox.issue_session())
            path_ = (
                f"/v2/client/{CID}/settings/account"
                if variant == "legacy"
                else f"/client/{CID}/pipeline/v2/settings/members"
            )
            page = client.get(path_).text
            assert "Add a Team Member" not in page  # only Administrators may add under SSO [S]
            client.close()


# ---------------------------------------------------------------- faults and slow writes


def test_faulted_lifecycle_writes_change_nothing(open_admin: Any, ids: dict[str, str]) -> None:
    session = open_admin(fault_rate=1.0, keep_deactivated=True)
    before = session.sandbox.state()["members"]
    fault = (500, {"code": "InternalServerError", "message": SERVER_ERROR})
    assert answer_of(session.invite({"email": "x@example.com"})) == fault
    assert answer_of(session.set_role(ids["user@example.com"], "Administrator")) == fault
    assert answer_of(session.reactivate(ids["gone@example.com"])) == fault
    assert session.sandbox.state()["members"] == before
    assert brief(writes_of(session.sandbox)) == [
        ("invite", "x@example.com", 500, "fault"),
        ("set_role", "user@example.com", 500, "fault"),
        ("reactivate", "gone@example.com", 500, "fault"),
    ]


@pytest.mark.parametrize("mode", ["answer", "act"])
def test_slow_invitations_follow_the_slow_write_mode(open_admin: Any, mode: str) -> None:
    session = open_admin(slow_write_ms=1200, slow_write_mode=mode)
    sandbox = session.sandbox
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        pending = pool.submit(session.invite, {"email": "late@example.com"})
        if mode == "answer":  # acted at once, answered late
            wait_until(lambda: status_of(sandbox, "late@example.com") == "pending")
            assert not pending.done()
        else:  # acted late: right after the request nothing has changed yet
            assert status_of(sandbox, "late@example.com") is None
        answer = pending.result(timeout=10)
    assert answer.status_code == 200
    assert time.monotonic() - started >= 1.2
    assert status_of(sandbox, "late@example.com") == "pending"

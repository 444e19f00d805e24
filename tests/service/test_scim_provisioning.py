"""SCIM provisioning against the real sandbox, as Okta and Entra ID send it: look up by filter,
create (an invitation), set the role, deactivate, reactivate; each step proven in Stitch, each
replay changing nothing, and the guards answering as SCIM errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeSandbox
from tests.service.conftest import RunningService, StartService, team_box
from tests.service.test_scim import PATCH_OP, scim

pytestmark = pytest.mark.e2e
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
STITCH = "urn:stitch-connector:params:scim:schemas:extension:stitch:2.0:User"


@pytest.fixture
def svc(make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService) -> RunningService:
    box = team_box(make_sandbox, tmp_path, keep_deactivated=True)
    service = start_service(box, STITCH_INVITE_DOMAINS="corp.com")
    service.box = box  # type: ignore[attr-defined]
    return service


def sandbox_member(svc: RunningService, email: str) -> tuple[str, str] | None:
    members = svc.box.state()["members"]  # type: ignore[attr-defined]
    return next(((m["status"], m["role"]) for m in members if m["email"] == email), None)


def write_count(svc: RunningService) -> int:
    return len(svc.box.state()["writes"])  # type: ignore[attr-defined]


def lookup(svc: RunningService, email: str) -> list[dict[str, Any]]:
    answer = scim(svc, "GET", "/Users", params={"filter": f'userName eq "{email}"'})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json().get("Resources", [])
    return found


def patch(svc: RunningService, user_id: str, *operations: dict[str, Any]) -> Any:
    return scim(
        svc,
        "PATCH",
        f"/Users/{user_id}",
        json={"schemas": [PATCH_OP], "Operations": list(operations)},
    )


def test_okta_provisions_a_joiner_then_deactivates_and_reactivates(svc: RunningService) -> None:
    email = "okta.joiner@corp.com"
    assert lookup(svc, email) == []  # Okta looks first
    created = scim(svc, "POST", "/Users", json={
        "schemas": [CORE], "userName": email, "externalId": "00u1abcd",
        "name": {"givenName": "Okta", "familyName": "Joiner"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": "Okta Joiner", "locale": "en-US", "active": True,
        "password": "Ign0red!", "groups": [],
    })  # fmt: skip
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["userName"], user["active"]) == (email, True)
    assert "roles" not in user  # the IdP assigned none; Stitch's side is in the extension
    assert user[STITCH] == {
        "role": "General User",
        "status": "pending",
        "invitationPending": True,
        "invoiceAdmin": False,
    }
    assert user["externalId"] == "00u1abcd"
    assert sandbox_member(svc, email) == ("pending", "General User")
    again = scim(svc, "POST", "/Users", json={"schemas": [CORE], "userName": email})
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    assert [u["id"] for u in lookup(svc, email)] == [user["id"]]

    svc.box.accept_invite(email, "Okta Joiner")  # type: ignore[attr-defined]
    off = patch(svc, user["id"], {"op": "replace", "value": {"active": False}})
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    assert sandbox_member(svc, email) == ("deactivated", "General User")
    on = patch(svc, user["id"], {"op": "replace", "value": {"active": True}})
    assert on.status_code == 200 and on.json()["active"] is True, on.text
    assert sandbox_member(svc, email) == ("active", "General User")
    count = write_count(svc)
    replay = patch(svc, user["id"], {"op": "replace", "value": {"active": True}})
    assert replay.status_code == 200 and write_count(svc) == count


def test_entra_provisions_with_an_app_role_and_changes_it(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path, keep_deactivated=True)
    svc = start_service(
        box, STITCH_INVITE_DOMAINS="corp.com", STITCH_SCIM_MAY_GRANT_ADMINISTRATOR="true"
    )
    svc.box = box  # type: ignore[attr-defined]
    email = "entra.joiner@corp.com"
    assert lookup(svc, email) == []
    created = scim(svc, "POST", "/Users", json={
        "schemas": [CORE, ENTERPRISE], "externalId": "entra.joiner", "userName": email,
        "active": True, "displayName": "Entra Joiner",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Entra Joiner", "familyName": "Joiner", "givenName": "Entra"},
        "roles": [{"primary": True, "type": "WindowsAzureActiveDirectoryRole",
                   "value": "Administrator"}],
    })  # fmt: skip
    assert created.status_code == 201, created.text
    user = created.json()
    assert sandbox_member(svc, email) == ("pending", "Administrator")
    # Entra's single app role: Replace roles[primary eq "True"].value
    demoted = patch(
        svc,
        user["id"],
        {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "General User"},
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["roles"][0]["value"] == "General User"
    assert demoted.json()[STITCH]["role"] == "General User"
    assert sandbox_member(svc, email) == ("pending", "General User")
    count = write_count(svc)
    same = patch(
        svc,
        user["id"],
        {"op": "Replace", "path": 'roles[primary eq "True"].value', "value": "General User"},
    )
    assert same.status_code == 200 and write_count(svc) == count  # unchanged: no click
    box.accept_invite(email, "Entra Joiner")
    off = patch(svc, user["id"], {"op": "Replace", "path": "active", "value": "False"})
    assert off.status_code == 200 and sandbox_member(svc, email) == ("deactivated", "General User")
    on = patch(svc, user["id"], {"op": "Replace", "path": "active", "value": "True"})
    assert on.status_code == 200 and sandbox_member(svc, email) == ("active", "General User")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"userName": "joe@elsewhere.com"}, 403, "invite_domain_not_allowed"),
        (
            {"userName": "joe@corp.com", "roles": [{"value": "Administrator", "primary": True}]},
            403,
            "administrator_needs_flag",
        ),
        ({"userName": "joe@corp.com", "roles": [{"value": "Owner"}]}, 400, "unknown role"),
        ({"userName": "analyst@other-account.example"}, 403, "invite_domain_not_allowed"),
    ],
)
def test_a_refused_creation_is_a_scim_error_and_changes_nothing(
    svc: RunningService, body: dict[str, Any], status: int, says: str
) -> None:
    answer = scim(svc, "POST", "/Users", json={"schemas": [CORE], **body})
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert write_count(svc) == 0


def test_an_address_of_another_stitch_account_is_a_conflict(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    box = team_box(make_sandbox, tmp_path)
    svc = start_service(box, STITCH_INVITE_DOMAINS="corp.com,other-account.example")
    answer = scim(
        svc, "POST", "/Users", json={"schemas": [CORE], "userName": "analyst@other-account.example"}
    )
    assert answer.status_code == 409 and answer.json()["scimType"] == "uniqueness", answer.text
    assert "already associated with an active user" in answer.json()["detail"]


def test_a_reactivation_and_a_role_in_one_request_both_happen(
    make_sandbox: MakeSandbox, tmp_path: Path, start_service: StartService
) -> None:
    """PUT {active: true, roles: Administrator} on a deactivated member: reactivated, then
    promoted (before: the role was dropped, and the answer was 200 with the old role)."""
    box = team_box(make_sandbox, tmp_path, keep_deactivated=True)
    svc = start_service(
        box, STITCH_INVITE_DOMAINS="corp.com", STITCH_SCIM_MAY_GRANT_ADMINISTRATOR="true"
    )
    svc.box = box  # type: ignore[attr-defined]
    (user,) = lookup(svc, "user3@corp.com")
    assert (
        patch(svc, user["id"], {"op": "replace", "path": "active", "value": False}).status_code
        == 200
    )
    body = {"schemas": [CORE], "userName": "user3@corp.com", "active": True,
            "roles": [{"value": "Administrator", "primary": True}]}  # fmt: skip
    answer = scim(svc, "PUT", f"/Users/{user['id']}", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True and answer.json()["roles"][0]["value"] == "Administrator"
    assert answer.json()[STITCH]["role"] == "Administrator"
    assert sandbox_member(svc, "user3@corp.com") == ("active", "Administrator")


def test_creating_a_user_stitch_lists_as_deactivated_brings_them_back(svc: RunningService) -> None:
    """After a SCIM DELETE the user answers 404; the IdP creating them again reactivates the
    member Stitch still lists (before: 403 deactivated_member, and no way back)."""
    (user,) = lookup(svc, "user4@corp.com")
    assert scim(svc, "DELETE", f"/Users/{user['id']}").status_code == 204
    assert sandbox_member(svc, "user4@corp.com") == ("deactivated", "General User")
    again = scim(svc, "POST", "/Users", json={"schemas": [CORE], "userName": "user4@corp.com"})
    assert again.status_code == 201, again.text
    assert sandbox_member(svc, "user4@corp.com") == ("active", "General User")
    inactive = scim(
        svc, "POST", "/Users", json={"schemas": [CORE], "userName": "x@corp.com", "active": False}
    )
    assert inactive.status_code == 400 and inactive.json()["scimType"] == "invalidValue"

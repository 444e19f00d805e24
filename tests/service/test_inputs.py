"""Bad strings are refused at the door of both APIs, and nothing is queued: 422 on /v1, 400 on
SCIM. The OpenAPI document's email pattern is the rule the service applies (issue 12)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.offboard_queue.jobs import JobStore
from connector.sandbox.server import RunningSandbox
from tests.conftest import MakeSandbox
from tests.service.conftest import RunningService, StartService, all_writes, team_box
from tests.unit.test_safe_text import TRICKY

pytestmark = pytest.mark.e2e
SCIM = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"

# (what is wrong, the field, the value)
BAD: list[tuple[str, str, str]] = [
    ("nul", "reason", "left\x00"),
    ("esc", "reason", "left \x1b[2J\x1b[31m"),
    ("bidi", "requested_by", "hr \u202eexe.fdp"),
    ("bidi-isolate", "request_id", "HR-\u2066x\u2069"),
    ("mark", "requested_by", "hr\u200f"),
    ("control", "reason", "line one\nforged: line two"),
    ("bell", "request_id", "HR\x07"),
    ("over-long email", "email", "a" * 65 + "@corp.com"),
    ("over-long reason", "reason", "x" * 1001),
    ("non-ASCII local part", "email", "jösé@corp.com"),
    ("esc email", "email", "user1\x1b[0m@corp.com"),
]


@pytest.fixture
def box(make_sandbox: MakeSandbox, tmp_path: Path) -> RunningSandbox:
    return team_box(make_sandbox, tmp_path)


@pytest.fixture
def svc(box: RunningSandbox, start_service: StartService) -> RunningService:
    return start_service(box)


def nothing_queued(svc: RunningService) -> bool:
    return sum(JobStore.in_state_dir(svc.state_dir).counts().values()) == 0


def test_bad_strings_are_refused_by_the_api_and_by_scim(
    svc: RunningService, box: RunningSandbox
) -> None:
    with svc.client() as http:
        for what, field, value in BAD:
            body = {"email": "user1@corp.com", "request_id": f"r-{what}", "requested_by": "hr"}
            answer = http.post("/v1/offboardings", json={**body, field: value})
            assert answer.status_code == 422, (what, answer.text)
            assert answer.json()["error"]["kind"] == "InvalidRequest", what
        callback = http.post(
            "/v1/offboardings",
            json={
                "email": "user1@corp.com",
                "request_id": "r-callback",
                "requested_by": "hr",
                "callback_url": "https://hooks.example.com/\x1b[2J",
            },
        )
        assert callback.status_code == 422, callback.text
        user1 = http.get(
            "/scim/v2/Users", params={"filter": 'userName eq "user1@corp.com"'}
        ).json()["Resources"][0]

    def scim(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        with svc.client() as http:
            return http.request(
                method, "/scim/v2" + path, json=body, headers={"Content-Type": SCIM}
            )

    for what, _field, value in BAD:
        if what == "over-long reason":
            continue  # SCIM has no reason; the over-long userName is below
        email_like = value if "@" in value else f"user1{value}@corp.com"
        created = scim("POST", "/Users", {"schemas": [USER], "userName": email_like})
        assert created.status_code == 400, (what, created.text)
        assert created.json()["scimType"] == "invalidValue", what
        replaced = scim("PUT", f"/Users/{user1['id']}", {"schemas": [USER], "userName": email_like})
        assert replaced.status_code == 400, (what, replaced.text)
        patched = scim(
            "PATCH",
            f"/Users/{user1['id']}",
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
                "note": value,
            },
        )
        assert patched.status_code == 400, (what, patched.text)
        assert patched.json()["scimType"] == "invalidValue", what
    long_name = "u" * 250 + "@corp.com"
    assert scim("POST", "/Users", {"schemas": [USER], "userName": long_name}).status_code == 400
    with svc.client() as http:
        bidi_filter = http.get("/scim/v2/Users", params={"filter": 'userName eq "a\u202e"'})
    assert bidi_filter.status_code == 400

    assert nothing_queued(svc)
    assert all_writes(box) == []


def test_the_openapi_email_pattern_is_the_rule_the_service_applies(svc: RunningService) -> None:
    with svc.client() as http:
        document = http.get("/openapi.json").json()
    schema = document["components"]["schemas"]["OffboardingRequest"]["properties"]["email"]
    pattern, most = schema["pattern"], schema["maxLength"]
    with svc.client() as http:
        for i, (address, valid) in enumerate(TRICKY):
            by_pattern = len(address) <= most and re.search(pattern, address) is not None
            assert by_pattern is valid, address
            answer = http.post(
                "/v1/offboardings",
                json={"email": address, "request_id": f"probe-{i}", "requested_by": "probe"},
            )
            # Accepted (and queued) exactly when the pattern says the address is valid.
            assert (answer.status_code == 202) is by_pattern, (address, answer.text)

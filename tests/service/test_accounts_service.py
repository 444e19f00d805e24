"""One `serve` process for several accounts (STITCH_ACCOUNTS_FILE), for real: two sandboxes
(two origins, two rosters, one address in both), each account at /accounts/<name> with its own
tokens, queue, SCIM base URL and metrics label; a removal through one never touches the other."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MakeSandbox, settings_for, signed_in
from tests.service.conftest import (
    TEAM,
    WRITE_NAME,
    WRITE_TOKEN,
    _serve_process,
    ok_writes,
    person,
    team_box,
)
from tests.service.test_scim import PATCH_OP

pytestmark = pytest.mark.e2e
EU_TOKEN = "eu-okta-token-0123456789abcdef"
EU_TEAM = [
    person("admin@other.com", "Ola Admin", "Administrator", is_login_user=True),
    person("user1@corp.com", "User 1"),  # also in the first account
    *[person(f"eu{i}@other.com", f"Eu {i}") for i in range(4)],
]


def test_one_process_serves_each_account_apart(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    for name in ("na", "eu"):
        (tmp_path / name).mkdir()
    na = team_box(make_sandbox, tmp_path / "na", TEAM)
    eu = team_box(make_sandbox, tmp_path / "eu", EU_TEAM)
    state = tmp_path / "state"
    body = ""
    for name, box in (("na", na), ("eu", eu)):
        signed_in(box, settings_for(box, state / "accounts" / name))
        password = tmp_path / f"{name}-password"
        password.write_text(box.options.admin_password)
        body += (
            f'[accounts.{name}]\nbase_url = "{box.app_url}"\nemail = "{box.login_email}"\n'
            f'password_file = "{password}"\nwrite_timeout_ms = 4000\n'
        )
    tokens = tmp_path / "eu-tokens"
    tokens.write_text(f"okta:scim:{EU_TOKEN}")
    body += f'service_tokens_file = "{tokens}"\n'  # eu's own tokens; na uses the environment's
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(body)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STITCH_")},
        "STITCH_STATE_DIR": str(state),
        "STITCH_ACCOUNTS_FILE": str(accounts),
        "STITCH_SERVICE_TOKENS": f"{WRITE_NAME}:write:{WRITE_TOKEN}",
    }
    service = _serve_process(tmp_path / "serve.log", state, env, ())
    try:
        url = service.url
        assert httpx.get(f"{url}/healthz").status_code == 200
        na_auth = {"Authorization": f"Bearer {WRITE_TOKEN}"}
        eu_auth = {"Authorization": f"Bearer {EU_TOKEN}"}
        assert httpx.get(f"{url}/accounts/na/v1/members").status_code == 401
        assert httpx.get(f"{url}/accounts/eu/scim/v2/Users", headers=na_auth).status_code == 401
        assert httpx.get(f"{url}/accounts/na/v1/members", headers=eu_auth).status_code == 401

        with httpx.Client(base_url=url, headers=na_auth, timeout=120) as http:
            made = http.post(
                "/accounts/na/v1/offboardings",
                json={"email": "user1@corp.com", "request_id": "hr-1", "requested_by": "hr"},
            )
            assert made.status_code == 202, made.text
            assert made.headers["Location"].startswith("/accounts/na/v1/offboardings/")
            job = _finished(http, made.json()["links"]["self"])
            assert job["outcome"]["status"] == "deactivated"
            metrics = http.get("/accounts/na/metrics").text
        assert 'account="na"' in metrics and 'account="eu"' not in metrics
        assert ok_writes(na) == {"user1@corp.com": 1} and ok_writes(eu) == {}

        with httpx.Client(
            base_url=f"{url}/accounts/eu/scim/v2", headers=eu_auth, timeout=120
        ) as scim:
            found = scim.get("/Users", params={"filter": 'userName eq "user1@corp.com"'}).json()
            (user,) = found["Resources"]
            assert user["active"] is True  # the same address, the other account: untouched
            assert user["meta"]["location"].startswith(f"{url}/accounts/eu/scim/v2/Users/")
            off = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            }
            done = scim.patch(f"/Users/{user['id']}", json=off)
            assert done.status_code == 200 and done.json()["active"] is False
        assert ok_writes(eu) == {"user1@corp.com": 1} and ok_writes(na) == {"user1@corp.com": 1}
        assert (state / "accounts" / "na" / "audit.jsonl").is_file()
        assert (state / "accounts" / "eu" / "audit.jsonl").is_file()
    finally:
        assert service.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM


def _finished(http: httpx.Client, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        job: dict[str, Any] = http.get(path).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)  # polling the job, bounded by the deadline

"""The sandbox's write requests over real HTTP: Deactivate, Cancel and Resend invitation.

Each rule with its status and text (docs/sandbox-dom.md "Write flows"), the write log, faults on
writes (seeded, and never performing the write) and `slow_write_ms`. Real uvicorn servers started
by `running_sandbox`; sign-in goes through both origins like a browser.
"""

from __future__ import annotations

import datetime
import json
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connector.errors import ConfigError
from connector.sandbox.options import SandboxOptions
from connector.sandbox.roster import Member, load_roster_file
from connector.sandbox.server import RunningSandbox, running_sandbox

CID = 116078
API = f"/api/clients/{CID}"
PASSWORD = "sandbox-password"

NOT_ADMIN = "Only Administrators can deactivate team members."
LAST_ADMIN = "An account must have at least one Administrator."
SELF = "You can't deactivate yourself."
NO_SUCH = "This team member no longer exists."
SERVER_ERROR = "Something went wrong. Please try again."


def person(email: str, role: str = "General User", status: str = "active", **extra: Any) -> Any:
    entry: dict[str, Any] = {
        "email": email,
        "name": None if status == "pending" else email.split("@")[0].title(),
        "role": role,
        "status": status,
        "invoice_admin": False,
    }
    entry.update(extra)
    return entry


ROSTER = [
    person("me@example.com", "Administrator", is_login_user=True),
    person("boss@example.com", "Administrator"),
    person("user@example.com", invoice_admin=True),
    person("pending@example.com", status="pending"),
    person("pending-admin@example.com", "Administrator", status="pending"),
    person("gone@example.com", status="deactivated"),
]


def write_roster(directory: Path, roster: list[dict[str, Any]]) -> Path:
    path = directory / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    return path


def ids_by_email(path: Path) -> dict[str, str]:
    members: list[Member] = load_roster_file(path)
    return {member.email: member.id for member in members}


class Session:
    """An httpx client on each origin; `sign_in` leaves the app client with a session cookie."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.app = httpx.Client(base_url=sandbox.app_url, timeout=10)
        self.login = httpx.Client(base_url=sandbox.login_url, timeout=10)

    def close(self) -> None:
        self.app.close()
        self.login.close()

    def sign_in(self) -> None:
        email = self.sandbox.login_email
        if self.sandbox.options.variant == "legacy":
            answer = self.app.post("/session/create", data={"email": email, "password": PASSWORD})
            assert answer.status_code == 303, answer.text
            return
        step1 = self.app.post("/session/create", data={"email": email})
        state = parse_qs(urlsplit(step1.headers["location"]).query)["state"][0]
        step2 = self.login.post("/login", data={"state": state, "password": PASSWORD})
        callback = self.app.get(step2.headers["location"])
        assert callback.status_code == 303 and "stitch_session=" in callback.headers["set-cookie"]

    def deactivate(self, member_id: str) -> httpx.Response:
        return self.app.post(f"{API}/members/{member_id}/deactivate")

    def cancel(self, member_id: str) -> httpx.Response:
        return self.app.post(f"{API}/invitations/{member_id}/cancel")

    def resend(self, member_id: str) -> httpx.Response:
        return self.app.post(f"{API}/invitations/{member_id}/resend")

    def listed(self) -> dict[str, Any]:
        answer = self.app.get(f"{API}/members")
        assert answer.status_code == 200
        data: dict[str, Any] = answer.json()
        return data


def status_of(sandbox: RunningSandbox, email: str) -> str | None:
    members: list[dict[str, Any]] = sandbox.state()["members"]  # type: ignore[assignment]
    return next((m["status"] for m in members if m["email"] == email), None)


def writes_of(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = sandbox.state()["writes"]  # type: ignore[assignment]
    return writes


def brief(writes: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    return [(w["action"], w["email"], w["status"], w["outcome"]) for w in writes]


def error(status: int, message: str) -> tuple[int, dict[str, str]]:
    codes = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
    return status, {"code": codes[status], "message": message}


def answer_of(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.fixture(scope="module")
def roster_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_roster(tmp_path_factory.mktemp("writes"), ROSTER)


@pytest.fixture(scope="module")
def ids(roster_path: Path) -> dict[str, str]:
    return ids_by_email(roster_path)


@pytest.fixture(scope="module")
def box(roster_path: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxOptions(members_file=roster_path, latency_ms=0)) as running:
        yield running


@pytest.fixture
def admin(box: RunningSandbox) -> Iterator[Session]:
    box.reset()
    session = Session(box)
    session.sign_in()
    yield session
    session.close()


# ---------------------------------------------------------------- options


def test_write_options_defaults_and_validation() -> None:
    options = SandboxOptions()
    assert (options.confirm_dialog, options.keep_deactivated, options.drop_banner) == (
        True,
        False,
        False,
    )
    assert options.slow_write_ms == 0
    for bad in (-1, 60_001):
        with pytest.raises(ConfigError, match="slow_write_ms"):
            SandboxOptions(slow_write_ms=bad)


# ---------------------------------------------------------------- deactivate


def test_deactivate_removes_the_member_from_the_list_and_logs_the_write(
    admin: Session, ids: dict[str, str]
) -> None:
    before = admin.listed()
    assert before["total"] == 5  # gone@ is deactivated from the start: neither listed nor counted
    answer = admin.deactivate(ids["user@example.com"])
    assert answer_of(answer) == (200, {"ok": True})
    after = admin.listed()
    assert after["total"] == 4
    assert "user@example.com" not in [m["email"] for m in after["members"]]
    assert status_of(admin.sandbox, "user@example.com") == "deactivated"  # kept in the state

    writes = writes_of(admin.sandbox)
    assert brief(writes) == [("deactivate", "user@example.com", 200, "ok")]
    assert set(writes[0]) == {"at", "action", "email", "status", "outcome"}
    at = datetime.datetime.fromisoformat(writes[0]["at"])
    assert at.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.UTC) - at).total_seconds()) < 60
    over_http = admin.app.get("/__sandbox__/state").json()
    assert over_http == admin.sandbox.state()


def test_deactivate_refusals_each_with_its_status_and_text(
    admin: Session, ids: dict[str, str]
) -> None:
    sandbox = admin.sandbox
    # Unknown id, a member already deactivated, a pending invitation: no such team member.
    assert answer_of(admin.deactivate("m-00000000")) == error(404, NO_SUCH)
    assert answer_of(admin.deactivate(ids["gone@example.com"])) == error(404, NO_SUCH)
    assert answer_of(admin.deactivate(ids["pending@example.com"])) == error(404, NO_SUCH)
    # Self, while another Administrator exists.
    assert answer_of(admin.deactivate(ids["me@example.com"])) == error(400, SELF)
    # The other Administrator may go; then the viewer is the last one: 409 before 400.
    assert admin.deactivate(ids["boss@example.com"]).status_code == 200
    assert answer_of(admin.deactivate(ids["me@example.com"])) == error(409, LAST_ADMIN)
    # A second click on an already deactivated row.
    assert answer_of(admin.deactivate(ids["boss@example.com"])) == error(404, NO_SUCH)

    assert status_of(sandbox, "me@example.com") == "active"
    assert brief(writes_of(sandbox)) == [
        ("deactivate", "", 404, "refused"),  # unknown id: no email to log
        ("deactivate", "gone@example.com", 404, "refused"),
        ("deactivate", "pending@example.com", 404, "refused"),
        ("deactivate", "me@example.com", 400, "refused"),
        ("deactivate", "boss@example.com", 200, "ok"),
        ("deactivate", "me@example.com", 409, "refused"),
        ("deactivate", "boss@example.com", 404, "refused"),
    ]


def test_signed_out_wrong_account_and_wrong_method(
    box: RunningSandbox, ids: dict[str, str]
) -> None:
    box.reset()
    anonymous = Session(box)
    target = ids["user@example.com"]
    unauthorized = anonymous.deactivate(target)
    assert answer_of(unauthorized) == (401, {"code": "Unauthorized"})
    assert anonymous.cancel(ids["pending@example.com"]).status_code == 401
    anonymous.sign_in()
    other = anonymous.app.post(f"/api/clients/{CID + 1}/members/{target}/deactivate")
    assert answer_of(other) == error(404, NO_SUCH)
    # A GET is not a write: the catch-all 404 page answers and nothing is logged.
    assert anonymous.app.get(f"{API}/members/{target}/deactivate").status_code == 404
    anonymous.close()
    assert status_of(box, "user@example.com") == "active"
    assert brief(writes_of(box)) == [
        ("deactivate", "user@example.com", 401, "refused"),
        ("cancel_invitation", "pending@example.com", 401, "refused"),
        ("deactivate", "user@example.com", 404, "refused"),
    ]


def test_general_users_are_refused_every_write(tmp_path: Path) -> None:
    roster = [
        person("boss@example.com", "Administrator"),
        person("me@example.com", is_login_user=True),
        person("user@example.com"),
        person("pending@example.com", status="pending"),
    ]
    path = write_roster(tmp_path, roster)
    ids = ids_by_email(path)
    with running_sandbox(SandboxOptions(members_file=path, latency_ms=0)) as sandbox:
        session = Session(sandbox)
        session.sign_in()
        assert session.listed()["viewer"] == {"email": "me@example.com", "is_admin": False}
        assert answer_of(session.deactivate(ids["user@example.com"])) == error(403, NOT_ADMIN)
        # The role check comes first: even self and unknown ids answer 403.
        assert answer_of(session.deactivate(ids["me@example.com"])) == error(403, NOT_ADMIN)
        assert answer_of(session.deactivate("m-00000000")) == error(403, NOT_ADMIN)
        assert answer_of(session.cancel(ids["pending@example.com"])) == error(403, NOT_ADMIN)
        assert answer_of(session.resend(ids["pending@example.com"])) == error(403, NOT_ADMIN)
        session.close()
        assert [m["status"] for m in sandbox.state()["members"]] == [  # type: ignore[union-attr]
            "active",
            "active",
            "active",
            "pending",
        ]
        assert [(w["status"], w["outcome"]) for w in writes_of(sandbox)] == [(403, "refused")] * 5


# ---------------------------------------------------------------- invitations


def test_cancel_invitation_removes_it_from_members_but_not_from_the_log(
    admin: Session, ids: dict[str, str]
) -> None:
    pending = ids["pending@example.com"]
    assert answer_of(admin.cancel(pending)) == (200, {"ok": True})
    assert status_of(admin.sandbox, "pending@example.com") is None  # gone from the state
    assert "pending@example.com" not in [m["email"] for m in admin.listed()["members"]]
    assert answer_of(admin.cancel(pending)) == error(404, NO_SUCH)  # already cancelled
    assert answer_of(admin.cancel(ids["user@example.com"])) == error(404, NO_SUCH)  # not pending
    assert answer_of(admin.cancel(ids["gone@example.com"])) == error(404, NO_SUCH)
    assert brief(writes_of(admin.sandbox)) == [
        ("cancel_invitation", "pending@example.com", 200, "ok"),
        ("cancel_invitation", "", 404, "refused"),  # the id no longer names anyone
        ("cancel_invitation", "user@example.com", 404, "refused"),
        ("cancel_invitation", "gone@example.com", 404, "refused"),
    ]


def test_resend_invitation_changes_nothing_visible(admin: Session, ids: dict[str, str]) -> None:
    before = admin.sandbox.state()["members"]
    assert answer_of(admin.resend(ids["pending-admin@example.com"])) == (200, {"ok": True})
    assert answer_of(admin.resend(ids["pending-admin@example.com"])) == (200, {"ok": True})
    assert answer_of(admin.resend(ids["user@example.com"])) == error(404, NO_SUCH)
    assert admin.sandbox.state()["members"] == before
    assert brief(writes_of(admin.sandbox)) == [
        ("resend_invitation", "pending-admin@example.com", 200, "ok"),
        ("resend_invitation", "pending-admin@example.com", 200, "ok"),
        ("resend_invitation", "user@example.com", 404, "refused"),
    ]


def test_reset_clears_the_write_log_and_restores_members(
    admin: Session, ids: dict[str, str]
) -> None:
    start = admin.sandbox.state()
    assert start["writes"] == []
    admin.deactivate(ids["user@example.com"])
    admin.cancel(ids["pending@example.com"])
    assert len(writes_of(admin.sandbox)) == 2
    assert admin.app.post("/__sandbox__/reset").json() == {"ok": True}
    assert admin.sandbox.state() == start


# ---------------------------------------------------------------- keep_deactivated


def test_keep_deactivated_lists_and_counts_deactivated_members(
    roster_path: Path, ids: dict[str, str]
) -> None:
    options = SandboxOptions(members_file=roster_path, latency_ms=0, keep_deactivated=True)
    with running_sandbox(options) as sandbox:
        session = Session(sandbox)
        session.sign_in()
        before = session.listed()
        assert before["total"] == 6  # the roster's deactivated member is listed and counted
        assert session.deactivate(ids["user@example.com"]).status_code == 200
        after = session.listed()
        assert after["total"] == 6
        statuses = {m["email"]: m["status"] for m in after["members"]}
        assert statuses["user@example.com"] == "deactivated"
        assert statuses["gone@example.com"] == "deactivated"
        # Rows stay in place: the order does not change.
        assert [m["email"] for m in after["members"]] == [m["email"] for m in before["members"]]
        # A cancelled invitation still disappears.
        assert session.cancel(ids["pending@example.com"]).status_code == 200
        assert session.listed()["total"] == 5
        session.close()


# ---------------------------------------------------------------- faults and latency


def draws(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def test_write_faults_are_reproducible_and_never_perform_the_write(
    roster_path: Path, ids: dict[str, str]
) -> None:
    seed, rate = 2024, 0.5
    # One RNG for reads and writes: alternate them, 20 requests, one draw each.
    expected = [500 if draw < rate else 200 for draw in draws(seed, 20)]
    options = SandboxOptions(members_file=roster_path, latency_ms=0, fault_rate=rate, seed=seed)
    with running_sandbox(options) as sandbox:
        session = Session(sandbox)

        def run() -> list[int]:
            session.sign_in()
            statuses: list[int] = []
            for index in range(20):
                if index % 2:
                    statuses.append(session.resend(ids["pending@example.com"]).status_code)
                else:
                    statuses.append(session.app.get(f"{API}/members").status_code)
            return statuses

        first = run()
        faulted = [w for w in writes_of(sandbox) if w["outcome"] == "fault"]
        assert faulted and {(w["status"], w["action"]) for w in faulted} == {
            (500, "resend_invitation")
        }
        assert len(writes_of(sandbox)) == 10
        sandbox.reset()
        second = run()
        session.close()
    assert first == expected == second
    assert 0 < first.count(500) < 20


def test_a_faulted_deactivation_changes_nothing(roster_path: Path, ids: dict[str, str]) -> None:
    options = SandboxOptions(members_file=roster_path, latency_ms=0, fault_rate=1.0)
    with running_sandbox(options) as sandbox:
        session = Session(sandbox)
        session.sign_in()
        before = sandbox.state()["members"]
        answer = session.deactivate(ids["user@example.com"])
        assert answer_of(answer) == (
            500,
            {"code": "InternalServerError", "message": SERVER_ERROR},
        )
        assert session.cancel(ids["pending@example.com"]).status_code == 500
        assert sandbox.state()["members"] == before
        assert brief(writes_of(sandbox)) == [
            ("deactivate", "user@example.com", 500, "fault"),
            ("cancel_invitation", "pending@example.com", 500, "fault"),
        ]
        session.close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_slow_write_performs_the_write_before_answering(
    roster_path: Path, ids: dict[str, str]
) -> None:
    options = SandboxOptions(members_file=roster_path, latency_ms=0, slow_write_ms=1500)
    with running_sandbox(options) as sandbox:
        session = Session(sandbox)
        session.sign_in()
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            pending = pool.submit(session.deactivate, ids["user@example.com"])
            # The state changes (and the write is logged) while the answer is still on its way.
            wait_until(lambda: status_of(sandbox, "user@example.com") == "deactivated")
            assert not pending.done()
            assert brief(writes_of(sandbox)) == [("deactivate", "user@example.com", 200, "ok")]
            answer = pending.result(timeout=10)
            elapsed = time.monotonic() - started
        assert answer_of(answer) == (200, {"ok": True})
        assert elapsed >= 1.5
        # Refusals take as long: the client cannot tell them apart by timing.
        started = time.monotonic()
        assert session.deactivate(ids["user@example.com"]).status_code == 404
        assert time.monotonic() - started >= 1.5
        session.close()

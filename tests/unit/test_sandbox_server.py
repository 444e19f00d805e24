"""The sandbox over real HTTP: two-origin sign-in, sessions, member data, faults, control.

Each test talks to real uvicorn servers started by `running_sandbox`, with one httpx client per
origin, following redirects by hand so every hop is checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pyotp
import pytest
import uvicorn
from starlette.applications import Starlette

from connector.listen import bind
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, _ServingThread, running_sandbox
from connector.sandbox.state import totp

CID = 116078
MEMBERS_PAGE = f"/client/{CID}/pipeline/v2/settings/members"
DASHBOARD = f"/client/{CID}/pipeline/v2/sources"
API = f"/api/clients/{CID}/members"
ADMIN = "admin@example.com"
PASSWORD = "sandbox-password"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the default: 160 bits
SHORT_SECRET = "JBSWY3DPEHPK3PXP"  # 80 bits: plain pyotp refuses it, the sandbox does not


class Browser:
    """One httpx client per origin, like a browser's cookie jar split by host."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.app = httpx.Client(base_url=sandbox.app_url, timeout=10)
        self.login = httpx.Client(base_url=sandbox.login_url, timeout=10)

    def close(self) -> None:
        self.app.close()
        self.login.close()

    def submit_email(self, email: str, redirect: str = "") -> httpx.Response:
        return self.app.post("/session/create", data={"email": email, "redirect": redirect})

    def to_password_step(self, email: str = ADMIN, redirect: str = "") -> str:
        """Step 1; returns the opaque state the login origin carries."""
        answer = self.submit_email(email, redirect)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith(f"{self.sandbox.login_url}/login?state=")
        page = self.login.get(location)
        assert page.status_code == 200
        assert 'id="password" class="input input--password"' in page.text
        return parse_qs(urlsplit(location).query)["state"][0]

    def password(self, state: str, password: str) -> httpx.Response:
        return self.login.post("/login", data={"state": state, "password": password})

    def follow_callback(self, answer: httpx.Response) -> httpx.Response:
        """From the login origin's 303 to the app's callback; returns the callback's answer."""
        assert answer.status_code == 303, answer.text
        location = answer.headers["location"]
        assert location.startswith(f"{self.sandbox.app_url}/session/callback?code=")
        return self.app.get(location)

    def sign_in(self, email: str = ADMIN, redirect: str = "") -> httpx.Response:
        state = self.to_password_step(email, redirect)
        callback = self.follow_callback(self.password(state, PASSWORD))
        assert callback.status_code == 303
        return callback


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxOptions(members=120, latency_ms=0)) as running:
        yield running


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[Browser]:
    sandbox.reset()
    browser = Browser(sandbox)
    yield browser
    browser.close()


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field"
    return found.group(1)


# ---------------------------------------------------------------- origins and sign-in


def test_two_distinct_origins(sandbox: RunningSandbox) -> None:
    assert sandbox.login_email == ADMIN
    app, login = urlsplit(sandbox.app_url), urlsplit(sandbox.login_url)
    assert app.hostname == "127.0.0.1" and login.hostname == "localhost"
    assert app.port and login.port and app.port != login.port
    assert not sandbox.app_url.endswith("/") and not sandbox.login_url.endswith("/")


def test_two_origin_sign_in_lands_on_the_requested_page(client: Browser) -> None:
    target = MEMBERS_PAGE + "?page=2"
    first = client.app.get(target)
    assert first.status_code in (302, 303)
    assert first.headers["location"] == "/session/create?redirect=" + quote(target, safe="")

    form = client.app.get(first.headers["location"])
    assert form.status_code == 200
    assert (
        'id="st-v2-login-email"' in form.text
        and 'id="-st-t-stitch-login-submit-button"' in form.text
    )
    assert hidden(form.text, "redirect") == target

    state = client.to_password_step(ADMIN, target)
    callback = client.follow_callback(client.password(state, PASSWORD))
    assert callback.status_code == 303
    assert callback.headers["location"] == target
    cookie = callback.headers["set-cookie"]
    assert cookie.startswith("stitch_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()

    page = client.app.get(target)
    assert page.status_code == 200
    assert f'<meta name="st-client-id" content="{CID}">' in page.text
    assert 'id="st-t-members-page"' in page.text and 'class="st-spinner"' in page.text


def test_the_one_time_code_works_once(client: Browser) -> None:
    state = client.to_password_step()
    location = client.password(state, PASSWORD).headers["location"]
    assert client.app.get(location).status_code == 303
    fresh = httpx.Client(base_url=client.sandbox.app_url)
    replay = fresh.get(location)
    assert replay.headers["location"] == "/session/create"
    assert "set-cookie" not in replay.headers
    fresh.close()


def test_default_redirect_is_the_dashboard_and_root_follows_the_session(client: Browser) -> None:
    assert client.app.get("/").headers["location"] == "/session/create"
    assert client.sign_in().headers["location"] == DASHBOARD
    assert client.app.get("/").headers["location"] == DASHBOARD


def test_foreign_redirects_are_ignored(client: Browser) -> None:
    assert client.sign_in(redirect="//evil.example/x").headers["location"] == DASHBOARD


@pytest.mark.parametrize(
    ("email", "message"),
    [("", "Email is required"), ("   ", "Email is required"), ("nope", "Please enter a valid")],
)
def test_bad_emails_stay_on_step_one(client: Browser, email: str, message: str) -> None:
    answer = client.submit_email(email, MEMBERS_PAGE)
    assert answer.status_code == 200
    assert '<p id="st-t-login-error" class="st-form-error" role="alert">' + message in answer.text
    assert hidden(answer.text, "redirect") == MEMBERS_PAGE


def test_wrong_password_then_lockout_refuses_even_the_right_one(client: Browser) -> None:
    state = client.to_password_step()
    for _ in range(5):
        answer = client.password(state, "wrong")
        assert answer.status_code == 200
        assert '<p class="error-message" role="alert">Invalid email or password</p>' in answer.text
        assert hidden(answer.text, "state") == state
    # The fifth failure locked the account: now even the right password is refused.
    locked = "Your account has been temporarily locked. Try again in 15 minutes."
    right = client.password(state, PASSWORD)
    assert right.status_code == 200 and locked in right.text
    # A fresh sign-in is locked too; reset() lifts it.
    assert locked in client.password(client.to_password_step(), PASSWORD).text
    client.sandbox.reset()
    client.sign_in()


def test_unknown_emails_reach_step_two_and_fail_there(client: Browser) -> None:
    state = client.to_password_step("nobody@example.com")
    answer = client.password(state, PASSWORD)
    assert answer.status_code == 200 and "Invalid email or password" in answer.text


def test_expired_or_forged_state_starts_again(client: Browser) -> None:
    page = client.login.get("/login", params={"state": "forged"})
    assert page.status_code == 400 and client.sandbox.app_url + "/session/create" in page.text
    assert client.password("forged", PASSWORD).status_code == 400


def test_sign_out_ends_the_session(client: Browser) -> None:
    client.sign_in()
    assert client.app.get(DASHBOARD).status_code == 200
    assert client.app.get("/session/destroy").headers["location"] == "/session/create"
    assert client.app.get(DASHBOARD).status_code in (302, 303)


def test_pages_and_404s(client: Browser) -> None:
    other = f"/client/{CID + 1}/pipeline/v2/sources"
    assert client.app.get(other).headers["location"].startswith("/session/create?redirect=")
    client.sign_in()
    for path in (
        DASHBOARD,
        f"/client/{CID}/pipeline/v2/billing",
        f"/client/{CID}/pipeline/v2/settings/account",
        f"/client/{CID}/pipeline/v2/settings/profile",
        f"/client/{CID}/pipeline/v2/settings/notifications",
    ):
        page = client.app.get(path)
        assert page.status_code == 200, path
        assert 'aria-label="User menu"' in page.text and "Edit User Settings" in page.text
        account = f'<span class="st-user-menu__account">Stitch - Doc Testing · Account {CID}</span>'
        assert account in page.text
    assert client.app.get(other).status_code == 404
    assert client.app.get(f"/v2/client/{CID}/pipeline/connections").status_code == 404
    assert client.app.get("/forgot").status_code == 200
    assert client.app.get("/signup").status_code == 200


# ---------------------------------------------------------------- sessions


def test_an_expired_session_sends_pages_to_sign_in_and_data_to_401() -> None:
    # A TTL of a microsecond has run out by the next request: expiry without sleeping.
    with running_sandbox(SandboxOptions(session_ttl=1e-6, latency_ms=0)) as sandbox:
        browser = Browser(sandbox)
        landing = browser.sign_in(redirect=MEMBERS_PAGE + "?page=1").headers["location"]
        again = browser.app.get(landing)
        assert again.status_code in (302, 303)
        assert again.headers["location"] == "/session/create?redirect=" + quote(landing, safe="")
        data = browser.app.get(API, params={"page": 1})
        assert data.status_code == 401 and data.json() == {"code": "Unauthorized"}
        browser.close()


def test_expire_sessions_endpoint_and_method(client: Browser) -> None:
    client.sign_in()
    assert client.app.get(API).status_code == 200
    assert client.app.post("/__sandbox__/expire-sessions").status_code == 200
    assert client.app.get(API).status_code == 401
    client.sign_in()
    client.sandbox.expire_sessions()
    assert client.app.get(DASHBOARD).status_code in (302, 303)


# ---------------------------------------------------------------- member data


def test_member_json_pages_through_the_visible_roster(client: Browser) -> None:
    assert client.app.get(API).status_code == 401
    client.sign_in()
    pages = [client.app.get(API, params={"page": n}).json() for n in (1, 2, 3)]
    assert [len(p["members"]) for p in pages] == [50, 50, 20]
    assert {(p["page_count"], p["total"], p["page_size"]) for p in pages} == {(3, 120, 50)}
    emails = [m["email"] for p in pages for m in p["members"]]
    state_members = client.app.get("/__sandbox__/state").json()["members"]
    state_emails = [m["email"] for m in state_members]
    assert emails == state_emails
    viewer_rows = [m for p in pages for m in p["members"] if m["is_viewer"]]
    assert [m["email"] for m in viewer_rows] == [ADMIN]
    assert pages[0]["viewer"] == {"email": ADMIN, "is_admin": True}

    beyond = client.app.get(API, params={"page": 99}).json()
    assert beyond["page"] == 3 and beyond["members"] == pages[2]["members"]
    for bad in ("0", "abc", "-1"):
        assert client.app.get(API, params={"page": bad}).status_code == 400
    assert client.app.get(f"/api/clients/{CID + 1}/members").status_code == 404


def test_member_json_waits_for_the_latency() -> None:
    with running_sandbox(SandboxOptions(latency_ms=200)) as sandbox:
        started = time.monotonic()
        answer = httpx.get(f"{sandbox.app_url}{API}")
        assert answer.status_code == 401
        assert time.monotonic() - started >= 0.2


def test_fault_rate_is_reproducible() -> None:
    seed = 4242
    expected = [500 if draw < 0.5 else 200 for draw in _draws(seed, 16)]
    with running_sandbox(SandboxOptions(fault_rate=0.5, seed=seed, latency_ms=0)) as sandbox:
        browser = Browser(sandbox)
        browser.sign_in()
        first = [browser.app.get(API).status_code for _ in range(16)]
        sandbox.reset()
        browser.sign_in()
        second = [browser.app.get(API).status_code for _ in range(16)]
        failed = browser.app.get(API)
        browser.close()
    assert first == expected == second
    assert 0 < first.count(500) < 16
    assert failed.status_code in (200, 500)


def _draws(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def test_every_request_fails_at_rate_one() -> None:
    with running_sandbox(SandboxOptions(fault_rate=1.0, latency_ms=0)) as sandbox:
        browser = Browser(sandbox)
        browser.sign_in()
        answers = [browser.app.get(API) for _ in range(3)]
        browser.close()
    assert [a.status_code for a in answers] == [500, 500, 500]
    assert answers[0].json()["code"] == "InternalServerError"


# ---------------------------------------------------------------- control endpoints


def test_state_endpoint_matches_the_method_and_reset_restores(client: Browser) -> None:
    over_http = client.app.get("/__sandbox__/state").json()
    assert over_http == client.sandbox.state()
    assert over_http["account"] == {"client_id": CID, "company_name": "Stitch - Doc Testing"}
    members = over_http["members"]
    assert len(members) == 120
    assert set(members[0]) == {"email", "name", "role", "status", "invoice_admin", "is_login_user"}
    assert sum(m["is_login_user"] for m in members) == 1

    client.sign_in()
    assert client.app.post("/__sandbox__/reset").json() == {"ok": True}
    assert client.app.get(API).status_code == 401  # reset ends sessions
    assert client.app.get("/__sandbox__/state").json() == over_http


# ---------------------------------------------------------------- TOTP and SSO


@pytest.mark.parametrize("secret", [SECRET, SHORT_SECRET])
def test_totp_step_rejects_a_wrong_code_and_accepts_the_right_one(secret: str) -> None:
    # An 80-bit secret needs the sandbox's lenient generator; pyotp >= 2.10 refuses it.
    generator = totp(secret) if secret == SHORT_SECRET else pyotp.TOTP(secret)
    with running_sandbox(SandboxOptions(mfa="totp", totp_secret=secret, latency_ms=0)) as sandbox:
        browser = Browser(sandbox)
        state = browser.to_password_step()
        answer = browser.password(state, PASSWORD)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login/mfa?state={state}"
        prompt = browser.login.get(answer.headers["location"])
        assert 'autocomplete="one-time-code"' in prompt.text
        wrong_code = f"{(int(generator.now()) + 500_000) % 1_000_000:06d}"
        wrong = browser.login.post("/login/mfa", data={"state": state, "code": wrong_code})
        assert wrong.status_code == 200
        assert '<p class="error-message" role="alert">Invalid code</p>' in wrong.text
        right = browser.login.post("/login/mfa", data={"state": state, "code": generator.now()})
        callback = browser.follow_callback(right)
        assert callback.headers["location"] == DASHBOARD
        assert browser.app.get(DASHBOARD).status_code == 200
        browser.close()


def test_sso_sends_non_administrators_to_the_identity_provider(tmp_path: Path) -> None:
    roster = [
        {"email": "me@example.com", "name": "Me", "role": "Administrator", "status": "active",
         "invoice_admin": False, "is_login_user": True},
        {"email": "boss@example.com", "name": "Boss", "role": "Administrator", "status": "active",
         "invoice_admin": False},
        {"email": "user@example.com", "name": "User", "role": "General User", "status": "active",
         "invoice_admin": True},
    ]  # fmt: skip
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with running_sandbox(SandboxOptions(sso=True, members_file=path, latency_ms=0)) as sandbox:
        assert sandbox.login_email == "me@example.com"  # the file's login user, not admin_email
        browser = Browser(sandbox)
        answer = browser.submit_email("USER@example.com")
        assert answer.status_code == 303
        sso_path = answer.headers["location"]
        assert sso_path.startswith("/sso/stitch-")
        page = browser.app.get(sso_path)
        assert page.status_code == 200
        assert (
            f'id="st-t-sso-redirect" data-connection="{sso_path.removeprefix("/sso/")}"'
            in page.text
        )
        # Administrators keep the password step; unknown emails get it too (no enumeration).
        browser.to_password_step("boss@example.com")
        browser.to_password_step("stranger@example.com")
        browser.sign_in("me@example.com")
        assert browser.app.get(DASHBOARD).status_code == 200
        browser.close()


# ---------------------------------------------------------------- legacy variant


def test_legacy_one_form_sign_in_with_totp_on_the_app_origin() -> None:
    options = SandboxOptions(variant="legacy", mfa="totp", latency_ms=0)
    with running_sandbox(options) as sandbox:
        app = httpx.Client(base_url=sandbox.app_url)
        team_page = f"/v2/client/{CID}/settings/account"
        redirect = app.get(team_page).headers["location"]
        form = app.get(redirect)
        assert 'name="loginForm"' in form.text and 'submit-button="view.login()"' in form.text
        bad = app.post(
            "/session/create", data={"email": ADMIN, "password": "x", "redirect": team_page}
        )
        assert bad.status_code == 200
        assert '<p class="st-form-error" role="alert">Invalid email or password</p>' in bad.text
        good = app.post(
            "/session/create", data={"email": ADMIN, "password": PASSWORD, "redirect": team_page}
        )
        assert good.status_code == 303 and good.headers["location"].startswith(
            "/session/mfa?state="
        )
        state = parse_qs(urlsplit(good.headers["location"]).query)["state"][0]
        assert 'action="/session/mfa"' in app.get(good.headers["location"]).text
        done = app.post("/session/mfa", data={"state": state, "code": pyotp.TOTP(SECRET).now()})
        assert done.status_code == 303 and done.headers["location"] == team_page
        page = app.get(team_page)
        assert page.status_code == 200
        assert (
            'id="st-t-team-members-section"' in page.text and "Manage Account Settings" in page.text
        )
        assert 'class="st-user-dropdown" role="button" aria-label="User menu"' in page.text
        assert app.get(f"/v2/client/{CID}/pipeline/connections").status_code == 200
        assert app.get(MEMBERS_PAGE).status_code == 404
        app.close()


# ---------------------------------------------------------------- hostile names

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "Robert'); DROP TABLE members;--",
    "Zoë 🦄 & <b>bold</b>",
    "x" * 200,
    "\u202eevil\u2028line",
]


def test_hostile_names_are_escaped_everywhere(tmp_path: Path) -> None:
    roster: list[dict[str, Any]] = [
        {"email": "me@example.com", "name": HOSTILE[0], "role": "Administrator", "status": "active",
         "invoice_admin": False, "is_login_user": True},
    ]  # fmt: skip
    roster += [
        {"email": f"u{i}@example.com", "name": name, "role": "General User", "status": "active",
         "invoice_admin": i == 1}
        for i, name in enumerate(HOSTILE[1:], start=1)
    ]  # fmt: skip
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    for variant in ("current", "legacy"):
        options = SandboxOptions(variant=variant, members_file=path, latency_ms=0)
        with running_sandbox(options) as sandbox:
            browser = Browser(sandbox)
            app = browser.app
            if variant == "legacy":
                app.post("/session/create", data={"email": "me@example.com", "password": PASSWORD})
                prefix = f"/v2/client/{CID}"
                pages = [f"{prefix}/pipeline/connections", f"{prefix}/settings/account",
                         f"{prefix}/settings/profile", f"{prefix}/settings/billing"]  # fmt: skip
            else:
                browser.sign_in("me@example.com")
                base = f"/client/{CID}/pipeline/v2"
                pages = [f"{base}/sources", f"{base}/settings/{{}}", f"{base}/billing"]
                pages = [p.format(tab) for p in pages for tab in
                         ("account", "members", "profile", "notifications")]  # fmt: skip
            for page in pages:
                answer = app.get(page)
                assert answer.status_code == 200, page
                for raw in ("<script>alert", "<img src=x", "<b>bold"):
                    assert raw not in answer.text, (page, raw)
            data = app.get(API)
            assert data.status_code == 200
            body = data.text
            assert "<" not in body and ">" not in body and "&" not in body  # JSON-escaped too
            assert "\u2028" not in body
            names = {m["name"] for m in data.json()["members"]}
            assert names == set(HOSTILE)
            browser.close()


def test_a_sandbox_whose_servers_already_ended_stops_quietly() -> None:
    """stop() cancels the serving task on its loop; when the servers ended on their own, that
    loop is closed, and the stop must still close the sockets instead of raising."""
    sock = bind("127.0.0.1", 0, "test server")
    server = uvicorn.Server(uvicorn.Config(Starlette(), log_level="warning", lifespan="off"))
    serving = _ServingThread([(server, sock)])
    serving.start()
    server.should_exit = True  # it ends by itself, and asyncio.run closes its loop
    deadline = time.monotonic() + 10
    while serving._thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling the thread above, bounded by the deadline
    serving.stop()
    assert sock.fileno() == -1  # closed


def test_only_the_sandboxs_own_cancelled_requests_leave_the_log() -> None:
    """The stop's cancelled requests print no traceback; any other thread's (a service served
    in the same process) still do, and so does any other error of the sandbox."""
    logger = logging.getLogger("uvicorn.error")

    def kept(exc: BaseException, thread: str) -> bool:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application",
            (),
            (type(exc), exc, None),
        )
        record.threadName = thread
        return bool(logger.filter(record))

    assert not kept(asyncio.CancelledError(), "stitch-sandbox")
    assert kept(asyncio.CancelledError(), "MainThread")
    assert kept(RuntimeError("a real error"), "stitch-sandbox")

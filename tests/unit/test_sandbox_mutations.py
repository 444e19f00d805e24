"""The drift corpus without a browser: the registry, option checks, the runtime switch, the
server-side sign-in pieces, byte-identical pages when nothing is active, and the CLI listing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from connector.cli.app import app as cli_app
from connector.errors import ConfigError
from connector.sandbox.mutations import MUTATIONS, Mutation, check_names
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from connector.sandbox.web import hashed_id

ADMIN = "admin@example.com"
PASSWORD = "sandbox-password"
STATIC = Path(__file__).parents[2] / "connector" / "sandbox" / "static"
SERVER_SIDE = {"signin-stay-signed-in", "signin-ids-renamed", "signin-button-relabelled"}


# ---------------------------------------------------------------- the registry


def test_registry_is_large_labelled_and_spread() -> None:
    assert len(MUTATIONS) >= 34
    labels = [m.expect for m in MUTATIONS.values()]
    assert labels.count("exact") >= 12 and labels.count("loud") >= 12
    for name, m in MUTATIONS.items():
        assert isinstance(m, Mutation) and m.name == name
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", name), name
        assert name.startswith(f"{m.area}-"), name
        assert m.what and "\n" not in m.what
    list_variants = {m.variant for m in MUTATIONS.values() if m.area == "list"}
    assert list_variants == {"current", "rbac2022", "legacy"}
    assert {m.area for m in MUTATIONS.values()} == {"list", "signin", "app", "dialog"}


def test_the_named_interruptions_exist_with_their_labels() -> None:
    for name, area in [
        ("signin-cookie-consent", "signin"),
        ("signin-stay-signed-in", "signin"),
        ("app-whats-new", "app"),
        ("signin-ids-renamed", "signin"),
        ("signin-button-relabelled", "signin"),
    ]:
        assert MUTATIONS[name].area == area and MUTATIONS[name].expect == "exact"


def test_every_mutation_has_an_implementation() -> None:
    js = (STATIC / "mutations.js").read_text(encoding="utf-8")
    for name in MUTATIONS:
        assert (f'BUILTIN["{name}"]' in js) != (name in SERVER_SIDE), name


def test_mutation_is_frozen() -> None:
    with pytest.raises(Exception):  # noqa: B017 (pydantic's frozen error)
        MUTATIONS["list-aria-grid"].expect = "loud"  # type: ignore[misc]


def test_check_names() -> None:
    assert check_names([]) == ()
    assert check_names(["list-aria-grid", "app-whats-new", "list-aria-grid"]) == (
        "list-aria-grid",
        "app-whats-new",
    )
    with pytest.raises(ConfigError) as caught:
        check_names(["list-aria-grid", "list-nope"])
    message = str(caught.value)
    assert "'list-nope'" in message and "list-aria-grid" in message and "app-whats-new" in message


def test_options_validate_mutations_and_script(tmp_path: Path) -> None:
    assert SandboxOptions().mutations == ()
    assert SandboxOptions(mutations=("list-ul-rows",)).mutations == ("list-ul-rows",)
    with pytest.raises(ConfigError, match="sandbox option mutations: unknown sandbox mutation"):
        SandboxOptions(mutations=("list-ul-rowz",))
    with pytest.raises(ConfigError, match="mutation_script"):
        SandboxOptions(mutation_script=tmp_path / "missing.js")
    script = tmp_path / "mine.js"
    script.write_text("/* nothing */", encoding="utf-8")
    assert SandboxOptions(mutation_script=script).mutation_script == script


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def box() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxOptions(latency_ms=0)) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_mutations(box: RunningSandbox) -> Iterator[None]:
    box.set_mutations([])
    yield
    box.set_mutations([])


def normalise(html: str) -> str:
    return re.sub(r'name="state" value="[^"]+"', 'name="state" value="-"', html)


def test_control_endpoint_replaces_the_set(box: RunningSandbox) -> None:
    with httpx.Client(base_url=box.app_url, timeout=10) as client:
        assert client.get("/__sandbox__/state").json()["mutations"] == []
        answer = client.post(
            "/__sandbox__/mutations", json={"names": ["list-aria-grid", "app-whats-new"]}
        )
        assert answer.status_code == 200
        assert answer.json() == {"ok": True, "mutations": ["list-aria-grid", "app-whats-new"]}
        assert box.state()["mutations"] == ["list-aria-grid", "app-whats-new"]

        bad = client.post("/__sandbox__/mutations", json={"names": ["list-aria-grid", "nope"]})
        assert bad.status_code == 400
        assert "'nope'" in bad.json()["message"] and "list-ul-rows" in bad.json()["message"]
        assert box.mutations() == ("list-aria-grid", "app-whats-new")  # unchanged

        bodies: list[object] = [{"names": "list-aria-grid"}, {"nam": []}, [1], {"names": [1]}]
        for body in bodies:
            assert client.post("/__sandbox__/mutations", json=body).status_code == 400
        assert client.post("/__sandbox__/mutations", content=b"{").status_code == 400

        assert client.post("/__sandbox__/reset").status_code == 200  # reset keeps them
        assert client.get("/__sandbox__/state").json()["mutations"] == [
            "list-aria-grid",
            "app-whats-new",
        ]
        assert client.post("/__sandbox__/mutations", json={"names": []}).status_code == 200
    assert box.mutations() == ()
    with pytest.raises(ConfigError):
        box.set_mutations(["list-nope"])
    assert box.set_mutations(["list-ul-rows"]) == ("list-ul-rows",)


def test_pages_are_unchanged_without_mutations(box: RunningSandbox) -> None:
    with httpx.Client(base_url=box.app_url, timeout=10) as client:
        before = normalise(client.get("/session/create").text)
        assert "mutations" not in before and "data-page-kind" not in before
        box.set_mutations(["list-aria-grid"])
        during = client.get("/session/create").text
        assert '<script src="/static/mutations.js" defer></script>' in during
        assert during.index("mutations.js") < during.index("sandbox.js")  # runs first
        assert 'data-mutations="list-aria-grid" data-page-kind="signin"' in during
        box.set_mutations([])
        assert normalise(client.get("/session/create").text) == before
        assert client.get("/static/mutations.js").status_code == 200


def test_user_mutation_script_is_served_on_both_origins(tmp_path: Path) -> None:
    script = tmp_path / "mine.js"
    script.write_text("StitchMutations.register('mine', {});", encoding="utf-8")
    with running_sandbox(SandboxOptions(mutation_script=script, latency_ms=0)) as sandbox:
        for base in (sandbox.app_url, sandbox.login_url):
            with httpx.Client(base_url=base, timeout=10) as client:
                answer = client.get("/__sandbox__/mutation-script.js")
                assert answer.status_code == 200 and "register('mine'" in answer.text
                assert answer.headers["content-type"].startswith("text/javascript")
        page = httpx.get(sandbox.app_url + "/session/create", timeout=10).text
        assert '<script src="/__sandbox__/mutation-script.js" defer></script>' in page
        assert 'data-mutations="" data-page-kind="signin"' in page
        script.write_text("StitchMutations.register('edited', {});", encoding="utf-8")
        edited = httpx.get(sandbox.app_url + "/__sandbox__/mutation-script.js", timeout=10)
        assert "edited" in edited.text  # read per request: edit, reload, see
    with running_sandbox(SandboxOptions(latency_ms=0)) as plain:
        missing = httpx.get(plain.app_url + "/__sandbox__/mutation-script.js", timeout=10)
        assert missing.status_code == 404


def password_step(app: httpx.Client, login: httpx.Client) -> tuple[str, str]:
    answer = app.post("/session/create", data={"email": ADMIN})
    location = answer.headers["location"]
    token = parse_qs(urlsplit(location).query)["state"][0]
    return token, login.get(location).text


@pytest.mark.parametrize("choice", ["yes", "no"])
def test_stay_signed_in_between_password_and_app(box: RunningSandbox, choice: str) -> None:
    box.set_mutations(["signin-stay-signed-in"])
    with (
        httpx.Client(base_url=box.app_url, timeout=10) as app,
        httpx.Client(base_url=box.login_url, timeout=10) as login,
    ):
        token, _ = password_step(app, login)
        answer = login.post("/login", data={"state": token, "password": PASSWORD})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login/stay?")
        page = login.get(answer.headers["location"])
        assert "<h1>Stay signed in?</h1>" in page.text
        assert 'value="yes">Yes</button>' in page.text and 'value="no">No</button>' in page.text
        # the step cannot be skipped back to the password, and GET /login points here
        assert login.get(f"/login?state={token}").headers["location"].startswith("/login/stay?")
        done = login.post("/login/stay", data={"state": token, "stay": choice})
        callback = done.headers["location"]
        assert callback.startswith(f"{box.app_url}/session/callback?code=")
        signed_in = app.get(callback.removeprefix(box.app_url))
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("stitch_session=")
        assert ("Max-Age=2592000" in cookie) is (choice == "yes")
        assert login.post("/login/stay", data={"state": token, "stay": "yes"}).status_code == 400


def test_stay_signed_in_on_legacy_with_totp() -> None:
    options = SandboxOptions(
        variant="legacy", mfa="totp", latency_ms=0, mutations=("signin-stay-signed-in",)
    )
    with running_sandbox(options) as sandbox, httpx.Client(base_url=sandbox.app_url) as app:
        from connector.sandbox.state import totp

        answer = app.post("/session/create", data={"email": ADMIN, "password": PASSWORD})
        token = parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]
        code = totp(options.totp_secret).now()
        answer = app.post("/session/mfa", data={"state": token, "code": code})
        assert answer.headers["location"].startswith("/session/stay?")
        assert "Stay signed in?" in app.get(answer.headers["location"]).text
        done = app.post("/session/stay", data={"state": token, "stay": "no"})
        assert done.status_code == 303 and "stitch_session=" in done.headers["set-cookie"]


def test_ids_renamed_keeps_types_labels_and_texts(box: RunningSandbox) -> None:
    box.set_mutations(["signin-ids-renamed"])
    with (
        httpx.Client(base_url=box.app_url, timeout=10) as app,
        httpx.Client(base_url=box.login_url, timeout=10) as login,
    ):
        step1 = app.get("/session/create").text
        _, step2 = password_step(app, login)
    for old in ("st-v2-login-email", "-st-t-stitch-login-submit-button", "st-t-login-form"):
        assert f'id="{old}"' not in step1 and f'id="{hashed_id(old)}"' in step1
    assert f'<label for="{hashed_id("st-v2-login-email")}">Email</label>' in step1
    assert 'type="email" name="email" autocomplete="username"' in step1 and ">Continue<" in step1
    assert 'id="password"' not in step2
    assert f'<label for="{hashed_id("password")}">Password</label>' in step2
    assert 'type="password" name="password" autocomplete="current-password"' in step2
    assert ">Log in</button>" in step2


def test_button_relabelled(box: RunningSandbox) -> None:
    box.set_mutations(["signin-button-relabelled"])
    with (
        httpx.Client(base_url=box.app_url, timeout=10) as app,
        httpx.Client(base_url=box.login_url, timeout=10) as login,
    ):
        step1 = app.get("/session/create").text
        _, step2 = password_step(app, login)
    assert '<button class="st-button st-button--primary" type="submit">Next</button>' in step1
    assert "-st-t-stitch-login-submit-button" not in step1
    assert '<button class="tc-button" type="submit">Sign in</button>' in step2


def test_cookie_consent_on_both_origins_until_chosen(box: RunningSandbox) -> None:
    box.set_mutations(["signin-cookie-consent"])
    with (
        httpx.Client(base_url=box.app_url, timeout=10) as app,
        httpx.Client(base_url=box.login_url, timeout=10) as login,
    ):
        step1 = app.get("/session/create").text
        _, step2 = password_step(app, login)
        for page in (step1, step2):
            assert 'id="mut-cookie-consent"' in page and 'role="dialog" aria-modal="true"' in page
            for label in ("Accept all", "Reject all", "Manage preferences"):
                assert f">{label}</button>" in page
        app.cookies.set("st_cookie_consent", "all")
        assert "mut-cookie-consent" not in app.get("/session/create").text
        assert "mut-cookie-consent" not in app.get("/forgot").text  # sign-in forms only


def test_whats_new_on_app_pages_until_dismissed(box: RunningSandbox) -> None:
    box.set_mutations(["app-whats-new"])
    with (
        httpx.Client(base_url=box.app_url, timeout=10) as app,
        httpx.Client(base_url=box.login_url, timeout=10) as login,
    ):
        assert "mut-whats-new" not in app.get("/session/create").text
        token, _ = password_step(app, login)
        done = login.post("/login", data={"state": token, "password": PASSWORD})
        app.get(done.headers["location"].removeprefix(box.app_url))
        page = app.get(f"/client/{box.options.client_id}/pipeline/v2/sources").text
        assert "What's new in Stitch" in page and 'aria-label="Close"' in page
        assert ">Got it</button>" in page
        app.cookies.set("st_whats_new_seen", "1")
        assert (
            "mut-whats-new"
            not in app.get(f"/client/{box.options.client_id}/pipeline/v2/sources").text
        )


# ---------------------------------------------------------------- the CLI


def test_cli_lists_the_corpus() -> None:
    result = CliRunner().invoke(cli_app, ["sandbox", "--list-mutations"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(MUTATIONS)
    for line, m in zip(lines, MUTATIONS.values(), strict=True):
        assert line.split("\t") == [m.name, m.area, m.expect, m.what]


def test_cli_refuses_an_unknown_mutation() -> None:
    result = CliRunner().invoke(cli_app, ["sandbox", "--mutate", "list-nope", "--port", "0"])
    # a ConfigError (exit 3 from the real entry point), raised before any socket is bound
    assert isinstance(result.exception, ConfigError) and "'list-nope'" in str(result.exception)

"""Many accounts from one accounts file, against two real sandboxes (two origins, two rosters,
one address in both): every command takes --account, `sync --all` gives one result per account
and the worst exit code, and a removal in one account never touches the other; locally, through
a Playwright browser server and through CDP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ExitCode
from connector.sandbox.server import RunningSandbox
from tests.conftest import MakeSandbox, settings_for, signed_in
from tests.e2e.test_cli import run_cli
from tests.e2e.test_deactivate import TEAM, person, team_box, writes
from tests.e2e.test_remote_browsers import (  # noqa: F401 (module-scoped fixtures)
    cdp_chromium,
    playwright_server,
    remote_env,
)

pytestmark = pytest.mark.e2e
SECOND_TEAM = [
    person("admin@other.com", "Ola Admin", "Administrator", is_login_user=True),
    person("a@corp.com", "Ann Lee"),  # the same address as in the first account
    *[person(f"eu{i}@other.com", f"Eu {i}") for i in range(4)],
]


def account_table(box: RunningSandbox, secrets: Path, name: str) -> str:
    password = secrets / f"{name}-password"
    password.write_text(box.options.admin_password)
    return (
        f'[accounts.{name}]\nbase_url = "{box.app_url}"\nemail = "{box.login_email}"\n'
        f'password_file = "{password}"\nwrite_timeout_ms = 4000\n'
    )


def two_accounts(make_sandbox: MakeSandbox, tmp_path: Path, *extra: str) -> tuple[Any, ...]:
    for name in ("na", "eu"):
        (tmp_path / name).mkdir()
    na = team_box(make_sandbox, tmp_path / "na", TEAM)
    eu = team_box(make_sandbox, tmp_path / "eu", SECOND_TEAM)
    state = tmp_path / "state"
    for name, box in (("na", na), ("eu", eu)):  # as after each account's first sign-in
        signed_in(box, settings_for(box, state / "accounts" / name))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    body = "[defaults]\nmax_removals_per_day = 5\n\n"
    body += account_table(na, secrets, "na") + "\n" + account_table(eu, secrets, "eu")
    body += "".join(extra)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(body)
    env = {"STITCH_STATE_DIR": str(state), "STITCH_ACCOUNTS_FILE": str(accounts)}
    return na, eu, env


@pytest.mark.parametrize("browser", ["local", "playwright-server", "cdp"])
def test_each_account_is_its_own_and_sync_all_reports_each(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    playwright_server: str,  # noqa: F811
    cdp_chromium: str,  # noqa: F811
    browser: str,
) -> None:
    na, eu, env = two_accounts(make_sandbox, tmp_path)
    if browser != "local":
        env |= remote_env(browser, playwright_server, cdp_chromium)
    listed = {
        name: json.loads(run_cli("--account", name, "members", "--json", env=env).stdout)
        for name in ("na", "eu")
    }
    assert len(listed["na"]["members"]) == 15 and len(listed["eu"]["members"]) == 6
    synced = run_cli("sync", "--all", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    results = {r["account"]: r for r in json.loads(synced.stdout)}
    assert {n: r["report"]["snapshot"]["count"] for n, r in results.items()} == {
        "na": 15,
        "eu": 6,
    }
    removed = run_cli("--account", "eu", "deactivate", "--yes", "--json", "a@corp.com", env=env)
    assert removed.returncode == 0, removed.stderr
    assert [o["status"] for o in json.loads(removed.stdout)] == ["deactivated"]
    assert [w["email"] for w in writes(eu)] == ["a@corp.com"] and writes(na) == []
    statuses = {m["email"]: m["status"] for m in na.state()["members"]}  # type: ignore[union-attr]
    assert statuses["a@corp.com"] == "active"  # the same address in the other account stays
    trail = Path(env["STITCH_STATE_DIR"]) / "accounts"
    assert (trail / "eu" / "audit.jsonl").is_file() and not (trail / "na" / "audit.jsonl").exists()


def test_one_failing_account_never_hides_the_others(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    dead = (
        '\n[accounts.apac]\nbase_url = "http://127.0.0.1:9"\nemail = "x@corp.com"\n'
        f'password_file = "{tmp_path}/secrets/na-password"\ntimeout_ms = 2000\nretries = 1\n'
    )
    _, _, env = two_accounts(make_sandbox, tmp_path, dead)
    synced = run_cli("sync", "--all", "--json", "--concurrency", "2", env=env)
    results = {r["account"]: r for r in json.loads(synced.stdout)}
    assert (results["na"]["exit_code"], results["eu"]["exit_code"]) == (0, 0)
    assert results["apac"]["exit_code"] != 0 and results["apac"]["error"]
    assert synced.returncode == results["apac"]["exit_code"]  # the worst account's


@pytest.mark.parametrize(
    ("body", "args", "code", "words"),
    [
        ('[accounts.x]\nemail = "a@b.co"\npassword = "hunter22"\n', ["members"], 3, "file"),
        ('[accounts.x]\nemail = "a@b.co"\ncolour = "red"\n', ["members"], 3, "unknown"),
        ('[accounts.X_Y]\nemail = "a@b.co"\n', ["members"], 3, "lowercase"),
        ('[accounts.x]\nbase_url = "http://127.0.0.1:9"\n', ["members"], 3, "who signs in"),
        (
            '[accounts.x]\nemail = "a@b.co"\nstate_dir = "/tmp/s"\n'
            '[accounts.y]\nemail = "b@b.co"\nstate_dir = "/tmp/s"\n',
            ["--account", "x", "history"],
            3,
            "share the state dir",
        ),
        (
            '[accounts.x]\nemail = "a@b.co"\n[accounts.y]\nemail = "b@b.co"\n',
            ["history"],
            2,
            "--account",
        ),
        ('[accounts.x]\nemail = "a@b.co"\n', ["--account", "nope", "history"], 2, "no account"),
    ],
)
def test_a_bad_accounts_file_or_choice_is_a_clear_error(
    tmp_path: Path, body: str, args: list[str], code: int, words: str
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(body)
    env = {"STITCH_STATE_DIR": str(tmp_path / "state"), "STITCH_ACCOUNTS_FILE": str(accounts)}
    failed = run_cli(*args, env=env)
    assert failed.returncode == code, failed.stderr
    assert words in failed.stderr and "hunter22" not in failed.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.jsonl"))


def test_without_an_accounts_file_account_is_a_usage_error(tmp_path: Path) -> None:
    failed = run_cli("--account", "eu", "history", env={"STITCH_STATE_DIR": str(tmp_path)})
    assert failed.returncode == ExitCode.USAGE and "STITCH_ACCOUNTS_FILE" in failed.stderr


def test_an_account_never_signs_in_with_the_environments_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector import accounts

    tokens = tmp_path / "eu-tokens"
    tokens.write_text("okta:scim:" + "e" * 24)
    file = tmp_path / "accounts.toml"
    file.write_text(
        '[accounts.na]\nemail = "na@corp.com"\n'
        f'[accounts.eu]\nemail = "eu@corp.com"\nservice_tokens_file = "{tokens}"\n'
    )
    monkeypatch.setenv("STITCH_EMAIL", "env@corp.com")
    monkeypatch.setenv("STITCH_PASSWORD", "the-environments-password")
    monkeypatch.setenv("STITCH_SERVICE_TOKENS", "ops:write:" + "w" * 24)
    na = accounts.settings_for("na", file)
    eu = accounts.settings_for("eu", file)
    assert (na.email, na.password, eu.password) == ("na@corp.com", None, None)
    assert [t.name for t in na.tokens()] == ["ops"]  # the environment's, where it says none
    assert [t.name for t in eu.tokens()] == ["okta"]  # its own file, never the environment's


def test_the_sandbox_runs_several_accounts_and_writes_their_accounts_file(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    file = tmp_path / "accounts.toml"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "--accounts", "2", "--latency-ms", "10",
         "--members", "8", "--accounts-file", str(file)],
        env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)  # polling for the file the sandbox writes once it is up, bounded
        assert "sandbox-password" not in file.read_text()  # the passwords are in files
        env = {"STITCH_STATE_DIR": str(tmp_path / "state"), "STITCH_ACCOUNTS_FILE": str(file)}
        synced = run_cli("sync", "--all", "--json", env=env)
        assert synced.returncode == 0, synced.stderr
        results = json.loads(synced.stdout)
        assert [r["account"] for r in results] == ["account1", "account2"]
        ids = {r["report"]["snapshot"]["client_id"] for r in results}
        assert len(ids) == 2  # two accounts, not one seen twice
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)

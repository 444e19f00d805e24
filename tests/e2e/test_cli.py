"""The `stitch-connector` command as a user runs it: output formats, exit codes, the recorder."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector.errors import ExitCode
from connector.sandbox.server import RunningSandbox
from tests.cli import run_cli, run_cli_process
from tests.conftest import MakeSandbox, sandbox_env, settings_for, signed_in
from tests.e2e.test_members import truth
from tests.replay.test_fixtures import Replayer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def env_for(box: RunningSandbox, state: Path) -> dict[str, str]:
    return sandbox_env(box, state)


def signed_in_env(box: RunningSandbox, state: Path) -> dict[str, str]:
    """env_for, with the session saved and the list's place known (conftest.signed_in)."""
    signed_in(box, settings_for(box, state))
    return sandbox_env(box, state)


def test_help_teaches_and_does_not_load_playwright() -> None:
    probe = (
        "import sys; from connector.cli.app import app; import connector; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('playwright', 'uvicorn', 'starlette')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    result = run_cli_process("--help")  # the real console, in a clean interpreter
    assert result.returncode == 0
    for word in ("members", "demo", "sandbox", "record", "Exit codes"):
        assert word in result.stdout


@pytest.mark.e2e
def test_members_json_and_csv(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    people = [
        {
            "email": "boss@example.com",
            "name": "Boss",
            "role": "Administrator",
            "status": "active",
            "invoice_admin": False,
            "is_login_user": True,
        },
        {
            "email": "eve@example.com",
            "name": "=cmd|'/C calc'!A0",
            "role": "General User",
            "status": "active",
            "invoice_admin": True,
        },
        {
            "email": "new@example.com",
            "name": None,
            "role": "General User",
            "status": "pending",
            "invoice_admin": False,
        },
    ]
    roster_file = tmp_path / "roster.json"
    roster_file.write_text(json.dumps(people))
    box = make_sandbox(members_file=roster_file, latency_ms=10)
    env = env_for(box, tmp_path / "state")

    as_json = run_cli("members", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [
        {k: m[k] for k in ("email", "name", "role", "status", "invoice_admin", "is_self")}
        for m in data["members"]
    ] == truth(box)
    assert data["account"] == {"client_id": 116078, "company_name": "Stitch - Doc Testing"}
    assert data["fingerprint"].startswith("sha256:")

    out = tmp_path / "roster.csv"
    as_csv = run_cli("members", "--csv", "-o", str(out), env=env)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["email"] for r in rows] == [p["email"] for p in people]
    assert rows[1]["name"] == "'=cmd|'/C calc'!A0"  # a formula, neutralised

    table = run_cli("members", env=env)
    assert table.returncode == 0 and "eve@example.com" in table.stdout


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["members"], {}, ExitCode.CONFIG, "no email to sign in with"),
        (["members"], {"STITCH_EMAIL": "a@b.co"}, ExitCode.CONFIG, "no password"),
        (["members"], {"STITCH_BASE_URL": "stitch"}, ExitCode.CONFIG, "STITCH_BASE_URL"),
        (["members"], {"STITCH_PASSWORD_FILE": "/no/such"}, ExitCode.CONFIG, "cannot read"),
        (["members", "--json", "--csv"], {}, ExitCode.USAGE, "choose one"),
        (["--log-level", "loud", "members"], {}, ExitCode.USAGE, "'loud' is not one of"),
        (
            ["members"],
            {
                "STITCH_STATE_DIR": "/proc/nope",
                "STITCH_EMAIL": "a@b.co",
                "STITCH_PASSWORD": "pw-pw-pw",
            },
            ExitCode.CONFIG,
            "STITCH_STATE_DIR",
        ),
        (["members", "-o", "/no/such/dir/x.json"], {}, ExitCode.CONFIG, "does not exist"),
        (["sandbox", "--variant", "modern"], {}, ExitCode.USAGE, "'modern' is not one of"),
        (["sandbox", "--members-file", "/no/such.json"], {}, ExitCode.CONFIG, "roster file"),
        (["sandbox", "--fault-rate", "2"], {}, ExitCode.CONFIG, "fault_rate"),
        (["sandbox", "--confirm-dialog", "maybe"], {}, ExitCode.USAGE, "'maybe' is not one of"),
        (["frobnicate"], {}, ExitCode.USAGE, "No such command"),
        (["members", "--bogus"], {}, ExitCode.USAGE, "No such option"),
    ],
)
def test_bad_input_is_one_clear_line_and_its_own_exit_code(
    args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    result = run_cli(*args, env=env, timeout=30)
    assert result.returncode == code, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and message in first
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.e2e
def test_wrong_password_exit_code(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=3, latency_ms=10)
    env = {**env_for(box, tmp_path), "STITCH_PASSWORD": "nope-nope"}
    result = run_cli_process("members", "--json", env=env)  # a real process's exit code
    assert result.returncode == ExitCode.AUTH_FAILED
    assert "error: Stitch rejected the password" in result.stderr and result.stdout == ""


@pytest.mark.e2e
def test_record_scrubs_and_replays(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    box = make_sandbox(members=70, latency_ms=10, mfa="totp")
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    env = {**env_for(box, tmp_path / "state"), "STITCH_TOTP_SECRET": box.options.totp_secret}
    out = tmp_path / "recorded"
    result = run_cli(
        "record",
        "--out",
        str(out),
        "--scrub-key-file",
        str(key),
        "--compare",
        str(FIXTURES / "current" / "single"),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    # Same UI as the committed fixtures: page 1's structure matches (rows are data); page 2 is new.
    assert "no structural change: signin-email" in result.stdout
    assert "new page (no committed fixture): members-p2" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{label}.{ext}"
        for ext in ("html", "json")
        for label in ("signin-email", "signin-password", "signin-totp", "members-p1", "members-p2")
    )
    written = "".join(p.read_text() for p in out.iterdir())
    assert "116078" not in written  # the account id is replaced too
    assert 'data-member-id="m-' in written
    state = box.state()["members"]
    for member in state:  # type: ignore[union-attr]
        assert member["email"] not in written
        if member["name"]:
            assert member["name"] not in written
    session = json.loads((tmp_path / "state" / "session.json").read_text())
    cookies = [c["value"] for c in session["cookies"]]
    assert cookies
    for secret in (box.options.admin_password, box.options.totp_secret, *cookies):
        assert secret not in written
    replayer = Replayer()
    try:
        for page in ("members-p1", "members-p2"):
            expected = json.loads((out / f"{page}.json").read_text())
            got = replayer.run(out / f"{page}.html", expected)
            assert got["members"] == expected["page"]["members"]
            assert len(got["members"]) == (50 if page == "members-p1" else 20)
    finally:
        replayer.close()


def test_unreachable_stitch_is_a_transient_failure_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "STITCH_BASE_URL": f"http://127.0.0.1:{port}",
        "STITCH_EMAIL": "a@b.co",
        "STITCH_PASSWORD": "pw-secret-123",
        "STITCH_STATE_DIR": str(tmp_path),
        "STITCH_RETRIES": "2",
    }
    result = run_cli("members", "--json", env=env)
    assert result.returncode == ExitCode.TRANSIENT, result.stderr
    lines = result.stderr.splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    assert "ERR_CONNECTION_REFUSED" in error and "pw-secret-123" not in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


LONG_EMAIL = (
    "first.middle.very-long-last-name.contractor@subsidiary-with-a-long-name.eu-west.example.com"
)


def test_tables_piped_to_a_file_never_wrap_or_cut_a_cell(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """stdout is a pipe here (as in cron, CI logs, `> file`): every member's row is one line with
    its whole email, however long; a terminal still folds cells to its width."""
    assert len(LONG_EMAIL) > 80
    people = [
        {"email": "boss@example.com", "name": "Boss", "role": "Administrator",
         "status": "active", "invoice_admin": True, "is_login_user": True},
        {"email": LONG_EMAIL, "name": "A Person With A Rather Long Display Name Indeed",
         "role": "General User", "status": "active", "invoice_admin": False},
    ]  # fmt: skip
    roster_file = tmp_path / "roster.json"
    roster_file.write_text(json.dumps(people))
    box = make_sandbox(members_file=roster_file, latency_ms=10)
    table = run_cli("members", env=env_for(box, tmp_path / "state"))
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if LONG_EMAIL in line]
    assert len(rows) == 1, table.stdout
    assert "A Person With A Rather Long Display Name Indeed" in rows[0]
    assert "General User" in rows[0] and "active" in rows[0]


def test_audit_show_piped_keeps_each_record_on_one_line(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from connector.audit import AuditLog

    state = tmp_path / "state"
    state.mkdir()
    now = datetime.now(UTC)
    AuditLog(state / "audit.jsonl").append(
        run_id="r1", request_id="HR-1", actor="api:airflow-offboarding-production",
        target=LONG_EMAIL, action="deactivate", outcome="refused", rule="protected_domain",
        reason=None, started_at=now, finished_at=now, connector_version="test", row_before=None,
        roster_fingerprint_before=None, roster_fingerprint_after=None, evidence=[],
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    shown = run_cli("audit", "show", env={**env, "STITCH_STATE_DIR": str(state)})
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if LONG_EMAIL in line]
    assert len(rows) == 1, shown.stdout
    assert "api:airflow-offboarding-production" in rows[0] and "protected_domain" in rows[0]

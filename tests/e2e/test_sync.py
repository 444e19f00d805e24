"""`sync`, `history` and `diff` as a scheduler runs them, against the sandbox in a real browser.

Roster changes happen "in Stitch" through the sandbox's controls (or the connector's own
Deactivate), then the next sync must report each with the right kind.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector import runner
from connector.changes import ChangeKind
from connector.client import StitchConnector
from connector.errors import ExitCode
from connector.metrics import SyncOutcome, write_sync_metrics
from connector.models import Account, Member, MemberList, OutcomeStatus, Role, Status
from connector.sandbox.options import SandboxOptions
from connector.sandbox.state import SandboxState
from connector.store import SnapshotStore
from tests.conftest import MakeSandbox, settings_for
from tests.e2e.test_cli import run_cli, signed_in_env


def entry(email: str, name: str | None, role: str = "General User", **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "name": name,
        "role": role,
        "status": extra.pop("status", "active"),
        "invoice_admin": extra.pop("invoice_admin", False),
        **extra,
    }


PEOPLE = [
    entry("admin@example.com", "Avery Admin", "Administrator", is_login_user=True),
    entry("billing@example.com", "Bea Billing", invoice_admin=True),
    entry("bob@example.com", "Bob Brown"),
    entry("carol@example.com", "Carol Cole"),
    entry("dave@example.com", None, status="pending"),
    entry("erin@example.com", "Erin Evans", "Administrator"),
    entry("frank@example.com", "Frank Fox"),
    entry("gina@example.com", '=HYPERLINK("x")'),
    entry("hank@example.com", "Hank Hill"),
]


def metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a textfile, keyed by name and sorted labels."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.type == "gauge"
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else None


def by_email(changes: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for c in changes:
        found.setdefault(c["email"], set()).add(c["kind"])
    return found


def deactivate(box: Any, state: Path, email: str) -> None:
    """Offboarding through the connector's own Deactivate flow."""

    async def go() -> None:
        async with StitchConnector(settings_for(box, state)) as stitch:
            outcomes = await stitch.deactivate([email], reason="test")
        assert outcomes[0].status == OutcomeStatus.DEACTIVATED

    runner.run(go)


@pytest.mark.e2e
@pytest.mark.slow
def test_sync_reports_each_change_exports_and_keeps(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    roster_file = tmp_path / "roster.json"
    roster_file.write_text(json.dumps(PEOPLE), encoding="utf-8")
    box = make_sandbox(members_file=roster_file, latency_ms=10, keep_deactivated=True)
    state, prom, export = tmp_path / "state", tmp_path / "sync.prom", tmp_path / "out"
    env = signed_in_env(box, state)
    flags = ["--json", "--metrics-file", str(prom)]

    first = ok(run_cli("sync", *flags, "--export", str(export), env=env))
    assert first["previous"] is None and first["changes"] == []
    assert first["snapshot"]["count"] == 9 and first["snapshot"]["connector_version"]
    exported = MemberList.model_validate_json((export / "roster.json").read_text())
    assert exported.fingerprint == first["snapshot"]["fingerprint"]
    rows = list(csv.DictReader(io.StringIO((export / "roster.csv").read_text())))
    assert {r["email"]: r["name"] for r in rows}["gina@example.com"] == '\'=HYPERLINK("x")'
    assert first["exported"] == [str(export / "roster.json"), str(export / "roster.csv")]

    box.add_member("ivy@example.com", "Ivy New")
    box.remove_member("carol@example.com")
    box.set_role("bob@example.com", "Administrator")
    box.accept_invite("dave@example.com", "Dave Doe")
    deactivate(box, state, "frank@example.com")

    second = ok(run_cli("sync", *flags, env=env))
    assert second["previous"]["id"] == first["snapshot"]["id"]
    assert by_email(second["changes"]) == {
        "ivy@example.com": {"joined"},
        "carol@example.com": {"left"},
        "bob@example.com": {"role_changed"},
        "dave@example.com": {"invite_accepted"},
        "frank@example.com": {"deactivated"},
    }
    accepted = next(c for c in second["changes"] if c["kind"] == "invite_accepted")
    assert (accepted["before"], accepted["after"]) == ("pending", "active")
    assert accepted["member"]["name"] == "Dave Doe"

    samples = metrics(prom)
    assert samples[("stitch_sync_outcome", (("outcome", "ok"),))] == 1
    assert samples[("stitch_sync_outcome", (("outcome", "error"),))] == 0
    members = {labels: v for (name, labels), v in samples.items() if name == "stitch_members"}
    assert members[(("role", "Administrator"), ("status", "active"))] == 3  # admin, erin, bob
    assert members[(("role", "General User"), ("status", "active"))] == 5
    assert members[(("role", "General User"), ("status", "deactivated"))] == 1
    assert sum(members.values()) == 9
    counted = {
        dict(labels)["kind"]: v for (n, labels), v in samples.items() if n.endswith("changes")
    }
    seen = {"joined", "left", "role_changed", "invite_accepted", "deactivated"}
    assert counted == {kind.value: int(kind.value in seen) for kind in ChangeKind}
    taken = datetime.fromisoformat(second["snapshot"]["taken_at"])
    assert samples[("stitch_sync_last_success_timestamp_seconds", ())] == taken.timestamp()
    assert samples[("stitch_sync_duration_seconds", ())] > 0

    listed = ok(run_cli("history", "--json", env=env))
    assert [s["id"] for s in listed] == [second["snapshot"]["id"], first["snapshot"]["id"]]
    compared = ok(run_cli("diff", "--json", env=env))
    assert compared["changes"] == second["changes"]
    reverse = ok(run_cli("diff", "--json", "2", "1", env=env))
    assert by_email(reverse["changes"])["carol@example.com"] == {"joined"}
    shown = run_cli("diff", "1", "2", env=env)
    assert shown.returncode == 0
    assert re.search(r"invite accepted +dave@example.com \(Dave Doe\)", shown.stdout)
    assert re.search(r"role changed +bob@example.com: General User → Administrator", shown.stdout)

    third = run_cli("sync", "--keep", "2", env=env)  # the readable summary, and retention
    assert third.returncode == 0, third.stderr
    assert "No changes since snapshot 2" in third.stdout and "Pruned 1" in third.stdout
    assert [s["id"] for s in ok(run_cli("history", "--json", env=env))] == [3, 2]


@pytest.mark.e2e
@pytest.mark.slow
def test_confidence_gate_keeps_evidence_and_accept_drop_stores(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    state, prom = tmp_path / "state", tmp_path / "sync.prom"
    whole = make_sandbox(members=20, latency_ms=10)
    first = ok(run_cli("sync", "--json", env=signed_in_env(whole, state)))

    # The same account, but the page silently shows half the rows (its count agreeing).
    halved = make_sandbox(members=20, latency_ms=10, hide_rows=0.5)
    env = signed_in_env(halved, state)
    gated = run_cli("sync", "--json", "--metrics-file", str(prom), env=env)
    assert gated.returncode == ExitCode.CONFIDENCE_GATE == 15, gated.stderr
    assert gated.stdout == "" and "Traceback" not in gated.stderr
    error = next(line for line in gated.stderr.splitlines() if line.startswith("error: "))
    assert "10 of the 20 members of the last snapshot are missing" in error
    assert "UI drift than a mass exodus" in error
    saved = next(line for line in gated.stderr.splitlines() if line.startswith("saved: "))
    evidence = Path(saved.removeprefix("saved: "))
    assert evidence.name == "rejected-roster.json" and evidence.parent.parent == state / "runs"
    assert MemberList.model_validate_json(evidence.read_text()).count == 10
    assert "--accept-drop" in gated.stderr  # the hint says how to record it after a check
    assert len(ok(run_cli("history", "--json", env=env))) == 1  # nothing stored
    samples = metrics(prom)
    assert samples[("stitch_sync_outcome", (("outcome", "confidence_gate"),))] == 1
    assert samples[("stitch_sync_outcome", (("outcome", "ok"),))] == 0
    last = datetime.fromisoformat(first["snapshot"]["taken_at"]).timestamp()
    assert samples[("stitch_sync_last_success_timestamp_seconds", ())] == last  # not moved
    assert sum(v for (n, _), v in samples.items() if n == "stitch_members") == 20  # as stored

    accepted = ok(run_cli("sync", "--json", "--accept-drop", env=env))
    assert "10 of the 20" in accepted["accepted_drop"]
    assert [c["kind"] for c in accepted["changes"]].count("left") == 10
    assert len(ok(run_cli("history", "--json", env=env))) == 2

    alone = make_sandbox(members=20, latency_ms=10, hide_rows=1.0)
    result = run_cli("sync", "--max-drop", "1", env=signed_in_env(alone, state))
    assert result.returncode == ExitCode.CONFIDENCE_GATE, result.stderr
    assert "shrank from 10 members to the signed-in user alone" in result.stderr


@pytest.mark.e2e
def test_failed_sync_writes_error_metrics_and_keeps_the_last_success(tmp_path: Path) -> None:
    state, prom = tmp_path / "state", tmp_path / "sync.prom"
    stored = sample_roster("a@example.com", "b@example.com")
    SnapshotStore(state / "snapshots.sqlite3").save(stored, connector_version="0.0.1")
    env = {
        "STITCH_BASE_URL": "http://127.0.0.1:9",  # discard port: nothing answers
        "STITCH_EMAIL": "admin@example.com",
        "STITCH_PASSWORD": "pw-secret-123",
        "STITCH_STATE_DIR": str(state),
        "STITCH_RETRIES": "1",
    }
    result = run_cli("sync", "--metrics-file", str(prom), env=env)
    assert result.returncode == ExitCode.TRANSIENT, result.stderr
    samples = metrics(prom)
    assert samples[("stitch_sync_outcome", (("outcome", "error"),))] == 1
    assert samples[("stitch_sync_last_success_timestamp_seconds", ())] == (
        stored.scraped_at.timestamp()
    )
    assert not any(name == "stitch_sync_changes" for name, _ in samples)
    # The CLI's umask keeps its own files private; node-exporter (another user) must read this one.
    assert prom.stat().st_mode & 0o777 == 0o644, oct(prom.stat().st_mode)


# ---------------------------------------------------------------- no browser needed


def sample_roster(*emails: str, hour: int = 9) -> MemberList:
    people = [
        Member(
            email="admin@example.com", role=Role.ADMINISTRATOR, status=Status.ACTIVE, is_self=True
        )
    ]
    people += [Member(email=e, role=Role.GENERAL_USER, status=Status.ACTIVE) for e in emails]
    return MemberList(
        account=Account(client_id=116078, company_name="Acme"),
        members=people,
        scraped_at=datetime(2025, 5, 1, hour, tzinfo=UTC),
        pages=1,
        source_url="https://app.example/members",
        selectors_version="1",
    )


def test_history_and_diff_of_stored_snapshots(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots.sqlite3")
    store.save(sample_roster("a@example.com", "b@example.com"), connector_version="0.1.0")
    store.save(sample_roster("b@example.com", "c@example.com", hour=10), connector_version="0.1.0")
    env = {"STITCH_STATE_DIR": str(tmp_path)}
    listed = ok(run_cli("history", "--json", "--limit", "1", env=env))
    assert [s["id"] for s in listed] == [2]
    table = run_cli("history", env=env)
    assert table.returncode == 0 and "sha256:" in table.stdout
    compared = ok(run_cli("diff", "--json", env=env))
    assert (compared["before"]["id"], compared["after"]["id"]) == (1, 2)
    assert by_email(compared["changes"]) == {
        "c@example.com": {"joined"},
        "a@example.com": {"left"},
    }
    assert ok(run_cli("diff", "--json", "1", env=env))["after"]["id"] == 2
    same = run_cli("diff", "2", "2", env=env)
    assert same.returncode == 0 and "No changes." in same.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["sync", "--keep", "1"], ExitCode.USAGE, "--keep"),
        (["sync", "--max-drop", "1.5"], ExitCode.USAGE, "--max-drop"),
        (["diff", "1", "99"], ExitCode.CONFIG, "no snapshot 99 in"),
        (["diff", "7"], ExitCode.CONFIG, "no snapshot 7 in"),
        (["diff", "x"], ExitCode.USAGE, "should be a valid integer"),
        (["history", "--limit", "0"], ExitCode.USAGE, "--limit"),
    ],
)
def test_bad_input_is_one_line_and_its_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    SnapshotStore(tmp_path / "snapshots.sqlite3").save(sample_roster(), connector_version="0")
    result = run_cli(*args, env={"STITCH_STATE_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_diff_needs_two_snapshots(tmp_path: Path) -> None:
    SnapshotStore(tmp_path / "snapshots.sqlite3").save(sample_roster(), connector_version="0")
    result = run_cli("diff", env={"STITCH_STATE_DIR": str(tmp_path)}, timeout=30)
    assert result.returncode == ExitCode.CONFIG
    assert "there are 1 snapshot(s)" in result.stderr and "nothing to compare" in result.stderr


def test_corrupt_database_fails_before_the_browser_with_error_metrics(tmp_path: Path) -> None:
    db = tmp_path / "snapshots.sqlite3"
    db.write_bytes(b"\x00garbage, not SQLite\n" * 200)
    prom = tmp_path / "sync.prom"
    env = {
        "STITCH_STATE_DIR": str(tmp_path),
        "STITCH_EMAIL": "admin@example.com",
        "STITCH_PASSWORD": "pw-pw-pw",
        "STITCH_BASE_URL": "http://127.0.0.1:9",
    }
    for args in (["history"], ["diff"], ["sync", "--metrics-file", str(prom)]):
        result = run_cli(*args, env=env, timeout=30)
        assert result.returncode == ExitCode.CONFIG, result.stderr
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"error: snapshot database {db} is unusable"), first
        assert "browser" not in result.stderr
    samples = metrics(prom)
    assert samples[("stitch_sync_outcome", (("outcome", "error"),))] == 1
    assert ("stitch_sync_last_success_timestamp_seconds", ()) not in samples


def test_metrics_file_parses_with_every_series(tmp_path: Path) -> None:
    prom = tmp_path / "m.prom"
    roster = sample_roster("a@example.com")
    changes = dict.fromkeys(ChangeKind, 0) | {ChangeKind.JOINED: 2}
    write_sync_metrics(
        prom,
        outcome=SyncOutcome.OK,
        duration_seconds=1.5,
        roster=roster,
        changes=changes,
        last_success=roster.scraped_at,
    )
    samples = metrics(prom)
    assert samples[("stitch_sync_changes", (("kind", "joined"),))] == 2
    assert samples[("stitch_sync_duration_seconds", ())] == 1.5
    assert len([k for k in samples if k[0] == "stitch_members"]) == 6  # every role x status
    assert len([k for k in samples if k[0] == "stitch_sync_outcome"]) == 3
    assert not list(tmp_path.glob("m.prom.*"))  # the temporary file was renamed into place


# ---------------------------------------------------------------- the sandbox's new controls


def test_sandbox_roster_controls_over_http(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    roster_file = tmp_path / "roster.json"
    roster_file.write_text(json.dumps(PEOPLE), encoding="utf-8")
    box = make_sandbox(members_file=roster_file, latency_ms=0)

    def post(action: str, body: Any) -> httpx.Response:
        return httpx.post(f"{box.app_url}/__sandbox__/{action}", json=body, timeout=10)

    def member(email: str) -> dict[str, Any] | None:
        members = box.state()["members"]
        return next((m for m in members if m["email"] == email), None)  # type: ignore[union-attr]

    assert post(
        "add-member", {"email": "zed@example.com", "name": "Zed", "role": "Administrator"}
    ).json() == {"ok": True}
    assert member("zed@example.com") == entry(
        "zed@example.com", "Zed", "Administrator", is_login_user=False
    )
    assert post("accept-invite", {"email": "dave@example.com"}).status_code == 200
    assert member("dave@example.com") == entry("dave@example.com", "Dave", is_login_user=False)
    assert (
        post("set-role", {"email": "bob@example.com", "role": "Administrator"}).status_code == 200
    )
    assert (member("bob@example.com") or {})["role"] == "Administrator"
    assert post("remove-member", {"email": "carol@example.com"}).status_code == 200
    assert member("carol@example.com") is None
    names = [m["email"] for m in box.state()["members"]]  # type: ignore[union-attr]
    assert names.index("zed@example.com") < names.index("billing@example.com")  # admins first

    assert post("remove-member", {"email": "nobody@example.com"}).status_code == 404
    assert post("accept-invite", {"email": "bob@example.com"}).status_code == 400  # not pending
    assert post("add-member", {"email": "bob@example.com", "name": "B"}).status_code == 400
    assert post("set-role", {"email": "bob@example.com", "role": "Owner"}).status_code == 400
    assert post("set-role", {"role": "Administrator"}).status_code == 400
    assert post("remove-member", {"email": "admin@example.com"}).status_code == 400
    box.reset()
    assert member("carol@example.com") is not None and member("zed@example.com") is None


@pytest.mark.parametrize(("share", "shown"), [(0.0, 20), (0.3, 14), (0.5, 10), (0.96, 1), (1.0, 1)])
def test_hide_rows_shows_the_first_share_with_the_login_user(share: float, shown: int) -> None:
    state = SandboxState(SandboxOptions(members=20, hide_rows=share))
    everyone = state.visible_members()
    state_all = SandboxState(SandboxOptions(members=20)).visible_members()
    assert len(everyone) == shown
    assert any(m.is_login_user for m in everyone)
    others = [m for m in state_all if not m.is_login_user]
    assert [m for m in everyone if not m.is_login_user] == others[: shown - 1]


def test_hide_rows_is_validated() -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="hide_rows"):
        SandboxOptions(hide_rows=1.5)

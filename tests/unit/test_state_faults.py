"""A state dir on a read-only or full disk, an empty database and a session file of the wrong
shape are clear configuration errors (exit 3) or healed, never exit 1 ("a bug")."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import connector
from connector.browser import usable_saved_session
from connector.errors import ConfigError, ExitCode
from connector.private_files import write_private_json
from connector.settings import Settings
from connector.store import SnapshotStore
from tests.unit.test_store import roster

TREE = Path(connector.__file__).resolve().parent.parent

# Runs as root in its own mount namespace: a tmpfs state dir, made read-only, then full.
FAULTS = """
import json, os, subprocess, sys
from pathlib import Path
from connector import logs
from connector.audit import AuditLog
from connector.private_files import write_private_json
from connector.errors import ConnectorError
from connector.lock import WriteLock
from connector.store import SnapshotStore
from tests.unit.test_audit_and_lock import record
from tests.unit.test_store import roster

logs.configure(run_id="faults", level="error", stream=sys.stderr)
mount = Path(sys.argv[1])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
state = mount / "state"
SnapshotStore.in_state_dir(state).save(roster("a@example.com"), connector_version="t")
results = {}

def attempt(name, call):
    try:
        call()
        results[name] = {"ok": True}
    except ConnectorError as exc:
        results[name] = {"code": int(exc.exit_code), "message": str(exc), "hint": exc.hint}
    except Exception as exc:
        results[name] = {"crash": f"{type(exc).__name__}: {exc}"}

def scenario(prefix):
    attempt(prefix + "history", lambda: SnapshotStore.in_state_dir(state).history(5))
    attempt(prefix + "session", lambda: write_private_json(state / "account.json", {"a": 1}))
    attempt(prefix + "lock", lambda: WriteLock(state, owner="t", run_id="r").acquire())
    audit = AuditLog(state / "audit.jsonl")
    attempt(prefix + "audit", lambda: audit.append(**record("x@example.com")))

subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
scenario("ro_")
subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
AuditLog(state / "audit.jsonl").append(**record("seed@example.com"))
with open(mount / "fill", "wb") as fh:
    try:
        while True:
            fh.write(b"x" * 65536)
    except OSError:
        pass
scenario("full_")
results["full_verify"] = list(AuditLog(state / "audit.jsonl").verify())
print(json.dumps(results))
"""


def test_a_read_only_or_full_state_dir_is_a_config_error_that_leaves_the_database_alone(
    tmp_path: Path,
) -> None:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("`unshare` and `mount` are needed for a private read-only mount")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"`unshare -m` is not allowed here: {probe.stderr.strip()}")
    mount = tmp_path / "mnt"
    mount.mkdir()
    ran = subprocess.run(
        ["unshare", "-m", sys.executable, "-c", FAULTS, str(mount)],
        cwd=TREE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)
    for name in (
        *("ro_history", "ro_session", "ro_lock", "ro_audit"),
        *("full_history", "full_session", "full_audit"),
    ):
        got = results[name]
        assert got.get("code") == ExitCode.CONFIG, (name, got)
        assert "new history" not in got["hint"], (name, got)  # never "move the file aside"
    assert "read-only" in results["ro_history"]["message"]
    assert "do not move it aside" in results["full_history"]["hint"]
    assert results["full_verify"] == [1, None]  # the failed record was taken back: no torn line
    # The lock's fencing token cannot be written on a full disk: refused before any click ...
    assert results["full_lock"].get("code") == ExitCode.CONFIG, results["full_lock"]


def test_an_empty_database_file_is_refused_not_a_new_history(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"is empty \(0 bytes\)") as refused:
        SnapshotStore(path)
    assert "Restore" in refused.value.hint
    assert path.read_bytes() == b""  # left as it was, for a person to look at
    path.unlink()
    store = SnapshotStore(path)  # a missing one is simply new, and never empty on disk
    assert path.stat().st_size > 0
    store.save(roster(), connector_version="t")
    assert not list(tmp_path.glob(".snapshots.sqlite3.*"))  # no build files left behind


def settings(tmp_path: Path) -> Settings:
    return Settings(base_url="https://app.example.com", email="me@example.com", state_dir=tmp_path)


@pytest.mark.parametrize(
    "saved",
    [
        [],
        {"cookies": "none"},
        {"cookies": [{"name": "s"}], "origins": []},
        {"cookies": [], "origins": [{"localStorage": []}]},
    ],
    ids=["list", "cookies-not-a-list", "cookie-without-value", "origin-without-name"],
)
def test_a_session_file_of_the_wrong_shape_is_discarded(tmp_path: Path, saved: object) -> None:
    s = settings(tmp_path)
    write_private_json(s.session_identity_path, {"base_url": s.base_url, "email": s.email})
    write_private_json(s.storage_state_path, saved)
    assert usable_saved_session(s) is None  # signed in afresh, then saved over
    good = {
        "cookies": [{"name": "s", "value": "v", "domain": "app.example.com", "path": "/"}],
        "origins": [{"origin": "https://app.example.com", "localStorage": []}],
    }
    write_private_json(s.storage_state_path, good)
    assert usable_saved_session(s) == s.storage_state_path


def test_writing_state_into_a_folder_that_cannot_exist_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write"):
        write_private_json(blocker / "session.json", {})

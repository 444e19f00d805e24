"""The snapshot store on real SQLite files: round trips, retention, migrations, concurrency."""

from __future__ import annotations

import re
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.models import Account, Member, MemberList, Role, Status
from connector.store import SCHEMA_VERSION, SnapshotStore

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def member(email: str, **fields: object) -> Member:
    values: dict[str, object] = {
        "email": email,
        "name": email.split("@")[0].title(),
        "role": Role.GENERAL_USER,
        "status": Status.ACTIVE,
    }
    values.update(fields)
    return Member.model_validate(values)


def roster(*emails: str, at: int = 0, client_id: int = 116078) -> MemberList:
    people = [member("admin@example.com", role=Role.ADMINISTRATOR, is_self=True)]
    people += [member(e) for e in emails]
    return MemberList(
        account=Account(client_id=client_id, company_name="Acme"),
        members=people,
        scraped_at=START + timedelta(hours=at),
        pages=1,
        source_url="https://app.example/client/116078/settings/members",
        selectors_version="2025.1",
    )


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots.sqlite3")


def test_round_trip_keeps_every_field_and_the_order(store: SnapshotStore) -> None:
    original = MemberList(
        account=Account(client_id=4242, company_name=None),
        members=[
            member("zed@example.com", name="Zoë Ødegaard", invoice_admin=True),
            member("amy@example.com", name=None, status=Status.PENDING),
            member("boss@example.com", role=Role.ADMINISTRATOR, is_self=True),
            member("gone@example.com", status=Status.DEACTIVATED, name='=HYPERLINK("x")'),
        ],
        scraped_at=START,
        pages=3,
        source_url="https://app.example/members",
        selectors_version="v9",
    )
    snapshot_id = store.save(original, connector_version="1.2.3")
    assert store.get(snapshot_id) == original
    assert store.get(snapshot_id).fingerprint == original.fingerprint
    assert store.latest_roster() == original


def test_empty_store_and_history(store: SnapshotStore) -> None:
    assert store.latest_roster() is None
    assert store.history(10) == []
    ids = [
        store.save(
            roster(*[f"u{i}@example.com" for i in range(n)], at=n), connector_version="0.1.0"
        )
        for n in range(3)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3
    latest = store.latest_roster()
    assert latest is not None and latest.count == 3
    infos = store.history(2)
    assert [i.id for i in infos] == [ids[2], ids[1]]  # newest first, limited
    newest = infos[0]
    assert newest.count == 3 and newest.client_id == 116078 and newest.company_name == "Acme"
    assert newest.taken_at == START + timedelta(hours=2)
    assert newest.fingerprint == latest.fingerprint and newest.connector_version == "0.1.0"


def test_prune_keeps_the_newest_and_their_members(store: SnapshotStore) -> None:
    ids = [store.save(roster("a@example.com", at=i), connector_version="x") for i in range(5)]
    assert store.prune(2) == 3
    assert [i.id for i in store.history(10)] == [ids[4], ids[3]]
    assert store.prune(2) == 0
    with sqlite3.connect(store.path) as db:  # the members of pruned snapshots went with them
        left = {row[0] for row in db.execute("SELECT DISTINCT snapshot_id FROM members")}
    assert left == {ids[3], ids[4]}
    with pytest.raises(ValueError, match="at least 1"):
        store.prune(0)


def test_unknown_snapshot_id_is_a_config_error_naming_the_file(store: SnapshotStore) -> None:
    store.save(roster(), connector_version="x")
    with pytest.raises(ConfigError, match=r"no snapshot 42 in .*snapshots\.sqlite3") as info:
        store.get(42)
    assert "history" in info.value.hint
    with pytest.raises(ConfigError, match="no snapshot 42"):
        store.info(42)


def test_new_state_dir_is_created_private_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "state" / "snapshots.sqlite3"
    store = SnapshotStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    store.save(roster(), connector_version="x")
    SnapshotStore(path)  # opening again migrates nothing and loses nothing
    assert len(store.history(5)) == 1


def make_v1_database(path: Path) -> None:
    """A database as the first release wrote it: no connector_version column."""
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE snapshots (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                taken_at TEXT NOT NULL,
                client_id INTEGER NOT NULL,
                company_name TEXT,
                fingerprint TEXT NOT NULL,
                member_count INTEGER NOT NULL,
                pages INTEGER NOT NULL,
                source_url TEXT NOT NULL,
                selectors_version TEXT NOT NULL
            );
            CREATE TABLE members (
                snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                email TEXT NOT NULL,
                name TEXT,
                role TEXT NOT NULL,
                status TEXT NOT NULL,
                invoice_admin INTEGER NOT NULL,
                is_self INTEGER NOT NULL,
                PRIMARY KEY (snapshot_id, position)
            );
            INSERT INTO snapshots VALUES (1, '2024-12-31T23:00:00+00:00', 116078, 'Old Co',
                'sha256:old', 2, 1, 'https://app.example/m', '2024.9');
            INSERT INTO members VALUES (1, 0, 'admin@example.com', 'Ada', 'Administrator',
                'active', 0, 1);
            INSERT INTO members VALUES (1, 1, 'bo@example.com', NULL, 'General User',
                'pending', 1, 0);
            PRAGMA user_version = 1;
            """
        )


def test_migrates_a_version_1_database(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    make_v1_database(path)
    store = SnapshotStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in db.execute("PRAGMA table_info(snapshots)")]
    assert "connector_version" in columns
    old = store.history(1)[0]
    assert (old.id, old.count, old.connector_version) == (1, 2, None)
    assert old.taken_at == datetime(2024, 12, 31, 23, tzinfo=UTC)
    kept = store.get(1)
    assert [m.email for m in kept.members] == ["admin@example.com", "bo@example.com"]
    assert kept.members[1].status == Status.PENDING and kept.members[1].invoice_admin
    new_id = store.save(roster("c@example.com"), connector_version="0.2.0")
    assert [i.connector_version for i in store.history(5)] == ["0.2.0", None]
    assert new_id == 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match="schema version 99"):
        SnapshotStore(path)


def test_corrupt_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes\n" * 100)
    with pytest.raises(ConfigError, match=re.escape(f"snapshot database {path} is unusable")):
        SnapshotStore(path)


def test_a_folder_in_its_place_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "snapshots.sqlite3"
    path.mkdir()
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        SnapshotStore(path)


def test_a_failed_save_leaves_nothing_behind(store: SnapshotStore) -> None:
    store.save(roster("a@example.com"), connector_version="x")
    with sqlite3.connect(store.path) as db:  # a real failure half-way through the members
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON members WHEN NEW.email = 'bad@example.com' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    with pytest.raises(ConfigError, match="disk says no"):
        store.save(roster("a@example.com", "bad@example.com"), connector_version="x")
    assert len(store.history(10)) == 1
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM members").fetchone()[0] == 2


def test_readers_never_see_half_a_snapshot_while_one_is_written(store: SnapshotStore) -> None:
    rosters = [roster(*[f"u{i}-{n}@example.com" for i in range(200)], at=n) for n in range(15)]
    expected = {r.fingerprint for r in rosters}
    store.save(rosters[0], connector_version="x")
    reader_started = threading.Event()
    writer_done = threading.Event()
    seen: list[str] = []
    problems: list[BaseException] = []

    def read() -> None:
        other = SnapshotStore(store.path)  # a second connection, as another process would
        raw = sqlite3.connect(store.path)
        try:
            for _ in range(100_000):  # bounded, whatever happens to the writer
                latest = other.latest_roster()
                assert latest is not None and latest.fingerprint in expected
                assert latest.count == 201
                seen.append(latest.fingerprint)
                head, rows = raw.execute(
                    "SELECT member_count, (SELECT count(*) FROM members WHERE snapshot_id = s.id)"
                    " FROM snapshots s ORDER BY id DESC LIMIT 1"
                ).fetchone()
                assert head == rows
                reader_started.set()
                if writer_done.is_set():
                    break
        except BaseException as exc:
            problems.append(exc)
        finally:
            reader_started.set()
            raw.close()

    thread = threading.Thread(target=read)
    thread.start()
    assert reader_started.wait(30)
    for r in rosters[1:]:
        store.save(r, connector_version="x")
        store.prune(5)
    writer_done.set()
    thread.join(60)
    assert not thread.is_alive()
    assert problems == []
    assert len(seen) > 1


def test_two_writers_both_land(store: SnapshotStore) -> None:
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        other = SnapshotStore(store.path)
        try:
            for n in range(20):
                other.save(roster(f"{tag}{n}@example.com", at=n), connector_version=tag)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(store.history(100)) == 40

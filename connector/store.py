"""Roster snapshots in SQLite: `<state_dir>/snapshots.sqlite3`.

WAL mode, so readers never block the writer nor see half a snapshot; every write is one
transaction. The schema version is `PRAGMA user_version`; each migration moves it up by one, inside
the same transaction as its DDL. A file that is not a usable database is a ConfigError naming it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from connector.database import Database, to_text, transaction
from connector.errors import ConfigError
from connector.models import Account, Member, MemberList, Role, SnapshotInfo, Status

__all__ = [
    "FILE_NAME",
    "SnapshotInfo",
    "SnapshotStore",
]  # SnapshotInfo: the model, kept importable here

FILE_NAME = "snapshots.sqlite3"

# MIGRATIONS[n] moves the schema from version n to n + 1. Never edit a released step: append one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1
        """CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            taken_at TEXT NOT NULL,
            client_id INTEGER NOT NULL,
            company_name TEXT,
            fingerprint TEXT NOT NULL,
            member_count INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            source_url TEXT NOT NULL,
            selectors_version TEXT NOT NULL
        )""",
        """CREATE TABLE members (
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            email TEXT NOT NULL,
            name TEXT,
            role TEXT NOT NULL,
            status TEXT NOT NULL,
            invoice_admin INTEGER NOT NULL,
            is_self INTEGER NOT NULL,
            PRIMARY KEY (snapshot_id, position)
        )""",
    ),
    (  # 1 -> 2: which connector took the snapshot (NULL for older rows)
        "ALTER TABLE snapshots ADD COLUMN connector_version TEXT",
    ),
    (  # 2 -> 3: the confidence gate's finding a person overrode (--accept-drop), else NULL
        "ALTER TABLE snapshots ADD COLUMN accepted_drop TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_INFO_COLUMNS = (
    "id, taken_at, client_id, company_name, member_count, fingerprint, connector_version,"
    " accepted_drop"
)
_INFO_FIELDS = (
    "id",
    "taken_at",
    "client_id",
    "company_name",
    "count",
    "fingerprint",
    "connector_version",
    "accepted_drop",
)


class SnapshotStore:
    """Open (creating and migrating as needed) the snapshot database at `path`.

    Each call uses its own short-lived connection, so a store may be shared across threads and
    processes; SQLite's locking does the rest.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._changed_cache: tuple[int, dict[str, datetime]] | None = None
        self._db = Database(
            path,
            MIGRATIONS,
            label="snapshot database",
            hint="The file is damaged: restore it from a backup, or move it aside (the next sync "
            "then starts a new history).",
        )

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> SnapshotStore:
        return cls(state_dir / FILE_NAME)

    # ------------------------------------------------------------------ writes

    def save(
        self, roster: MemberList, *, connector_version: str, accepted_drop: str | None = None
    ) -> int:
        """Store `roster`; returns the new snapshot's id. `accepted_drop`: the confidence
        gate's finding that a person overrode for it (it becomes a baseline of the gate)."""
        with self._db.connect() as db, transaction(db, immediate=True):
            cursor = db.execute(
                "INSERT INTO snapshots (taken_at, client_id, company_name, fingerprint,"
                " member_count, pages, source_url, selectors_version, connector_version,"
                " accepted_drop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    to_text(roster.scraped_at),
                    roster.account.client_id,
                    roster.account.company_name,
                    roster.fingerprint,
                    roster.count,
                    roster.pages,
                    roster.source_url,
                    roster.selectors_version,
                    connector_version,
                    accepted_drop,
                ),
            )
            snapshot_id = cursor.lastrowid
            assert snapshot_id is not None
            db.executemany(
                "INSERT INTO members (snapshot_id, position, email, name, role, status,"
                " invoice_admin, is_self) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        snapshot_id,
                        position,
                        m.email,
                        m.name,
                        m.role.value,
                        m.status.value,
                        int(m.invoice_admin),
                        int(m.is_self),
                    )
                    for position, m in enumerate(roster.members)
                ],
            )
        return snapshot_id

    def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` snapshots; returns how many were deleted."""
        if keep < 1:
            raise ValueError(f"keep must be at least 1 (got {keep})")
        with self._db.connect() as db, transaction(db, immediate=True):
            old = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM snapshots ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,)
                )
            ]
            db.executemany("DELETE FROM snapshots WHERE id = ?", [(i,) for i in old])
        return len(old)

    # ------------------------------------------------------------------ reads

    def latest_roster(self) -> MemberList | None:
        """The newest snapshot's roster, or None when nothing is stored yet."""
        with self._db.connect() as db, transaction(db):
            row = db.execute("SELECT max(id) FROM snapshots").fetchone()
            return None if row[0] is None else self._roster(db, int(row[0]))

    def get(self, snapshot_id: int) -> MemberList:
        with self._db.connect() as db, transaction(db):
            return self._roster(db, snapshot_id)

    def history(self, limit: int) -> list[SnapshotInfo]:
        """The newest `limit` snapshots, newest first."""
        with self._db.connect() as db:
            rows = db.execute(
                f"SELECT {_INFO_COLUMNS} FROM snapshots ORDER BY id DESC LIMIT ?",  # noqa: S608
                (max(limit, 0),),
            ).fetchall()
        return [self._info(row) for row in rows]

    def changed_at(self) -> dict[str, datetime]:
        """When each member last changed, from the history: for a member of the newest snapshot,
        the first snapshot of the unbroken run in which their row is exactly as it is now; for
        one no longer listed, the first snapshot after the last that listed them. SCIM's
        meta.lastModified. Cached per newest snapshot (the history only grows at its head)."""
        with self._db.connect() as db, transaction(db):
            newest = db.execute("SELECT max(id) FROM snapshots").fetchone()[0]
            if newest is None:
                return {}
            cached = self._changed_cache
            if cached is not None and cached[0] == newest:
                return cached[1]
            taken = db.execute("SELECT id, taken_at FROM snapshots ORDER BY id DESC").fetchall()
            rows: dict[int, dict[str, tuple[object, ...]]] = {}
            for r in db.execute(
                "SELECT snapshot_id, email, name, role, status, invoice_admin, is_self FROM members"
            ):
                rows.setdefault(int(r[0]), {})[str(r[1])] = tuple(r[2:])
        changed: dict[str, datetime] = {}
        current = rows.get(int(taken[0][0]), {})
        settled: set[str] = set()
        newer_at = datetime.fromisoformat(taken[0][1])
        for snapshot_id, taken_at in taken:  # newest first
            at = datetime.fromisoformat(taken_at)
            members = rows.get(int(snapshot_id), {})
            for email, row in members.items():
                if email in settled:
                    continue
                if email in current and row == current[email]:
                    changed[email] = at  # still the row it is now: it goes back this far
                    continue
                if email not in current and email not in changed:
                    changed[email] = newer_at  # first seen gone in the next newer snapshot
                settled.add(email)
            settled |= {e for e in current if e not in members}  # a gap ends the run
            newer_at = at
        self._changed_cache = (int(newest), changed)
        return changed

    def emails_ever(self) -> frozenset[str] | None:
        """Every address in any stored snapshot; None when no snapshot is stored (no history)."""
        with self._db.connect() as db, transaction(db):
            if db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0:
                return None
            rows = db.execute("SELECT DISTINCT email FROM members").fetchall()
        return frozenset(str(r[0]) for r in rows)

    def last_accepted(self) -> SnapshotInfo | None:
        """The newest snapshot a person stored past the confidence gate (--accept-drop)."""
        with self._db.connect() as db:
            row = db.execute(
                f"SELECT {_INFO_COLUMNS} FROM snapshots WHERE accepted_drop IS NOT NULL"  # noqa: S608
                " ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return self._info(row) if row else None

    def info(self, snapshot_id: int) -> SnapshotInfo:
        with self._db.connect() as db:
            row = db.execute(
                f"SELECT {_INFO_COLUMNS} FROM snapshots WHERE id = ?",  # noqa: S608
                (snapshot_id,),
            ).fetchone()
        if row is None:
            raise self._unknown(snapshot_id)
        return self._info(row)

    # ------------------------------------------------------------------ internals

    def _roster(self, db: sqlite3.Connection, snapshot_id: int) -> MemberList:
        head = db.execute(
            "SELECT taken_at, client_id, company_name, pages, source_url, selectors_version"
            " FROM snapshots WHERE id = ?",
            (snapshot_id,),
        ).fetchone()
        if head is None:
            raise self._unknown(snapshot_id)
        rows = db.execute(
            "SELECT email, name, role, status, invoice_admin, is_self FROM members"
            " WHERE snapshot_id = ? ORDER BY position",
            (snapshot_id,),
        ).fetchall()
        try:
            return MemberList(
                account=Account(client_id=head[1], company_name=head[2]),
                members=[
                    Member(
                        email=r[0],
                        name=r[1],
                        role=Role(r[2]),
                        status=Status(r[3]),
                        invoice_admin=bool(r[4]),
                        is_self=bool(r[5]),
                    )
                    for r in rows
                ],
                scraped_at=datetime.fromisoformat(head[0]),
                pages=head[3],
                source_url=head[4],
                selectors_version=head[5],
            )
        except (ValidationError, ValueError) as exc:
            raise ConfigError(
                f"snapshot {snapshot_id} in {self.path} does not hold a valid roster: "
                f"{str(exc).splitlines()[0]}"
            ) from None

    def _info(self, row: tuple[object, ...]) -> SnapshotInfo:
        return SnapshotInfo.model_validate(dict(zip(_INFO_FIELDS, row, strict=True)))

    def _unknown(self, snapshot_id: int) -> ConfigError:
        return ConfigError(
            f"no snapshot {snapshot_id} in {self.path}",
            hint="`stitch-connector history` lists the stored snapshots and their ids.",
        )

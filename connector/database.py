"""One SQLite file in the state dir: WAL mode, explicit transactions, numbered migrations.

The snapshot store and the service's job store each own a file built on this. The schema version
is `PRAGMA user_version`; each migration moves it up by one, inside the same transaction as its
DDL. A file that is not a usable database is a ConfigError naming it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from connector.errors import ConfigError, TransientFailure

_BUSY_TIMEOUT_S = 10.0  # a second writer waits this long for the first one's transaction

Migrations = tuple[tuple[str, ...], ...]  # [n] moves the schema from version n to n + 1


class Database:
    def __init__(self, path: Path, migrations: Migrations, *, label: str, hint: str) -> None:
        """`label` names the file in errors ("snapshot database"); `hint` says what to do
        when it is unusable."""
        self.path = path
        self.label = label
        self.hint = hint
        self.version = len(migrations)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():  # rosters hold names and emails: owner-only from the start
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise ConfigError(f"{label} {path}: {exc.strerror or exc}") from None
        with self.connect() as db:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a file system without shared memory
                raise ConfigError(f"{label} {path}: cannot use WAL mode (got {mode})")
            self._migrate(db, migrations)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit); any database failure
        becomes a ConfigError that names the file."""
        try:
            with closing(
                sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            ) as db:
                db.execute("PRAGMA foreign_keys = ON")
                yield db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):  # another writer outlasted the wait
                raise TransientFailure(f"{self.label} {self.path} is busy: {exc}") from None
            raise ConfigError(
                f"{self.label} {self.path} is unusable: {exc}", hint=self.hint
            ) from None
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{self.label} {self.path} is unusable: {exc}", hint=self.hint
            ) from None

    def _migrate(self, db: sqlite3.Connection, migrations: Migrations) -> None:
        with transaction(db, immediate=True):  # two processes never migrate at once
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > self.version:
                raise ConfigError(
                    f"{self.label} {self.path} has schema version {version}; this connector "
                    f"knows up to {self.version}",
                    hint="Upgrade stitch-connector, or point STITCH_STATE_DIR elsewhere.",
                )
            for step in range(version, self.version):
                for statement in migrations[step]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")


@contextmanager
def transaction(db: sqlite3.Connection, *, immediate: bool = False) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any error. IMMEDIATE takes the write lock up front, so a
    writer waits for another writer at BEGIN instead of failing halfway through."""
    db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        if db.in_transaction:  # SQLite may already have rolled back (e.g. a full disk)
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def to_text(moment: datetime) -> str:
    """ISO 8601 in UTC: sorts as text, and reads back aware."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()

"""One SQLite file in the state dir: WAL mode, explicit transactions, numbered migrations.

The snapshot store and the service's job store each own a file built on this. The schema version
is `PRAGMA user_version`; each migration moves it up by one, inside the same transaction as its
DDL. A file that is not a usable database is a ConfigError naming it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
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
            if not path.exists():
                self._create(migrations)
            elif path.is_file() and path.stat().st_size == 0 and not _has_wal(path):
                raise ConfigError(
                    f"{label} {path} is empty (0 bytes): it was truncated, or a disk fault cut "
                    "it short; it is not opened as a new, empty history",
                    hint=f"Restore {path.name} from a backup; or, to start a new history on "
                    "purpose, delete the empty file and run again.",
                )
        except OSError as exc:
            disk = _disk_problem(path.parent)
            raise ConfigError(
                f"{label} {path}: {exc.strerror or exc}" + (f" ({disk})" if disk else ""),
                hint="Free space on the state dir's volume, or make STITCH_STATE_DIR writable "
                "by this user, then run again.",
            ) from None
        with self.connect() as db:
            self._use_wal(db)
            self._migrate(db, migrations)

    def _use_wal(self, db: sqlite3.Connection) -> None:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # e.g. a file system without shared memory
            raise ConfigError(f"{self.label} {self.path}: cannot use WAL mode (got {mode})")

    def _create(self, migrations: Migrations) -> None:
        """A new database appears complete or not at all: built and migrated under a private
        name, then linked into place (so an empty file at `path` is never one of ours). Rosters
        hold names and emails: owner-only from the start."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{id(self):x}.new")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            with closing(sqlite3.connect(tmp, isolation_level=None)) as db:
                self._use_wal(db)
                self._migrate(db, migrations)
            with suppress(FileExistsError):  # another process created it first: use that
                os.link(tmp, self.path)
        finally:
            for leftover in (
                tmp,
                tmp.with_name(tmp.name + "-wal"),
                tmp.with_name(tmp.name + "-shm"),
            ):
                leftover.unlink(missing_ok=True)

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
            raise self._unusable(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from None

    def _unusable(self, exc: sqlite3.Error) -> ConfigError:
        """A disk that is full, read-only or unreachable gets a hint that leaves a healthy file
        alone; damage to the file itself gets the caller's (restore it, or move it aside)."""
        message = f"{self.label} {self.path} is unusable: {exc}"
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        disk = None if primary in _DAMAGED else _disk_problem(self.path.parent)
        if disk is None and primary not in _DISK:
            return ConfigError(message, hint=self.hint)
        why = disk or "the disk, or the state dir's permissions, refused the access"
        return ConfigError(
            f"{message} ({why})",
            hint="The database itself is most likely fine: do not move it aside. Free space on "
            "the state dir's volume, or make STITCH_STATE_DIR writable by this user, then run "
            "again.",
        )

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


_DAMAGED = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB: the file itself is bad
# SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: the disk or access
_DISK = frozenset({3, 8, 10, 13, 14})


def _has_wal(path: Path) -> bool:
    """A write-ahead log with content: a crash before the first checkpoint, which SQLite
    recovers from, not an empty database."""
    wal = path.with_name(path.name + "-wal")
    return wal.is_file() and wal.stat().st_size > 0


def _disk_problem(folder: Path) -> str | None:
    """ "the disk is full", "the file system is read-only", or None when neither shows."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return "the file system is read-only"
    if stats.f_bavail == 0:
        return "the disk is full"
    if not os.access(folder, os.W_OK):
        return "the state dir is not writable by this user"
    return None


def to_text(moment: datetime) -> str:
    """ISO 8601 in UTC: sorts as text, and reads back aware."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()

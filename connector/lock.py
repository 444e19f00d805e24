"""One write run per Stitch account: a kernel lock on `<state dir>/write.lock`. Reads never take it.

The lock is `flock(LOCK_EX | LOCK_NB)` on a file descriptor the run keeps open for as long as it
writes. Mutual exclusion and release are the kernel's job, not the file's content: a run that dies
in any way (kill -9, OOM, a pod evicted) drops the lock with its last descriptor, on any host, and
a second taker fails at once. The file is never deleted or replaced (that would let two runs lock
two different files), so there is nothing to take over and nothing to clean up by hand.

What the file holds (owner, pid, host, start, run id, token) is written after the lock is taken,
for the LockHeld message only: an empty or garbled file (a full disk, a crash mid-write) is not an
error and never blocks a later run.

Each acquisition gets a fencing token, one more than the last (`write.lock.token`, written under
the lock). `check()` proves, before each click, that this run still holds the lock on the file at
that path and that no later run has taken a newer token.

Caveat: flock is reliable on local file systems (and on one Kubernetes volume mounted by one node
at a time, e.g. ReadWriteOnce). On NFS it is emulated with byte-range locks whose release on death
depends on the server's lease recovery; keep the state dir on a local or block-backed volume.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from connector.errors import ConfigError, LockHeld, LockLost
from connector.logs import get_logger

log = get_logger(__name__)

FILE_NAME = "write.lock"
TOKEN_SUFFIX = ".token"  # noqa: S105 - a fencing token, not a secret


def _describe(info: dict[str, object] | None) -> str:
    if not info:
        return "another write run holds the lock (its details are not readable)"
    return (
        f"another write run holds the lock: {info.get('owner')} (pid {info.get('pid')} on "
        f"{info.get('host')}, since {info.get('started_at')}, run {info.get('run_id')})"
    )


def _read_info(path: Path) -> dict[str, object] | None:
    """The holder's details as written, or None when empty, garbled or absent."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


class WriteLock:
    def __init__(self, state_dir: Path, *, owner: str, run_id: str) -> None:
        self.path = state_dir / FILE_NAME
        self.token_path = state_dir / (FILE_NAME + TOKEN_SUFFIX)
        self.info: dict[str, object] = {
            "owner": owner,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(),
            "run_id": run_id,
        }
        self._fd: int | None = None
        self.token: int | None = None  # the fencing token, while the lock is held

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("WriteLock.acquire() called twice")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot open the write lock {self.path}: {exc.strerror or exc}",
                hint="The state dir (STITCH_STATE_DIR) must be a writable folder.",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeld(_describe(_read_info(self.path))) from None
            raise ConfigError(
                f"cannot lock {self.path}: {exc.strerror or exc}",
                hint="The state dir must be on a file system that supports flock (not NFS).",
            ) from None
        self._fd = fd
        try:
            self.token = self._next_token()
        except BaseException:
            self.release()
            raise
        self.info["token"] = self.token
        self._write_info()
        log.info("lock.acquired", path=str(self.path), token=self.token)

    def _next_token(self) -> int:
        """One more than the last run's token, written under the lock (atomically: a crash or a
        full disk leaves the old value). A garbled token file restarts from the largest of it
        and the time, so the token still grows."""
        try:
            last = int(self.token_path.read_text(encoding="ascii").strip() or "0")
        except FileNotFoundError:
            last = 0
        except (OSError, ValueError):
            log.warning("lock.token_unreadable", path=str(self.token_path))
            last = int(datetime.now(UTC).timestamp())
        token = last + 1
        tmp = self.token_path.with_name(f".{self.token_path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="ascii") as fh:
                fh.write(f"{token}\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.token_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(
                f"cannot write the lock's fencing token {self.token_path}: {exc.strerror or exc}",
                hint="Free space on (or make writable) the state dir's volume; nothing was "
                "clicked.",
            ) from None
        return token

    def _write_info(self) -> None:
        """Who holds it, for the LockHeld message of others: best effort (a full disk only
        leaves them a less helpful message)."""
        assert self._fd is not None
        blob = (json.dumps(self.info) + "\n").encode("utf-8")
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, blob, 0)
            os.fsync(self._fd)
        except OSError as exc:
            log.warning("lock.info_not_written", path=str(self.path), error=str(exc))

    def check(self) -> None:
        """Raise LockLost unless this run still holds the lock: the descriptor is locked, the
        path still names the file it locked, and no later run has taken a newer token. Called
        before each click."""
        if self._fd is None or self.token is None:
            raise LockLost(f"the write lock {self.path} is not held by this run")
        try:
            mine = os.fstat(self._fd)
            there = os.stat(self.path)
        except FileNotFoundError:
            raise LockLost(
                f"the write lock {self.path} was deleted while this run held it"
            ) from None
        except OSError as exc:
            raise LockLost(f"the write lock {self.path} cannot be checked: {exc}") from None
        if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino):
            raise LockLost(f"the write lock {self.path} was replaced while this run held it")
        try:
            current = int(self.token_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            raise LockLost(f"the fencing token {self.token_path} is gone or unreadable") from None
        if current != self.token:
            raise LockLost(
                f"another run took the write lock (fencing token {current}, this run has "
                f"{self.token})"
            )

    @staticmethod
    def holder(state_dir: Path) -> dict[str, object] | None:
        """Who holds the lock now, or None when nobody does. Asks the kernel with a shared lock
        taken for an instant (a writer starting in that instant is told the lock is held)."""
        path = state_dir / FILE_NAME
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError:
            return {"unreadable": True}
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return _read_info(path) or {"unreadable": True}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def release(self) -> None:
        """Drop the lock. The file stays (never deleted: see the module docstring)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # nobody holds it: no details to show
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self.token = None
        log.info("lock.released")

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

"""One write run per Stitch account: a lock file in the state dir. Reads never take it.

The lock records who holds it. A lock left by a process that died on this host is taken over;
one from another host, or unreadable, is respected and reported.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from connector.errors import LockHeld
from connector.logs import get_logger

log = get_logger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class WriteLock:
    def __init__(self, state_dir: Path, *, owner: str, run_id: str) -> None:
        self.path = state_dir / "write.lock"
        self.info = {
            "owner": owner,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(),
            "run_id": run_id,
        }
        self._held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for _ in range(3):  # a stale lock is moved aside, then creation is tried again
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.info, fh)
            self._held = True
            log.info("lock.acquired", path=str(self.path))
            return
        raise LockHeld(f"could not take the write lock {self.path}")

    def _take_over_if_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(holder["pid"]), str(holder["host"])
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError, KeyError, TypeError):
            raise LockHeld(
                f"the write lock {self.path} is unreadable",
                hint=f"If no other run is writing, delete {self.path}.",
            ) from None
        if host == socket.gethostname() and not _alive(pid):
            stale = self.path.with_name(f"write.lock.stale-{pid}")
            try:
                os.replace(self.path, stale)  # atomic: only one taker wins the rename
            except FileNotFoundError:
                return
            log.warning("lock.stale_taken_over", previous=holder)
            return
        raise LockHeld(
            f"another write run holds the lock: {holder.get('owner')} (pid {pid} on {host}, "
            f"since {holder.get('started_at')}, run {holder.get('run_id')})"
        )

    @staticmethod
    def holder(state_dir: Path) -> dict[str, object] | None:
        """Who holds the lock now, or None when nobody alive does."""
        try:
            info = json.loads((state_dir / "write.lock").read_text(encoding="utf-8"))
            pid, host = int(info["pid"]), str(info["host"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return {"unreadable": True}  # respected, as acquire() respects it
        if host == socket.gethostname() and not _alive(pid):
            return None
        return dict(info)

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False
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

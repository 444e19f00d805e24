"""Files only their owner may read (sessions, rosters, evidence), each written whole."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from connector.errors import ConfigError


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable by the owner only (storage state holds session cookies)."""
    write_private_text(path, json.dumps(data))


def write_private_text(path: Path, text: str) -> None:
    """Write a file readable by the owner only, whole: to a unique temporary file, then
    renamed, so two runs never interleave one file and a reader never sees half of it.
    A state dir that cannot be written (read-only, full) is a ConfigError, not a crash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="The state dir (STITCH_STATE_DIR) must be writable by this user and its volume "
        "not full.",
    )

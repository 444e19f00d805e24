"""`--export DIR`: the roster as roster.json and roster.csv, each replaced whole."""

from __future__ import annotations

import os
from pathlib import Path

from connector.cli import render
from connector.errors import ConfigError
from connector.models import MemberList


def export_roster(roster: MemberList, folder: Path) -> list[Path]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--export {folder}: {exc.strerror or exc}") from None
    written = []
    for name, text in (
        ("roster.json", render.to_json(roster)),
        ("roster.csv", render.to_csv(roster)),
    ):
        path = folder / name
        _replace(path, text)
        written.append(path)
    return written


def _replace(path: Path, text: str) -> None:
    """Readers of `path` see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None

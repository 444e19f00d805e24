"""Prometheus text for node-exporter's textfile collector: one file per sync run, replaced whole.

A fresh registry per write, so nothing from this process (or an earlier run) leaks in. Every label
value is always written, zeros included, so alerts never depend on a series appearing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from connector.changes import ChangeKind
from connector.errors import ConfigError
from connector.models import MemberList, Role, Status


class SyncOutcome(StrEnum):
    OK = "ok"
    CONFIDENCE_GATE = "confidence_gate"
    ERROR = "error"


def write_sync_metrics(
    path: Path,
    *,
    outcome: SyncOutcome,
    duration_seconds: float,
    roster: MemberList | None = None,
    changes: Mapping[ChangeKind, int] | None = None,
    last_success: datetime | None = None,
) -> None:
    """Write the run's metrics to `path` atomically (a temporary file, then a rename).

    `roster` and `changes` are left out when the run has none (it failed before them);
    `last_success` is written only when known, so a failed run never moves it.
    """
    registry = CollectorRegistry()
    outcome_gauge = Gauge(
        "stitch_sync_outcome",
        "1 for how the last sync run ended, 0 for the others.",
        ["outcome"],
        registry=registry,
    )
    for each in SyncOutcome:
        outcome_gauge.labels(outcome=each.value).set(1 if each == outcome else 0)
    Gauge(
        "stitch_sync_duration_seconds", "How long the last sync run took.", registry=registry
    ).set(duration_seconds)
    if last_success is not None:
        Gauge(
            "stitch_sync_last_success_timestamp_seconds",
            "When a sync last stored a snapshot (Unix time).",
            registry=registry,
        ).set(last_success.timestamp())
    if roster is not None:
        members = Gauge(
            "stitch_members",
            "Members of the Stitch account in the last stored roster, by role and status.",
            ["role", "status"],
            registry=registry,
        )
        for role in Role:
            for status in Status:
                count = sum(1 for m in roster.members if m.role == role and m.status == status)
                members.labels(role=role.value, status=status.value).set(count)
    if changes is not None:
        by_kind = Gauge(
            "stitch_sync_changes",
            "Roster changes found by the last sync run, by kind.",
            ["kind"],
            registry=registry,
        )
        for kind, count in changes.items():
            by_kind.labels(kind=kind.value).set(count)
    try:
        _replace_readable(path, generate_latest(registry))
    except OSError as exc:
        raise ConfigError(f"cannot write the metrics file {path}: {exc.strerror or exc}") from None


def _replace_readable(path: Path, data: bytes) -> None:
    """Write whole, then rename into place. Mode 0644 from the first byte: the run's umask is
    077 (its own files are private) but node-exporter reads this one as another user."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "wb") as out:
        os.fchmod(out.fileno(), 0o644)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)

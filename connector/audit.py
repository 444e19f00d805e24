"""The audit trail: append-only JSON Lines, one record per attempted action, hash-chained.

Each record carries the SHA-256 of the previous record, and its own hash over everything else,
so an edit, a deletion or a reordering breaks the chain at a findable place. A head file beside it
(`audit.jsonl.head`) holds the last record's seq and hash, so cutting records off the end is
found too (unless the head is rewritten as well: keep a copy of it elsewhere for that).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from connector.models import Member

GENESIS = "0" * 64


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    run_id: str
    request_id: str | None
    actor: str
    target: str
    action: str | None
    outcome: str
    rule: str | None
    reason: str | None
    request_reason: str | None = None  # why the caller asked (absent in records before 0.1.1)
    started_at: datetime
    finished_at: datetime
    connector_version: str
    row_before: Member | None
    roster_fingerprint_before: str | None
    roster_fingerprint_after: str | None
    evidence: list[str]
    prev_hash: str
    hash: str


def _digest(fields: dict[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")

    def append(self, **fields: Any) -> AuditRecord:
        """Add one record, chained to the last. Safe against concurrent appenders (flock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            lines = [line for line in fh.read().splitlines() if line.strip()]
            prev = json.loads(lines[-1]) if lines else None
            draft = {
                **fields,
                "seq": (prev["seq"] + 1) if prev else 1,
                "prev_hash": prev["hash"] if prev else GENESIS,
                "hash": "",
            }
            # Validate and normalise first, so the hash covers exactly what is written.
            normal = AuditRecord.model_validate(draft).model_dump(mode="json")
            normal["hash"] = _digest(normal)
            fh.seek(0, 2)
            fh.write(json.dumps(normal, sort_keys=True, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            self._write_head(int(normal["seq"]), str(normal["hash"]))
        return AuditRecord.model_validate(normal)

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        tmp.write_text(json.dumps({"seq": seq, "hash": digest}) + "\n", encoding="utf-8")
        os.replace(tmp, self.head_path)

    def records(self) -> list[AuditRecord]:
        if not self.path.is_file():
            return []
        return [
            AuditRecord.model_validate_json(line)
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def verify(self) -> tuple[int, str | None]:
        """(records checked, problem). The problem names the first broken line and why."""
        if not self.path.is_file():
            return 0, None
        prev_hash = GENESIS
        count = 0
        raw = self.path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except ValueError:
                return count, f"line {number}: not valid JSON"
            if not isinstance(fields, dict):
                return count, f"line {number}: not a record"
            if fields.get("prev_hash") != prev_hash:
                return count, f"line {number} (seq {fields.get('seq')}): the chain is broken here"
            if _digest(fields) != fields.get("hash"):
                return count, f"line {number} (seq {fields.get('seq')}): its content was changed"
            prev_hash = str(fields["hash"])
            count += 1
        return count, self._check_head(count, prev_hash)

    def _check_head(self, count: int, last_hash: str) -> str | None:
        """Records cut off the end leave a valid chain: the head file says where it ended."""
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            seq, digest = int(head["seq"]), str(head["hash"])
        except FileNotFoundError:
            return None  # a trail written before the head file existed
        except (OSError, ValueError, KeyError, TypeError):
            return f"the head file {self.head_path} is unreadable"
        if seq > count:
            return f"truncated: the head file says {seq} records, the trail holds {count}"
        if seq == count and digest != last_hash:
            return f"the last record (seq {seq}) is not the one the head file names"
        if seq < count:
            return f"the head file names seq {seq}, but the trail goes on to {count}"
        return None

    # ------------------------------------------------------------------ questions for the guards

    def unresolved_unknowns(self) -> frozenset[str]:
        """Targets whose last click was never proven: a removal that ended `unknown`, or a
        `clicked` record with no outcome after it (the run died mid-click). A later outcome of
        a real attempt, or a `resolved` record (a person checked), settles it; a refusal does
        not."""
        pending: set[str] = set()
        for record in self.records():
            if record.outcome in ("unknown", "clicked"):
                pending.add(record.target)
            elif record.outcome != "refused":
                pending.discard(record.target)
        return frozenset(pending)

    def removals_since(self, moment: datetime) -> int:
        """Proven removals (deactivated, invitation cancelled) that finished after `moment`."""
        done = ("deactivated", "invitation_cancelled")
        return sum(1 for r in self.records() if r.outcome in done and r.finished_at >= moment)

    def run_ids(self) -> frozenset[str]:
        """Runs the trail refers to: their folders hold its evidence and undo.json."""
        return frozenset(r.run_id for r in self.records())

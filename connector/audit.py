"""The audit trail: append-only JSON Lines, one record per attempted action, hash-chained.

Each record carries the SHA-256 of the previous record, and its own hash over everything else,
so an edit, a deletion or a reordering breaks the chain at a findable place. A head file beside it
(`audit.jsonl.head`) holds the last record's seq and hash, so cutting records off the end is
found too (unless the head is rewritten as well: keep a copy of it elsewhere for that), and so is
a trail deleted while its head file is left.

Tamper rule: nothing is appended to a trail that fails verification, and every write path calls
`require_sound()` before it clicks (AuditBroken, exit 14). A record that a full disk cut short is
taken back, so a disk fault never reads as tampering.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connector.errors import AuditBroken, ConfigError
from connector.models import Member

GENESIS = "0" * 64
_REMOVED = frozenset({"deactivated", "invitation_cancelled"})  # proven removals
_GRANTED = frozenset({"invited", "changed", "reactivated", "invitation_resent"})  # proven grants
_SETTLES_CLICK = _REMOVED | _GRANTED | {"failed"}  # what proves a click's effect either way
_REMOVALS = frozenset({"deactivate", "cancel_invitation", None})  # actions (None: older records)


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
    # Who the caller says asked (a service request's `requested_by`): its word, not verified;
    # `actor` is who called, as authenticated. Absent in older records.
    requested_by: str | None = None
    override_budget: bool = False  # --override-budget let this run past the budget
    started_at: datetime
    finished_at: datetime
    connector_version: str
    row_before: Member | None
    roster_fingerprint_before: str | None
    roster_fingerprint_after: str | None
    evidence: list[str]
    # What proved the outcome: "roster" (a full fresh read), "page" (the row's own page, read
    # fresh: page_proof.py), or None (no read after a click). Absent in older records.
    proof: Literal["roster", "page"] | None = None
    # The approval request this record belongs to (approvals/desk.py), or that the write ran
    # under. Absent in older records.
    approval_id: str | None = None
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
        """Add one record, chained to the last. Safe against concurrent appenders (flock).

        Refused (AuditBroken) over a trail that fails verification, and when the trail is missing
        while its head file says it held records: a write never starts a new chain silently. A
        disk that cannot take it (full, read-only) is a ConfigError: the caller clicks nothing
        more."""
        try:
            return self._append(fields)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the audit trail {self.path}: {exc.strerror or exc}",
                hint="Free space on (or make writable) the state dir's volume; no removal runs "
                "without its audit record. Then run `stitch-connector audit verify`.",
            ) from None

    def _append(self, fields: dict[str, Any]) -> AuditRecord:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            problem = self._missing_trail_problem()
            if problem:
                raise self._broken(problem)
        with open(self.path, "a+", encoding="utf-8", errors="replace") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            raw = fh.read()
            count, problem, last, before_last = self._check_text(raw)
            if problem is None:
                problem = self._check_head(count, last["hash"] if last else GENESIS, before_last)
            if problem:
                raise self._broken(problem)
            prev = last
            draft = {
                **fields,
                "seq": (int(prev["seq"]) + 1) if prev else 1,
                "prev_hash": prev["hash"] if prev else GENESIS,
                "hash": "",
            }
            # Validate and normalise first, so the hash covers exactly what is written.
            normal = AuditRecord.model_validate(draft).model_dump(mode="json")
            normal["hash"] = _digest(normal)
            line = (json.dumps(normal, sort_keys=True, ensure_ascii=False) + "\n").encode()
            fd = fh.fileno()
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                written = 0
                while written < len(line):  # "a+" is O_APPEND: each write lands at the end
                    written += os.write(fd, line[written:])
                os.fsync(fd)
                self._write_head(int(normal["seq"]), str(normal["hash"]))
            except OSError:
                # A full disk: take the record back, so the trail and its head stay sound and
                # the next run, once there is space, is not refused for a torn line.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                    os.fsync(fd)
                raise
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
        """(records checked, problem). The problem names the first broken line and why; a trail
        that is missing, or shorter than its head file says, is a problem too."""
        try:
            fh = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except FileNotFoundError:
            return 0, self._missing_trail_problem()
        with fh:
            fcntl.flock(fh, fcntl.LOCK_SH)  # an append in progress finishes first, head and all
            count, problem, last, before_last = self._check_text(fh.read())
            if problem is None:
                problem = self._check_head(count, last["hash"] if last else GENESIS, before_last)
        return count, problem

    def require_sound(self) -> None:
        """Raise AuditBroken unless the trail verifies. Every write path calls this first: no
        click while the record of earlier clicks cannot be trusted."""
        try:
            _, problem = self.verify()
        except OSError as exc:
            problem = f"it cannot be read: {exc.strerror or exc}"
        if problem:
            raise self._broken(problem)

    def _broken(self, problem: str) -> AuditBroken:
        return AuditBroken(
            f"the audit trail {self.path} is broken: {problem}; no write runs until it is sound"
        )

    @staticmethod
    def _check_text(raw: str) -> tuple[int, str | None, dict[str, Any] | None, str]:
        """(records that chain, the first problem, the last good record, the hash of the one
        before it)."""
        prev_hash = before_last = GENESIS
        count = 0
        last: dict[str, Any] | None = None
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
            except ValueError:
                return count, f"line {number}: not valid JSON", last, before_last
            if not isinstance(fields, dict):
                return count, f"line {number}: not a record", last, before_last
            if fields.get("prev_hash") != prev_hash:
                return (
                    count,
                    f"line {number} (seq {fields.get('seq')}): the chain is broken here",
                    last,
                    before_last,
                )
            if _digest(fields) != fields.get("hash"):
                return (
                    count,
                    f"line {number} (seq {fields.get('seq')}): its content was changed",
                    last,
                    before_last,
                )
            if fields.get("seq") != count + 1:
                return (
                    count,
                    f"line {number} (seq {fields.get('seq')}): out of sequence",
                    last,
                    before_last,
                )
            before_last = prev_hash
            prev_hash = str(fields["hash"])
            count += 1
            last = fields
        return count, None, last, before_last

    def _read_head(self) -> tuple[int, str] | None:
        """(seq, hash) from the head file; None when there is none. Raises ValueError when it
        cannot be read."""
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(head["seq"]), str(head["hash"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the head file {self.head_path} is unreadable") from exc

    def _missing_trail_problem(self) -> str | None:
        """No trail file: fine for a new state dir, tampering when its head says otherwise."""
        try:
            head = self._read_head()
        except ValueError as exc:
            return f"the trail is missing and {exc}"
        if head is not None and head[0] > 0:
            return f"the trail is missing but its head says {head[0]} records"
        return None

    def _check_head(self, count: int, last_hash: str, before_last: str = GENESIS) -> str | None:
        """Records cut off the end leave a valid chain: the head file says where it ended. A
        head one record behind, naming the record before the last, is a run killed between
        writing a record and its head (the next append brings the head up to date)."""
        try:
            head = self._read_head()
        except ValueError as exc:
            return str(exc)
        if head is None:
            return None  # a trail written before the head file existed
        seq, digest = head
        if seq > count:
            return f"truncated: the head file says {seq} records, the trail holds {count}"
        if seq == count and digest != last_hash:
            return f"the last record (seq {seq}) is not the one the head file names"
        if seq == count - 1 and digest == before_last:
            return None
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
            if record.outcome.startswith("approval_"):  # a request's record: no attempt
                continue
            if record.outcome in ("unknown", "clicked"):
                pending.add(record.target)
            elif record.outcome != "refused":
                pending.discard(record.target)
        return frozenset(pending)

    def removals_since(self, moment: datetime) -> int:
        """Removals counted against the day's removal budget from `moment` on (_counted)."""
        return self._counted(moment, _REMOVED, removals=True)

    def grants_since(self, moment: datetime) -> int:
        """Grants (invitations, role changes, reactivations, resends) counted against the day's
        grant budget from `moment` on, the same way as removals."""
        return self._counted(moment, _GRANTED, removals=False)

    def _counted(self, moment: datetime, proven: frozenset[str], *, removals: bool) -> int:
        """What counts against the day's budget from `moment` on: proven removals (deactivated,
        invitation cancelled), plus every click that may have removed someone and was never
        proven either way in its own run (a `clicked` record with no outcome after it: the run
        died). Such a click counts from its time whatever later runs found (a re-run's
        `already_absent` is most likely its effect), unless a later record settles it: a proven
        removal of the same member (counted there instead: one member, one count) or `failed`
        (a fresh read showed the member still there)."""
        records = [
            r
            for r in self.records()
            if (r.action in _REMOVALS) == removals and not r.outcome.startswith("approval_")
        ]
        open_clicks: dict[tuple[str, str], int] = {}  # (run, target) -> its unsettled click
        last_proof: dict[str, int] = {}  # target -> the last record that settles a click
        counted = 0
        for i, record in enumerate(records):
            key = (record.run_id, record.target)
            if record.outcome == "clicked":
                open_clicks[key] = i
                continue
            open_clicks.pop(key, None)  # its own run's outcome settles the click
            if record.outcome in _SETTLES_CLICK:
                last_proof[record.target] = i
            if record.outcome in proven and record.finished_at >= moment:
                counted += 1
        for i in open_clicks.values():  # the run died after the click
            click = records[i]
            if last_proof.get(click.target, -1) < i and click.started_at >= moment:
                counted += 1
        return counted

    def removed_members(self) -> dict[str, datetime]:
        """Each member whose last proven removal by this connector is in the trail (deactivated
        or invitation cancelled), with when it finished."""
        removed: dict[str, datetime] = {}
        for record in self.records():
            if record.outcome in _REMOVED:
                removed[record.target] = record.finished_at
        return removed

    def run_ids(self) -> frozenset[str]:
        """Runs the trail refers to: their folders hold its evidence and undo.json."""
        return frozenset(r.run_id for r in self.records())

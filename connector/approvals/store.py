"""Approval requests in SQLite, in the service's database (service_db.py) beside the jobs they
hold, so a decision, the start of a run and the jobs it frees change in one transaction.

Every state change is one conditional UPDATE: two approvers at once, or the service and a CLI
approving together, find exactly one winner, and a request is carried out by one run only.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.approvals.models import Approval, ApprovalSource, ApprovalStatus
from connector.database import Database, to_text, transaction
from connector.models import Outcome, Plan
from connector.service_db import FILE_NAME, MIGRATIONS

_COLUMNS = (
    "id, status, requested_by, source, rules, reason, plan, created_at, expires_at,"
    " decided_by, decided_at, note, run_id, outcomes, finished_at, superseded_by, error"
)
_RETRY_AFTER_S = 30.0  # an approved request whose run stopped short is tried again after this


class ApprovalStore:
    def __init__(self, path: Path) -> None:
        self._db = Database(
            path,
            MIGRATIONS,
            label="job database",
            hint="Stop the service, move the file aside (queued jobs and approval requests in "
            "it are lost: callers will retry), and start it again.",
        )

    @property
    def database(self) -> Database:
        """The service's database (the notification outbox lives in it too)."""
        return self._db

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ApprovalStore:
        return cls(state_dir / FILE_NAME)

    def add(
        self,
        plan: Plan,
        *,
        request_key: str,
        requested_by: str,
        source: ApprovalSource,
        rules: list[str],
        ttl: timedelta,
        job_request_ids: list[str],
    ) -> tuple[Approval, bool]:
        """(the request, whether it is new). The same requester asking the same writes while
        one is pending finds that one: a retry never asks twice. The jobs whose request ids
        are given are held by it from now (before their run ends: nothing carries it out
        while one of them still runs)."""
        now = datetime.now(UTC)
        with self._db.connect() as db, transaction(db, immediate=True):
            row = db.execute(
                "SELECT id FROM approvals WHERE request_key = ? AND requested_by = ?"
                " AND status = ? ORDER BY created_at LIMIT 1",
                (request_key, requested_by, ApprovalStatus.PENDING.value),
            ).fetchone()
            if row is not None:
                self._hold_jobs(db, str(row[0]), job_request_ids)
                return self._get(db, str(row[0])), False
            approval_id = "apr_" + secrets.token_hex(8)
            db.execute(
                "INSERT INTO approvals (id, status, request_key, requested_by, source, rules,"
                " reason, plan, created_at, expires_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    approval_id,
                    ApprovalStatus.PENDING.value,
                    request_key,
                    requested_by,
                    source,
                    json.dumps(rules),
                    plan.reason,
                    plan.model_dump_json(),
                    to_text(now),
                    to_text(now + ttl),
                    to_text(now),
                ),
            )
            self._hold_jobs(db, approval_id, job_request_ids)
            return self._get(db, approval_id), True

    @staticmethod
    def _hold_jobs(db: sqlite3.Connection, approval_id: str, request_ids: list[str]) -> None:
        db.executemany(
            "UPDATE jobs SET approval_id = ? WHERE request_id = ?",
            [(approval_id, r) for r in request_ids],
        )

    def decide(
        self, approval_id: str, status: ApprovalStatus, by: str, note: str | None
    ) -> Approval | None:
        """Pending → approved or rejected; None when it was no longer pending (or expired)."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            changed = db.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, note = ?,"
                " updated_at = ? WHERE id = ? AND status = ? AND expires_at > ?",
                (status.value, by, now, note, now, approval_id, ApprovalStatus.PENDING.value, now),
            ).rowcount
            return self._get(db, approval_id) if changed else None

    def expire_due(self) -> list[Approval]:
        """Pending requests past their expiry become expired (and are returned)."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            ids = [
                str(r[0])
                for r in db.execute(
                    "SELECT id FROM approvals WHERE status = ? AND expires_at <= ?",
                    (ApprovalStatus.PENDING.value, now),
                )
            ]
            db.executemany(
                "UPDATE approvals SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                [(ApprovalStatus.EXPIRED.value, now, i, ApprovalStatus.PENDING.value) for i in ids],
            )
            return [self._get(db, i) for i in ids]

    def claim(self, approval_id: str, run_id: str) -> Approval | None:
        """Approved → running in `run_id`: the one run that carries it out. None: not
        approved, already taken, or a job it holds is still in the run that held it."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            changed = db.execute(
                "UPDATE approvals SET status = ?, run_id = ?, updated_at = ?, error = NULL"
                " WHERE id = ? AND status = ? AND NOT EXISTS"
                " (SELECT 1 FROM jobs WHERE approval_id = ? AND status = 'running')",
                (
                    ApprovalStatus.RUNNING.value,
                    run_id,
                    now,
                    approval_id,
                    ApprovalStatus.APPROVED.value,
                    approval_id,
                ),
            ).rowcount
            return self._get(db, approval_id) if changed else None

    def finish(
        self,
        approval_id: str,
        run_id: str,
        status: ApprovalStatus,
        outcomes: list[Outcome],
        *,
        superseded_by: str | None = None,
        error: str | None = None,
    ) -> Approval | None:
        """Running → executed, stale or refused, with how each write ended. Fenced by run."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            changed = db.execute(
                "UPDATE approvals SET status = ?, outcomes = ?, finished_at = ?, updated_at = ?,"
                " superseded_by = ?, error = ? WHERE id = ? AND status = ? AND run_id = ?",
                (
                    status.value,
                    json.dumps([o.model_dump(mode="json") for o in outcomes]),
                    now,
                    now,
                    superseded_by,
                    error,
                    approval_id,
                    ApprovalStatus.RUNNING.value,
                    run_id,
                ),
            ).rowcount
            return self._get(db, approval_id) if changed else None

    def release(self, approval_id: str, run_id: str, error: str) -> None:
        """Running → approved again: the run stopped before deciding anything (another writer
        held the lock, the browser failed). Tried again after a while."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE approvals SET status = ?, error = ?, updated_at = ?"
                " WHERE id = ? AND status = ? AND run_id = ?",
                (
                    ApprovalStatus.APPROVED.value,
                    error,
                    now,
                    approval_id,
                    ApprovalStatus.RUNNING.value,
                    run_id,
                ),
            )

    def recover_interrupted(self, *, older_than_s: float = 0.0) -> int:
        """Running requests untouched for `older_than_s` go back to approved. The caller has
        checked that no process holds the account's write lock (every run that carries one
        out holds it), so their process died: the run that carries them out again reads the
        roster fresh, and the audit trail refuses a second click where one was never proven."""
        now = datetime.now(UTC)
        cutoff = to_text(now - timedelta(seconds=older_than_s))
        with self._db.connect() as db, transaction(db, immediate=True):
            return db.execute(
                "UPDATE approvals SET status = ?, error = ?, updated_at = ?"
                " WHERE status = ? AND updated_at <= ?",
                (
                    ApprovalStatus.APPROVED.value,
                    "interrupted: carried out again on a fresh read",
                    to_text(now),
                    ApprovalStatus.RUNNING.value,
                    cutoff,
                ),
            ).rowcount

    def closed_holding_jobs(self) -> list[str]:
        """Requests that are closed (or asked again) while a job still waits on them: a
        decision made while the job's run was still holding it, or a process that died
        between the two writes."""
        with self._db.connect() as db:
            return [
                str(r[0])
                for r in db.execute(
                    "SELECT DISTINCT a.id FROM jobs j JOIN approvals a ON a.id = j.approval_id"
                    " WHERE j.status = 'pending_approval'"
                    " AND a.status IN ('rejected', 'expired', 'executed', 'refused', 'stale')"
                )
            ]

    # ------------------------------------------------------------------ reads

    def get(self, approval_id: str) -> Approval | None:
        with self._db.connect() as db:
            return self._find(db, approval_id)

    def requests(self, status: ApprovalStatus | None = None, limit: int = 100) -> list[Approval]:
        with self._db.connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE ? IS NULL OR status = ?"  # noqa: S608
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (status, status, limit),
            ).fetchall()
        return [_approval(r) for r in rows]

    def ready(self) -> list[str]:
        """Approved requests to carry out now, oldest first (one that stopped short waits a
        little before its next try)."""
        again = to_text(datetime.now(UTC) - timedelta(seconds=_RETRY_AFTER_S))
        with self._db.connect() as db:
            return [
                str(r[0])
                for r in db.execute(
                    "SELECT id FROM approvals WHERE status = ?"
                    " AND (error IS NULL OR updated_at <= ?) ORDER BY decided_at",
                    (ApprovalStatus.APPROVED.value, again),
                )
            ]

    def _find(self, db: sqlite3.Connection, approval_id: str) -> Approval | None:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE id = ?",  # noqa: S608
            (approval_id,),
        ).fetchone()
        return _approval(row) if row else None

    def _get(self, db: sqlite3.Connection, approval_id: str) -> Approval:
        found = self._find(db, approval_id)
        assert found is not None, approval_id
        return found


def _approval(row: tuple[object, ...]) -> Approval:
    fields = dict(zip(_COLUMNS.replace(" ", "").split(","), row, strict=True))
    for name in ("rules", "plan", "outcomes"):
        if fields[name] is not None:
            fields[name] = json.loads(str(fields[name]))
    return Approval.model_validate(fields)

"""Offboarding jobs in SQLite: `<state_dir>/service.sqlite3`.

A job is one person to remove, named by the caller's request id. The request id is the
idempotency key: the same id with the same request finds the same job, with a different request it
is a conflict. Jobs survive restarts; one left `running` by a crash is put back in the queue, and
the removal path verifies on a fresh read before it clicks anything. The same table is the
callbacks' outbox, and SCIM's removed users are kept beside it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.database import Database, to_text, transaction
from connector.errors import IdempotencyConflict
from connector.models import Member, Outcome, OutcomeStatus
from connector.offboard_queue.models import (
    CallbackStatus,
    Job,
    JobStatus,
    OffboardingRequest,
    Source,
)
from connector.service_db import FILE_NAME, MIGRATIONS

_COLUMNS = (
    "id, request_id, email, reason, requested_by, callback_url, source, status, outcome, run_id,"
    " attempts, note, created_at, updated_at, finished_at, callback_status, callback_attempts,"
    " not_before, override_budget, callback_next_at, callback_error, callback_delivery, principal,"
    " approval_id"
)


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = Database(
            path,
            MIGRATIONS,
            label="job database",
            hint="Stop the service, move the file aside (queued jobs in it are lost: their "
            "callers will retry), and start it again.",
        )

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> JobStore:
        return cls(state_dir / FILE_NAME)

    # ------------------------------------------------------------------ the queue

    def submit(
        self, request: OffboardingRequest, *, source: Source, principal: str | None = None
    ) -> tuple[Job, bool]:
        """(the job, whether it is new). The same request id with another request raises."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            row = db.execute(
                f"SELECT body_hash, {_COLUMNS} FROM jobs WHERE request_id = ?",  # noqa: S608
                (request.request_id,),
            ).fetchone()
            if row is not None:
                if row[0] != request.body_hash():
                    raise IdempotencyConflict(
                        f"request id {request.request_id!r} was already used for a different "
                        f"request (job {row[1]})"
                    )
                return _job(row[1:]), False
            job_id = uuid.uuid4().hex
            db.execute(
                "INSERT INTO jobs (id, request_id, body_hash, email, reason, requested_by,"
                " callback_url, source, status, created_at, updated_at, principal)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    request.request_id,
                    request.body_hash(),
                    request.email,
                    request.reason,
                    request.requested_by,
                    str(request.callback_url) if request.callback_url else None,
                    source,
                    JobStatus.QUEUED.value,
                    now,
                    now,
                    principal,
                ),
            )
            return self._get(db, job_id), True

    def claim(self, limit: int, run_id: str, *, only: str | None = None) -> list[Job]:
        """Take up to `limit` queued jobs (or just job `only`, if queued), oldest first, and
        mark them running in `run_id`. Atomic: two processes never claim the same job."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE status = ? AND (? IS NULL OR id = ?)"
                    " AND (not_before IS NULL OR not_before <= ?)"
                    " ORDER BY created_at, rowid LIMIT ?",
                    (JobStatus.QUEUED.value, only, only, now, max(limit, 0)),
                )
            ]
            db.executemany(
                "UPDATE jobs SET status = ?, run_id = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id = ?",
                [(JobStatus.RUNNING.value, run_id, now, i) for i in ids],
            )
            return [self._get(db, i) for i in ids]

    def finish(
        self,
        job_id: str,
        outcome: Outcome,
        *,
        run_id: str,
        note: str | None = None,
        override_budget: bool = False,
    ) -> Job | None:
        """Record the outcome of a job that run `run_id` holds. Fenced: a job another run has
        taken over (or finished) is left alone, and None is returned. The note becomes `note`:
        one that said why it waited in the queue is stale once it has finished."""
        now = to_text(datetime.now(UTC))
        held = outcome.status is OutcomeStatus.PENDING_APPROVAL  # waits: not finished yet
        with self._db.connect() as db, transaction(db, immediate=True):
            changed = db.execute(
                "UPDATE jobs SET status = ?, outcome = ?, note = ?, override_budget = ?,"
                " updated_at = ?, finished_at = ?, not_before = NULL,"
                " approval_id = COALESCE(?, approval_id),"
                " callback_status = CASE WHEN callback_url IS NULL OR ? THEN callback_status"
                " ELSE ? END"
                " WHERE id = ? AND status = ? AND run_id = ?",
                (
                    JobStatus.of(outcome).value,
                    outcome.model_dump_json(),
                    note,
                    int(override_budget),
                    now,
                    None if held else now,
                    outcome.approval_id,
                    int(held),
                    CallbackStatus.PENDING.value,
                    job_id,
                    JobStatus.RUNNING.value,
                    run_id,
                ),
            ).rowcount
            return self._get(db, job_id) if changed else None

    def settle_held(self, approval_id: str, outcomes: Mapping[str, Outcome]) -> list[Job]:
        """The jobs approval `approval_id` holds, given the outcome of their email: finished
        (their callbacks due), or held again by the approval an outcome names. Fenced by the
        approval: a job it no longer holds is left alone."""
        now = to_text(datetime.now(UTC))
        with self._db.connect() as db, transaction(db, immediate=True):
            ids = [
                (r[0], r[1])
                for r in db.execute(
                    "SELECT id, email FROM jobs WHERE approval_id = ? AND status = ?",
                    (approval_id, JobStatus.PENDING_APPROVAL.value),
                )
            ]
            for job_id, email in ids:
                outcome = outcomes.get(email)
                if outcome is None:
                    continue
                held = outcome.status is OutcomeStatus.PENDING_APPROVAL
                db.execute(
                    "UPDATE jobs SET status = ?, outcome = ?, updated_at = ?, finished_at = ?,"
                    " approval_id = ?, note = NULL,"
                    " callback_status = CASE WHEN callback_url IS NULL OR ? THEN callback_status"
                    " ELSE ? END WHERE id = ?",
                    (
                        JobStatus.of(outcome).value,
                        outcome.model_dump_json(),
                        now,
                        None if held else now,
                        outcome.approval_id or approval_id,
                        int(held),
                        CallbackStatus.PENDING.value,
                        job_id,
                    ),
                )
            return [self._get(db, job_id) for job_id, _ in ids]

    def holding(self, approval_id: str) -> list[Job]:
        """The jobs an approval request holds (or held)."""
        with self._db.connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE approval_id = ? ORDER BY created_at",  # noqa: S608
                (approval_id,),
            ).fetchall()
        return [_job(r) for r in rows]

    def requeue(
        self,
        job_ids: list[str],
        note: str,
        *,
        delay_s: float = 0.0,
        run_id: str | None = None,
        uncount: bool = False,
    ) -> None:
        """Put running jobs back in the queue, to be claimed no sooner than `delay_s` from now.
        `run_id`: only jobs that run still holds. `uncount`: the attempt did not count (it
        never got to Stitch, e.g. another writer held the lock)."""
        now = datetime.now(UTC)
        later = to_text(now + timedelta(seconds=delay_s)) if delay_s > 0 else None
        with self._db.connect() as db, transaction(db, immediate=True):
            db.executemany(
                "UPDATE jobs SET status = ?, note = ?, updated_at = ?, not_before = ?,"
                " attempts = attempts - ?"
                " WHERE id = ? AND status = ? AND (? IS NULL OR run_id = ?)",
                [
                    (
                        JobStatus.QUEUED.value,
                        note,
                        to_text(now),
                        later,
                        int(uncount),
                        i,
                        JobStatus.RUNNING.value,
                        run_id,
                        run_id,
                    )
                    for i in job_ids
                ],
            )

    def recover_interrupted(self, *, older_than_s: float = 0.0, besides: str | None = None) -> int:
        """Running jobs whose run is gone go back to the queue: at start-up all of them (a
        previous process left them), later those of no live run that have not moved for
        `older_than_s`. The removal path re-reads the roster before any click, and refuses a
        member whose last click was never proven, so each is verified before it is resumed."""
        cutoff = to_text(datetime.now(UTC) - timedelta(seconds=older_than_s))
        with self._db.connect() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE status = ? AND updated_at <= ?"
                    " AND (? IS NULL OR run_id IS NOT ?)",
                    (JobStatus.RUNNING.value, cutoff, besides, besides),
                )
            ]
        self.requeue(ids, "interrupted: verified on a fresh read before resuming")
        return len(ids)

    def note_queued(self, note: str | None) -> None:
        """Say on every queued job why it waits (the daily budget is used up)."""
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE jobs SET note = ? WHERE status = ? AND note IS NOT ?",
                (note, JobStatus.QUEUED.value, note),
            )

    # ------------------------------------------------------------------ reads

    def get(self, job_id: str) -> Job | None:
        with self._db.connect() as db:
            return self._find(db, job_id)

    def unfinished_for(self, email: str) -> Job | None:
        """The oldest queued, running or held job for this email (SCIM waits on it, and a
        retry joins it rather than asking again)."""
        with self._db.connect() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE email = ? AND status IN (?, ?, ?)"  # noqa: S608
                " ORDER BY created_at LIMIT 1",
                (
                    email,
                    JobStatus.QUEUED.value,
                    JobStatus.RUNNING.value,
                    JobStatus.PENDING_APPROVAL.value,
                ),
            ).fetchone()
        return _job(row) if row else None

    def count(self, status: JobStatus) -> int:
        with self._db.connect() as db:
            return int(
                db.execute("SELECT count(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]
            )

    def counts(self) -> dict[JobStatus, int]:
        with self._db.connect() as db:
            rows = db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        found = {JobStatus(r[0]): int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in JobStatus}

    # ------------------------------------------------------------------ callbacks

    def callbacks_due(self, now: datetime | None = None) -> list[Job]:
        """Pending callbacks whose next attempt is due, each with its delivery id (made once,
        kept for every retry)."""
        when = to_text(now or datetime.now(UTC))
        pending = CallbackStatus.PENDING.value
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE jobs SET callback_delivery = lower(hex(randomblob(16)))"
                " WHERE callback_status = ? AND callback_delivery IS NULL",
                (pending,),
            )
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE callback_status = ?"  # noqa: S608
                " AND (callback_next_at IS NULL OR callback_next_at <= ?) ORDER BY finished_at",
                (pending, when),
            ).fetchall()
        return [_job(r) for r in rows]

    def callbacks_waiting(self) -> dict[str, datetime | None]:
        """Every pending callback's next attempt, by job id (None: due now)."""
        pending = CallbackStatus.PENDING.value
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT id, callback_next_at FROM jobs"
                " WHERE callback_status = ? AND callback_url IS NOT NULL",
                (pending,),
            ).fetchall()
        return {r[0]: datetime.fromisoformat(r[1]) if r[1] else None for r in rows}

    def callback_retry(self, job_id: str, attempts: int, at: datetime, error: str) -> None:
        """A failed attempt: try again no sooner than `at` (kept across restarts)."""
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE jobs SET callback_attempts = ?, callback_next_at = ?, callback_error = ?"
                " WHERE id = ? AND callback_status = ?",
                (attempts, to_text(at), error, job_id, CallbackStatus.PENDING.value),
            )

    def callback_done(
        self, job_id: str, status: CallbackStatus, attempts: int, error: str | None = None
    ) -> None:
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "UPDATE jobs SET callback_status = ?, callback_attempts = ?,"
                " callback_next_at = NULL, callback_error = ? WHERE id = ?",
                (status.value, attempts, error, job_id),
            )

    # ------------------------------------------------------------------ SCIM's removed users

    def remember_removed(self, member: Member, client_id: int, *, deleted: bool) -> None:
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "INSERT INTO removed_users (email, client_id, member, deleted, removed_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET"
                " member = excluded.member, deleted = max(deleted, excluded.deleted),"
                " removed_at = excluded.removed_at",
                (
                    member.email,
                    client_id,
                    member.model_dump_json(),
                    int(deleted),
                    to_text(datetime.now(UTC)),
                ),
            )

    def removed(self, client_id: int) -> dict[str, tuple[Member, bool]]:
        """email -> (the member as last seen, whether it was deleted rather than deactivated)."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT email, member, deleted FROM removed_users WHERE client_id = ?",
                (client_id,),
            ).fetchall()
        return {r[0]: (Member.model_validate_json(r[1]), bool(r[2])) for r in rows}

    def scim_attributes(self, client_id: int) -> dict[str, tuple[str | None, str | None]]:
        """email -> (externalId, the roles JSON the IdP last set), as SCIM stored them."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT email, external_id, roles FROM scim_attributes WHERE client_id = ?",
                (client_id,),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def keep_scim_attributes(
        self, client_id: int, email: str, external_id: str | None, roles: str | None
    ) -> None:
        with self._db.connect() as db, transaction(db, immediate=True):
            db.execute(
                "INSERT INTO scim_attributes (client_id, email, external_id, roles)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (client_id, email) DO UPDATE SET"
                " external_id = excluded.external_id, roles = excluded.roles",
                (client_id, email, external_id, roles),
            )

    # ------------------------------------------------------------------ internals

    def _find(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        query = f"SELECT {_COLUMNS} FROM jobs WHERE id = ?"  # noqa: S608
        row = db.execute(query, (job_id,)).fetchone()
        return _job(row) if row else None

    def _get(self, db: sqlite3.Connection, job_id: str) -> Job:
        job = self._find(db, job_id)
        assert job is not None, job_id
        return job


def _job(row: tuple[object, ...]) -> Job:
    fields = dict(zip(_COLUMNS.replace(" ", "").split(","), row, strict=True))
    outcome = fields.pop("outcome")
    return Job.model_validate(
        {**fields, "outcome": Outcome.model_validate_json(str(outcome)) if outcome else None}
    )

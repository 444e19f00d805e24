"""The service's database, `<state_dir>/service.sqlite3`: its schema, one numbered migration per
step (database.py). The offboarding jobs and their callback outbox (offboard_queue/jobs.py),
SCIM's removed users and attributes, and the approval requests with their notification outbox
(approvals/store.py) live in it, so a job and the approval that holds it change in one
transaction.
"""

from __future__ import annotations

FILE_NAME = "service.sqlite3"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL UNIQUE,
            body_hash TEXT NOT NULL,
            email TEXT NOT NULL,
            reason TEXT,
            requested_by TEXT NOT NULL,
            callback_url TEXT,
            source TEXT NOT NULL,
            status TEXT NOT NULL,
            outcome TEXT,
            run_id TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            note TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            callback_status TEXT,
            callback_attempts INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
        "CREATE INDEX jobs_by_email ON jobs (email, created_at)",
        # SCIM: members this service removed, so the IdP still finds them (active false) after
        # the row has left Stitch's list; `deleted` ones answer 404 (RFC 7644 §3.6).
        """CREATE TABLE removed_users (
            email TEXT PRIMARY KEY,
            client_id INTEGER NOT NULL,
            member TEXT NOT NULL,
            deleted INTEGER NOT NULL,
            removed_at TEXT NOT NULL
        )""",
    ),
    (  # 1 -> 2: a job put back after a failure waits this long before it is claimed again
        "ALTER TABLE jobs ADD COLUMN not_before TEXT",
    ),
    (  # 2 -> 3: whether the run that decided it was let past the budget (--override-budget)
        "ALTER TABLE jobs ADD COLUMN override_budget INTEGER NOT NULL DEFAULT 0",
    ),
    (  # 3 -> 4: the callback outbox (next try, last error, the delivery id receivers dedupe
        # on), and who submitted the job (the authenticated principal)
        "ALTER TABLE jobs ADD COLUMN callback_next_at TEXT",
        "ALTER TABLE jobs ADD COLUMN callback_error TEXT",
        "ALTER TABLE jobs ADD COLUMN callback_delivery TEXT",
        "ALTER TABLE jobs ADD COLUMN principal TEXT",
        "CREATE INDEX jobs_by_callback ON jobs (callback_status, callback_next_at)",
    ),
    (  # 4 -> 5: what an IdP said of a SCIM user that Stitch does not hold: its externalId and
        # the roles it assigned (JSON; NULL: never said)
        """CREATE TABLE scim_attributes (
            client_id INTEGER NOT NULL,
            email TEXT NOT NULL,
            external_id TEXT,
            roles TEXT,
            PRIMARY KEY (client_id, email)
        )""",
    ),
    (  # 5 -> 6: approval requests (approvals/), the job each holds, and their notifications
        "ALTER TABLE jobs ADD COLUMN approval_id TEXT",
        "CREATE INDEX jobs_by_approval ON jobs (approval_id)",
        """CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            request_key TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            source TEXT NOT NULL,
            rules TEXT NOT NULL,
            reason TEXT,
            plan TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            note TEXT,
            run_id TEXT,
            outcomes TEXT,
            finished_at TEXT,
            superseded_by TEXT,
            error TEXT
        )""",
        "CREATE INDEX approvals_by_status ON approvals (status, created_at)",
        """CREATE TABLE approval_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            approval_id TEXT NOT NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at TEXT NOT NULL,
            error TEXT,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX approval_events_due ON approval_events (status, next_at)",
    ),
)

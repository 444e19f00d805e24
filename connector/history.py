"""What earlier runs tell the planner (planner.History), read from the account's state dir:
the last accepted roster, the stored snapshots and the audit trail. The planner stays pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.accepted import AcceptedRoster
from connector.audit import AuditLog
from connector.planner import History
from connector.settings import Settings
from connector.store import FILE_NAME as SNAPSHOTS_FILE
from connector.store import SnapshotStore

# Audit outcomes that only a member's row can have (a click, its proof, a person's check).
_WAS_ROW = frozenset(
    {"clicked", "deactivated", "invitation_cancelled", "unknown", "failed", "resolved"}
)


def read_history(settings: Settings, accepted: AcceptedRoster | None, audit: AuditLog) -> History:
    """`accepted`: the last accepted roster as the run found it when it started."""
    return History(
        last_accepted=accepted.members if accepted else None,
        previous_count=accepted.count if accepted else None,
        unresolved=audit.unresolved_unknowns(),
        known=known_members(settings, accepted, audit),
        removed_last_day=audit.removals_since(datetime.now(UTC) - timedelta(days=1)),
    )


def known_members(
    settings: Settings, accepted: AcceptedRoster | None, audit: AuditLog
) -> frozenset[str] | None:
    """Every address ever on the roster, for `not_found` (History.known): the stored
    snapshots, the last accepted roster, and the audit trail's targets that were members (a row
    before, or a click). None when there is no history at all: a first run keeps
    `already_absent`."""
    found: set[str] = set()
    history = False
    snapshots = settings.state_dir / SNAPSHOTS_FILE
    if snapshots.is_file():  # never create the database just to look
        ever = SnapshotStore(snapshots).emails_ever()
        if ever is not None:
            history = True
            found |= ever
    if accepted is not None and accepted.members is not None:
        history = True
        found |= {m.email for m in accepted.members}
    try:
        records = audit.records()
    except (OSError, ValueError):  # a broken trail: require_sound() refuses the run anyway
        records = []
    if records:
        history = True
        found |= {r.target for r in records if r.row_before or r.outcome in _WAS_ROW}
    return frozenset(found) if history else None

"""The last accepted roster: the last full read that passed every check, kept in the state dir.

The next run compares with it: the write path's sanity check (a roster that halves is drift),
the read cross-checks (an address that only grew a suffix), and the sticky protections (who
was the Invoice Admin). A missing or unreadable file means "no history", never "nobody".
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from connector.models import Member, MemberList
from connector.private_files import write_private_json


class AcceptedRoster(BaseModel):
    count: int
    fingerprint: str
    at: datetime
    members: list[Member] | None = None  # None: written by a version that kept only the count


def last_accepted_roster(path: Path) -> AcceptedRoster | None:
    try:
        return AcceptedRoster.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def save_accepted_roster(path: Path, roster: MemberList) -> None:
    accepted = AcceptedRoster(
        count=roster.count,
        fingerprint=roster.fingerprint,
        at=roster.scraped_at,
        members=roster.members,
    )
    write_private_json(path, accepted.model_dump(mode="json"))

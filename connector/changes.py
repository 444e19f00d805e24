"""What changed between two rosters, and whether a new roster is believable. Pure: no I/O.

Members are matched by email (the only stable key the page shows).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from connector.models import Member, MemberList, Status


class ChangeKind(StrEnum):
    JOINED = "joined"
    LEFT = "left"  # no longer listed: removed, or deactivated where Stitch hides deactivated rows
    ROLE_CHANGED = "role_changed"
    INVITE_ACCEPTED = "invite_accepted"  # pending -> active
    DEACTIVATED = "deactivated"  # -> deactivated, still listed; or gone after this connector
    # deactivated them (`by_connector`: the audit trail says so)
    STATUS_CHANGED = "status_changed"  # any other status move, e.g. reactivated
    INVOICE_ADMIN_MOVED = "invoice_admin_moved"


class Change(BaseModel):
    """One change. `before`/`after` are the values that changed (role, status, or for
    invoice_admin_moved the Invoice Admin's email); `member` is the row as it is now (as it was,
    for `left`)."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    email: str | None  # None only for an Invoice Admin that moved to nobody
    before: str | None = None
    after: str | None = None
    member: Member | None = None
    by_connector: bool = False  # this connector removed them (its audit trail says so)


def diff(
    before: MemberList,
    after: MemberList,
    *,
    removed_by_connector: Mapping[str, datetime] | None = None,
) -> list[Change]:
    """Every change from `before` to `after`, grouped by kind (in ChangeKind order), then by
    email. `removed_by_connector`: email -> when this connector proved it removed them (from the
    audit trail); a member who is no longer listed because of that is `deactivated` (by the
    connector), not `left`."""
    old = {m.email: m for m in before.members}
    new = {m.email: m for m in after.members}
    ours = removed_by_connector or {}
    changes: list[Change] = []
    for email in sorted(new.keys() - old.keys()):
        m = new[email]
        changes.append(Change(kind=ChangeKind.JOINED, email=email, after=m.status.value, member=m))
    for email in sorted(old.keys() - new.keys()):
        changes.append(_gone(old[email], ours.get(email), before.scraped_at))
    for email in sorted(old.keys() & new.keys()):
        changes += _changed(old[email], new[email])
    was_billing, now_billing = _invoice_admin(before), _invoice_admin(after)
    if _email(was_billing) != _email(now_billing):
        holder = now_billing or was_billing
        changes.append(
            Change(
                kind=ChangeKind.INVOICE_ADMIN_MOVED,
                email=_email(holder),
                before=_email(was_billing),
                after=_email(now_billing),
                member=now_billing,
            )
        )
    order = list(ChangeKind)
    return sorted(changes, key=lambda c: (order.index(c.kind), c.email or ""))


def _gone(m: Member, removed_at: datetime | None, read_at: datetime) -> Change:
    """A member the new roster lacks: deactivated by us (proved after the old read, or already
    deactivated then), otherwise left."""
    if removed_at is not None and (removed_at >= read_at or m.status == Status.DEACTIVATED):
        return Change(
            kind=ChangeKind.DEACTIVATED,
            email=m.email,
            before=m.status.value,
            after=Status.DEACTIVATED.value,
            member=m,
            by_connector=True,
        )
    return Change(kind=ChangeKind.LEFT, email=m.email, before=m.status.value, member=m)


def _changed(was: Member, now: Member) -> list[Change]:
    found: list[Change] = []
    if was.role != now.role:
        found.append(
            Change(
                kind=ChangeKind.ROLE_CHANGED,
                email=now.email,
                before=was.role.value,
                after=now.role.value,
                member=now,
            )
        )
    if was.status != now.status:
        found.append(
            Change(
                kind=_status_kind(was.status, now.status),
                email=now.email,
                before=was.status.value,
                after=now.status.value,
                member=now,
            )
        )
    return found


def count_by_kind(changes: list[Change]) -> dict[ChangeKind, int]:
    """Every kind, zeros included (stable metric series)."""
    counts = dict.fromkeys(ChangeKind, 0)
    for change in changes:
        counts[change.kind] += 1
    return counts


def confidence_problem(
    previous: MemberList,
    current: MemberList,
    *,
    max_drop: float,
    baseline: str = "the last snapshot",
) -> str | None:
    """Why `current` is not believable as the next roster after `previous`, or None.
    `baseline` names `previous` in the finding.

    A page that silently shows fewer rows still validates (its count can match its rows), so the
    only independent evidence is the last stored roster: losing more than `max_drop` of it, or
    shrinking to the signed-in user alone, is far likelier UI drift than people leaving.
    """
    if not previous.members:
        return None
    lost = {m.email for m in previous.members} - {m.email for m in current.members}
    share = len(lost) / previous.count
    if current.count == 1 and current.members[0].is_self and previous.count > 1:
        return (
            f"the roster shrank from {previous.count} members to the signed-in user alone "
            f"({len(lost)} missing)"
        )
    if share > max_drop:
        return (
            f"{len(lost)} of the {previous.count} members of {baseline} are missing "
            f"({share:.0%}, more than the {max_drop:.0%} allowed)"
        )
    return None


def _status_kind(was: Status, now: Status) -> ChangeKind:
    if was == Status.PENDING and now == Status.ACTIVE:
        return ChangeKind.INVITE_ACCEPTED
    if now == Status.DEACTIVATED:
        return ChangeKind.DEACTIVATED
    return ChangeKind.STATUS_CHANGED


def _invoice_admin(roster: MemberList) -> Member | None:
    # The page shows at most one; if it ever showed two, compare the first by email.
    holders = sorted((m for m in roster.members if m.invoice_admin), key=lambda m: m.email)
    return holders[0] if holders else None


def _email(member: Member | None) -> str | None:
    return member.email if member else None

"""The rules of every member write: who may invite, change a role, reactivate, deactivate, cancel
or resend an invitation, and what each refusal answers (docs/sandbox-dom.md "Write flows" and
"Member lifecycle").

`apply_write` is pure: it takes the account's members and one request and returns the answer with
the members afterwards. SandboxState calls it under its lock and keeps the write log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from connector.sandbox.options import SandboxOptions, is_plausible_email
from connector.sandbox.roster import (
    ADMINISTRATOR,
    GENERAL_USER,
    Member,
    Role,
    new_member_id,
    sort_members,
)
from connector.sandbox.write_answers import (
    MSG_ALREADY_MEMBER,
    MSG_EMAIL_INVALID,
    MSG_EMAIL_REQUIRED,
    MSG_INVITE_NOT_ADMIN,
    MSG_LAST_ADMIN,
    MSG_LEGACY_ROLE,
    MSG_NO_SUCH_MEMBER,
    MSG_NOT_ADMIN,
    MSG_OTHER_ACCOUNT,
    MSG_OWN_ROLE,
    MSG_REACTIVATE_NOT_ADMIN,
    MSG_ROLE_NOT_ADMIN,
    MSG_SELF,
    MSG_SERVER_ERROR,
    MSG_UNKNOWN_ROLE,
    WriteAction,
    WriteResult,
    seat_limit_message,
)

# [P] The second seeded account (research §4.7): its members' emails come from
# SandboxOptions.other_account_emails; one email belongs to one Stitch account only [S].
OTHER_CLIENT_ID = 211417
OTHER_COMPANY_NAME = "Another Company"

ROLES: tuple[Role, ...] = (ADMINISTRATOR, GENERAL_USER)

_NOT_ADMIN = {
    "invite": MSG_INVITE_NOT_ADMIN,
    "set_role": MSG_ROLE_NOT_ADMIN,
    "reactivate": MSG_REACTIVATE_NOT_ADMIN,
}


def normalise_email(value: str) -> str:
    """How an invited email is stored: trimmed and lower-cased (a `+` alias stays distinct [S])."""
    return value.strip().lower()


@dataclasses.dataclass(frozen=True)
class WriteRequest:
    """One write request: the row it names (`member_id`), or for an invite the email, the role
    and (legacy) the name that were sent."""

    action: WriteAction
    member_id: str = ""
    email: str = ""
    role: object = None  # as sent: checked against ROLES
    name: str | None = None

    def log_fields(self, target: Member | None) -> dict[str, object]:
        """The write log's `email` (and `role` for set_role) for this request."""
        if self.action == "invite":
            fields: dict[str, object] = {"email": normalise_email(self.email)}
        else:
            fields = {"email": target.email if target is not None else ""}  # "" for an unknown id
        if self.action == "set_role":
            fields["role"] = self.role if isinstance(self.role, str) else ""
        return fields


@dataclasses.dataclass(frozen=True)
class Seats:
    """The plan's seats: `used` counts active members and pending invitations."""

    limit: int | None
    used: int
    plan: str

    @property
    def full(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def as_json(self) -> dict[str, object]:
        return {"limit": self.limit, "used": self.used, "plan": self.plan}


def seats(options: SandboxOptions, members: list[Member]) -> Seats:
    used = sum(1 for m in members if m.status in ("active", "pending"))
    return Seats(options.seat_limit, used, options.plan)


Applied = tuple[WriteResult, list[Member]]


class Rules:
    """The checks of each write, in the order they answer. Every write first answers 401 without
    a session, then 500 on a fault (changing nothing), then 403 when the actor is not an active
    Administrator; the action's own checks follow."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.other_emails = frozenset(normalise_email(e) for e in options.other_account_emails)

    def apply(
        self, request: WriteRequest, members: list[Member], actor_email: str | None, fault: bool
    ) -> Applied:
        if actor_email is None:
            return WriteResult.error(401, None), members
        if fault:
            return WriteResult.error(500, MSG_SERVER_ERROR), members
        key = actor_email.strip().lower()
        actor = next((m for m in members if m.email.lower() == key), None)
        if actor is None or actor.status != "active" or actor.role != ADMINISTRATOR:
            return WriteResult.error(403, _NOT_ADMIN.get(request.action, MSG_NOT_ADMIN)), members
        if request.action == "invite":
            return self._invite(request, members)
        target = next((m for m in members if m.id == request.member_id), None)
        handlers: dict[str, Callable[[Member | None, Member, list[Member]], Applied]] = {
            "deactivate": self._deactivate,
            "cancel_invitation": self._cancel,
            "resend_invitation": self._resend,
            "reactivate": self._reactivate,
            "set_role": lambda t, a, ms: self._set_role(request.role, t, a, ms),
        }
        return handlers[request.action](target, actor, members)

    # ---------------------------------------------------- the actions

    def _invite(self, request: WriteRequest, members: list[Member]) -> Applied:
        """400 blank or malformed email, 400 unknown role, 409 already on this account (active,
        pending, or a deactivated row the list keeps), 409 on another account, 409 no seat.
        Legacy invitees are always General Users (roles were automatic [S]); a deactivated member
        the list no longer shows is invited again ("re-add them" [S])."""
        email = normalise_email(request.email)
        if not email:
            return WriteResult.error(400, MSG_EMAIL_REQUIRED), members
        if not is_plausible_email(email):
            return WriteResult.error(400, MSG_EMAIL_INVALID), members
        role = GENERAL_USER if request.role is None else request.role
        if role not in ROLES:
            return WriteResult.error(400, MSG_UNKNOWN_ROLE), members
        existing = next((m for m in members if m.email.lower() == email), None)
        if existing is not None and (
            existing.status != "deactivated" or self.options.keep_deactivated
        ):
            return WriteResult.error(409, MSG_ALREADY_MEMBER), members
        if email in self.other_emails:
            return WriteResult.error(409, MSG_OTHER_ACCOUNT), members
        if full := self._no_seat(members):
            return full, members
        legacy = self.options.variant == "legacy"
        name = ((request.name or "").strip() or None) if legacy else None
        chosen: Role = GENERAL_USER if legacy else _as_role(role)
        others = [m for m in members if m is not existing]
        member_id = existing.id if existing else new_member_id(email, {m.id for m in members})
        invited = Member(member_id, email, name, chosen, "pending", False, False)
        return WriteResult.ok(id=member_id), sort_members([*others, invited])

    def _set_role(
        self, role: object, target: Member | None, actor: Member, members: list[Member]
    ) -> Applied:
        """400 in legacy (no role control), 400 unknown role, 404 unknown or deactivated target,
        409 demoting the last active Administrator, 400 the actor's own row. The same role again
        answers 200 and changes nothing."""
        if self.options.variant == "legacy":
            return WriteResult.error(400, MSG_LEGACY_ROLE), members
        if role not in ROLES:
            return WriteResult.error(400, MSG_UNKNOWN_ROLE), members
        if target is None or target.status == "deactivated":
            return WriteResult.error(404, MSG_NO_SUCH_MEMBER), members
        demoted = target.role == ADMINISTRATOR and role != ADMINISTRATOR
        if demoted and _is_last_admin(target, members):
            return WriteResult.error(409, MSG_LAST_ADMIN), members
        if target.id == actor.id:
            return WriteResult.error(400, MSG_OWN_ROLE), members
        changed = dataclasses.replace(target, role=_as_role(role))
        return WriteResult.ok(), sort_members(changed if m.id == target.id else m for m in members)

    def _reactivate(self, target: Member | None, actor: Member, members: list[Member]) -> Applied:
        """404 unless the target is a deactivated member the list shows (`keep_deactivated`),
        409 when no seat is free."""
        if target is None or target.status != "deactivated" or not self.options.keep_deactivated:
            return WriteResult.error(404, MSG_NO_SUCH_MEMBER), members
        if full := self._no_seat(members):
            return full, members
        return WriteResult.ok(), _replaced(members, dataclasses.replace(target, status="active"))

    def _deactivate(self, target: Member | None, actor: Member, members: list[Member]) -> Applied:
        """404 unless active, 409 the last active Administrator, 400 the actor (so the sole
        Administrator deactivating themself gets 409)."""
        if target is None or target.status != "active":
            return WriteResult.error(404, MSG_NO_SUCH_MEMBER), members
        if target.role == ADMINISTRATOR and _is_last_admin(target, members):
            return WriteResult.error(409, MSG_LAST_ADMIN), members
        if target.id == actor.id:
            return WriteResult.error(400, MSG_SELF), members
        gone = dataclasses.replace(target, status="deactivated")
        return WriteResult.ok(), _replaced(members, gone)

    def _cancel(self, target: Member | None, actor: Member, members: list[Member]) -> Applied:
        if target is None or target.status != "pending":
            return WriteResult.error(404, MSG_NO_SUCH_MEMBER), members
        return WriteResult.ok(), [m for m in members if m.id != target.id]

    def _resend(self, target: Member | None, actor: Member, members: list[Member]) -> Applied:
        # [P] the old link stops working and a new one is sent: nothing to show.
        if target is None or target.status != "pending":
            return WriteResult.error(404, MSG_NO_SUCH_MEMBER), members
        return WriteResult.ok(), members

    def _no_seat(self, members: list[Member]) -> WriteResult | None:
        taken = seats(self.options, members)
        if taken.full and taken.limit is not None:
            return WriteResult.error(409, seat_limit_message(taken.plan, taken.limit))
        return None


def _as_role(value: object) -> Role:
    return ADMINISTRATOR if value == ADMINISTRATOR else GENERAL_USER


def _is_last_admin(target: Member, members: list[Member]) -> bool:
    """True when `target` is active and no other active Administrator remains."""
    return target.status == "active" and not any(
        m.status == "active" and m.role == ADMINISTRATOR and m.id != target.id for m in members
    )


def _replaced(members: list[Member], new: Member) -> list[Member]:
    return [new if m.id == new.id else m for m in members]

"""The sandbox's in-memory state, shared by both origins and by the controlling test.

Handlers run on the servers' event-loop thread while tests call `snapshot()`/`reset()` from theirs,
so every access goes through one lock. Nothing here awaits or does I/O while holding it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hmac
import math
import random
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, Literal

import pyotp

from connector.errors import ConfigError
from connector.sandbox.grants import OTHER_CLIENT_ID, Rules, Seats, WriteRequest, seats
from connector.sandbox.options import SandboxOptions, is_plausible_email
from connector.sandbox.roster import (
    ADMINISTRATOR,
    GENERAL_USER,
    Member,
    Role,
    Status,
    build_roster,
    hide_rows,
    name_from_email,
    new_member_id,
    sort_members,
)
from connector.sandbox.tickets import Clock, Tickets
from connector.sandbox.write_answers import WriteOutcome, WriteResult

PasswordCheck = Literal["ok", "invalid", "locked"]


class _Totp(pyotp.TOTP):
    # pyotp >= 2.10 refuses secrets under 112 bits, but 16-character (80-bit) secrets such as the
    # default JBSWY3DPEHPK3PXP are what many authenticator set-ups still hand out.
    min_secret_length_bits = 80


def totp(secret: str) -> pyotp.TOTP:
    """A TOTP generator/verifier for `secret` that also accepts 80-bit secrets."""
    return _Totp(secret)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class SandboxState:
    """Members, sessions, lockouts, pending sign-ins and the fault RNG of one sandbox."""

    def __init__(
        self, options: SandboxOptions, clock: Clock = time.monotonic, wall_clock: Clock = time.time
    ) -> None:
        self.options = options
        self._clock, self._wall_clock = clock, wall_clock  # wall_clock: TOTP windows (epoch s)
        self._lock = threading.Lock()
        # Loaded once: reset() must not fail halfway because the roster file changed meanwhile.
        # With SSO on, no invitation is pending: enabling SSO invalidated them all [S].
        self._initial_members = [
            m for m in build_roster(options) if not (options.sso and m.status == "pending")
        ]
        self._rules = Rules(options)
        shared = self._rules.other_emails & {m.email.lower() for m in self._initial_members}
        if shared:
            raise ConfigError(
                f"sandbox option other_account_emails: {sorted(shared)[0]} is on this account's "
                "roster too (an email belongs to one Stitch account only)"
            )
        # Stable per account, like Auth0's "stitch-<uuid>" connection names.
        self.sso_connection = "stitch-" + str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{options.client_id}:{options.seed}")
        )
        self._members: list[Member] = []
        self.tickets = Tickets(clock, options.session_ttl)
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._totp_used: set[int] = set()  # TOTP windows already spent
        self._fault_rng = random.Random(options.seed)  # noqa: S311 (reproducible faults)
        self._writes: list[dict[str, object]] = []
        self._list_reads = 0  # member-list pages served: how often a client loaded the list
        # The drift corpus's active mutations: presentation only, so reset() keeps them.
        self._mutations: tuple[str, ...] = options.mutations
        self.reset()

    # ------------------------------------------------------------ control

    def reset(self) -> None:
        """Back to the start: the initial roster, no sessions, no lockouts, a fresh fault RNG,
        an empty write log, no list reads counted."""
        with self._lock:
            self._members = list(self._initial_members)
            self._writes.clear()
            self._list_reads = 0
            self.tickets.clear()
            self._failures.clear()
            self._locked_until.clear()
            self._totp_used.clear()
            self._fault_rng = random.Random(self.options.seed)  # noqa: S311

    def expire_sessions(self) -> None:
        self.tickets.expire_sessions()

    def mutations(self) -> tuple[str, ...]:
        """The active drift-corpus mutations (connector/sandbox/mutations.py)."""
        with self._lock:
            return self._mutations

    def set_mutations(self, names: Iterable[str]) -> tuple[str, ...]:
        """Replace the active mutations; ConfigError (nothing changed) on an unknown name."""
        from connector.sandbox.mutations import check_names

        checked = check_names(names)
        with self._lock:
            self._mutations = checked
        return checked

    def snapshot(self) -> dict[str, object]:
        """What GET /__sandbox__/state answers: all members, deactivated ones too, display order,
        the write log (every write request received, oldest first), and how many member-list
        pages were served (signed-in reads that got an answer, failed ones too)."""
        with self._lock:
            members = [member.as_state() for member in self._members]
            writes = [dict(entry) for entry in self._writes]
            list_reads = self._list_reads
        return {
            "account": {
                "client_id": self.options.client_id,
                "company_name": self.options.company_name,
            },
            "members": members,
            "other_accounts": [
                {"client_id": OTHER_CLIENT_ID, "emails": list(self.options.other_account_emails)}
            ],
            "writes": writes,
            "list_reads": list_reads,
            "mutations": list(self.mutations()),
        }

    def count_list_read(self) -> None:
        with self._lock:
            self._list_reads += 1

    # ------------------------------------------------------------ members

    def members(self) -> list[Member]:
        with self._lock:
            return list(self._members)

    def visible_members(self) -> list[Member]:
        """The rows the Members list shows (and counts): deactivated members are gone from the
        UI, unless `keep_deactivated`, where they stay in place with status "Deactivated".
        With `hide_rows`, only the first share of those (the login user always among them)."""
        with self._lock:
            if self.options.keep_deactivated:
                shown = list(self._members)
            else:
                shown = [member for member in self._members if member.status != "deactivated"]
        return hide_rows(shown, self.options.hide_rows)

    def find_member(self, email: str) -> Member | None:
        key = email.strip().lower()
        with self._lock:
            return next((m for m in self._members if m.email.lower() == key), None)

    def routes_to_sso(self, email: str) -> bool:
        """With SSO on, non-Administrator members must use the identity provider.

        Unknown or deactivated emails still get the password step, so the form does not reveal
        who is on the account.
        """
        if not self.options.sso:
            return False
        member = self.find_member(email)
        return (
            member is not None and member.status != "deactivated" and (member.role != ADMINISTRATOR)
        )

    # ------------------------------------------------------------ roster changes (tests)

    def add_member(
        self,
        email: str,
        name: str | None,
        role: Role = GENERAL_USER,
        status: Status = "active",
    ) -> None:
        """Someone joins (or is invited: status "pending", usually without a name)."""
        if not is_plausible_email(email):
            raise ValueError(f"not an email address: {email!r}")
        if role not in (ADMINISTRATOR, GENERAL_USER):
            raise ValueError(f"unknown role {role!r}")
        if status not in ("active", "pending", "deactivated"):
            raise ValueError(f"unknown status {status!r}")
        if email.strip().lower() in self._rules.other_emails:
            raise ValueError(f"{email} belongs to another Stitch account")
        with self._lock:
            if self._find_locked(email) is not None:
                raise ValueError(f"{email} is already a member")
            taken = {m.id for m in self._members}
            member = Member(new_member_id(email, taken), email, name, role, status, False, False)
            self._members = sort_members([*self._members, member])

    def remove_member(self, email: str) -> None:
        """Someone is gone without the connector (removed by hand in Stitch)."""
        with self._lock:
            member = self._require_locked(email)
            if member.is_login_user:
                raise ValueError("the login user cannot be removed")
            self._members = [m for m in self._members if m.id != member.id]

    def accept_invite(self, email: str, name: str | None = None) -> None:
        """A pending invitation is accepted: the member becomes active and gets a name."""
        with self._lock:
            member = self._require_locked(email)
            if member.status != "pending":
                raise ValueError(f"{email} has no pending invitation (status {member.status})")
            new_name = name or member.name or name_from_email(member.email)
            self._resort_locked(member, status="active", name=new_name)

    def set_role(self, email: str, role: Role) -> None:
        if role not in (ADMINISTRATOR, GENERAL_USER):
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            self._resort_locked(self._require_locked(email), role=role)

    def _find_locked(self, email: str) -> Member | None:
        key = email.strip().lower()
        return next((m for m in self._members if m.email.lower() == key), None)

    def _require_locked(self, email: str) -> Member:
        member = self._find_locked(email)
        if member is None:
            raise LookupError(f"no member {email}")
        return member

    def _resort_locked(self, member: Member, **changes: Any) -> None:
        # Role and name decide the display order, so a change may move the row.
        self._members = sort_members(
            dataclasses.replace(m, **changes) if m.id == member.id else m for m in self._members
        )

    # ------------------------------------------------------------ passwords and lockout

    def lockout_message(self) -> str:
        minutes = max(1, math.ceil(self.options.lockout_seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        # [P] text, from docs/sandbox-dom.md ("Try again in 15 minutes." with the default 900 s).
        return f"Your account has been temporarily locked. Try again in {minutes} {unit}."

    def check_password(self, email: str, password: str) -> PasswordCheck:
        """Only the login user has a password. Failures count per email, known or not.

        `lockout_threshold` failures within `lockout_seconds` lock the email for
        `lockout_seconds`: the failure that reaches the threshold still answers "invalid", and
        every attempt after it, right password included, answers "locked" until the lock ends.
        """
        key = email.strip().lower()
        now = self._clock()
        with self._lock:
            until = self._locked_until.get(key)
            if until is not None:
                if until > now:
                    return "locked"
                del self._locked_until[key]
                self._failures.pop(key, None)
            member = next((m for m in self._members if m.email.lower() == key), None)
            correct = (
                member is not None
                and member.is_login_user
                and member.status == "active"
                and hmac.compare_digest(
                    password.encode("utf-8"), self.options.admin_password.encode("utf-8")
                )
            )
            if correct:
                self._failures.pop(key, None)
                return "ok"
            window = self.options.lockout_seconds
            recent = [t for t in self._failures.get(key, []) if now - t < window]
            recent.append(now)
            if len(recent) >= self.options.lockout_threshold:
                # This failure still reads "invalid"; the lock refuses every later attempt.
                self._locked_until[key] = now + window
                self._failures.pop(key, None)
            else:
                self._failures[key] = recent
            return "invalid"

    def check_totp(self, code: str) -> bool:
        """Accept a code from the current window or one either side, once: like most servers
        (RFC 6238 §5.2), a code that was already used is refused. [P]"""
        cleaned = code.replace(" ", "")
        if not (cleaned.isascii() and cleaned.isdigit() and len(cleaned) == 6):
            return False
        generator = totp(self.options.totp_secret)
        now = self._wall_clock()
        with self._lock:
            for offset in (0, -1, 1):
                at = now + offset * generator.interval
                window = int(at // generator.interval)
                if generator.at(int(at)) == cleaned and window not in self._totp_used:
                    self._totp_used.add(window)
                    return True
        return False

    # ------------------------------------------------------------ sessions

    def session_member(self, token: str | None) -> Member | None:
        """The signed-in member, or None when the session is unknown, expired or deactivated."""
        email = self.tickets.session_email(token)
        if email is None:
            return None
        with self._lock:
            key = email.lower()
            member = next((m for m in self._members if m.email.lower() == key), None)
        if member is None or member.status != "active":
            return None
        return member

    # ------------------------------------------------------------ writes

    def deactivate(self, member_id: str, actor_email: str | None) -> WriteResult:
        """Deactivate an active member. The checks run in this order, the first failing one
        answers: actor not an active Administrator (403), target unknown or not active (404),
        target is the last active Administrator (409), target is the actor (400).

        A target who passes the 403 check and is not the actor always leaves the actor as an
        active Administrator, so 409 is what the sole Administrator gets for deactivating
        themself; with more Administrators, self-deactivation gets 400.
        `actor_email=None` (no session) answers 401. Otherwise one fault draw comes first (as for
        member data): a fault answers 500 and changes nothing. Every call is logged.
        """
        return self.write(WriteRequest("deactivate", member_id), actor_email)

    def cancel_invitation(self, member_id: str, actor_email: str | None) -> WriteResult:
        """Remove a pending invitation from the members (403 for non-Administrators, 404 when
        `member_id` is not a pending invitation). Logged like `deactivate`."""
        return self.write(WriteRequest("cancel_invitation", member_id), actor_email)

    def resend_invitation(self, member_id: str, actor_email: str | None) -> WriteResult:
        """Re-send a pending invitation: nothing visible changes. Same checks as cancelling."""
        return self.write(WriteRequest("resend_invitation", member_id), actor_email)

    def invite(
        self, email: str, role: object, name: str | None, actor_email: str | None
    ) -> WriteResult:
        """Add a pending invitation (`role` None: General User); 200 answers its id."""
        return self.write(WriteRequest("invite", email=email, role=role, name=name), actor_email)

    def change_role(self, member_id: str, role: object, actor_email: str | None) -> WriteResult:
        """Set an active or pending member's role (not in legacy); logged with the role."""
        return self.write(WriteRequest("set_role", member_id, role=role), actor_email)

    def reactivate(self, member_id: str, actor_email: str | None) -> WriteResult:
        """Make a deactivated member active again (only with `keep_deactivated`)."""
        return self.write(WriteRequest("reactivate", member_id), actor_email)

    def write(self, request: WriteRequest, actor_email: str | None) -> WriteResult:
        """Any write (connector/sandbox/grants.py has each one's rules): one fault draw for a
        signed-in request, the rules, the members afterwards, one write-log entry."""
        with self._lock:
            target = self._by_id_locked(request.member_id)
            # No draw for signed-out requests, like member data: a 401 comes before any fault.
            fault = actor_email is not None and self._fault_rng.random() < self.options.fault_rate
            result, self._members = self._rules.apply(request, self._members, actor_email, fault)
            self._log_locked(request, target, result)
        return result

    def record_write(self, request: WriteRequest, result: WriteResult) -> None:
        """Log a write request answered before it reached the rules (e.g. a wrong client id)."""
        with self._lock:
            self._log_locked(request, self._by_id_locked(request.member_id), result)

    def seats(self) -> Seats:
        with self._lock:
            return seats(self.options, self._members)

    def _by_id_locked(self, member_id: str) -> Member | None:
        return next((m for m in self._members if m.id == member_id), None)

    def _log_locked(
        self, request: WriteRequest, target: Member | None, result: WriteResult
    ) -> None:
        outcome: WriteOutcome = (
            "ok" if result.status == 200 else "fault" if result.status >= 500 else "refused"
        )
        entry: dict[str, object] = {"at": _now_iso(), "action": request.action}
        entry.update(request.log_fields(target))
        entry.update({"status": result.status, "outcome": outcome})
        self._writes.append(entry)

    # ------------------------------------------------------------ faults

    def next_request_fails(self) -> bool:
        """One draw per member-data or write request (signed in, right client id), from one RNG,
        so a seed gives the same failures in the same order."""
        with self._lock:
            draw = self._fault_rng.random()
        return draw < self.options.fault_rate

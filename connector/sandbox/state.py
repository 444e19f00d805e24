"""The sandbox's in-memory state, shared by both origins and by the controlling test.

Handlers run on the servers' event-loop thread while tests call `snapshot()`/`reset()` from theirs,
so every access goes through one lock. Nothing here awaits or does I/O while holding it.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Literal

import pyotp

from connector.sandbox.options import SandboxOptions
from connector.sandbox.roster import ADMINISTRATOR, Member, build_roster

PasswordCheck = Literal["ok", "invalid", "locked"]
LoginStage = Literal["password", "totp"]

# [P] How long the hops of a sign-in may take; long enough for a person, short enough to matter.
PENDING_LOGIN_SECONDS = 600.0
ONE_TIME_CODE_SECONDS = 60.0


class _Totp(pyotp.TOTP):
    # pyotp >= 2.10 refuses secrets under 112 bits, but 16-character (80-bit) secrets such as the
    # default JBSWY3DPEHPK3PXP are what many authenticator set-ups still hand out.
    min_secret_length_bits = 80


def totp(secret: str) -> pyotp.TOTP:
    """A TOTP generator/verifier for `secret` that also accepts 80-bit secrets."""
    return _Totp(secret)


@dataclasses.dataclass
class PendingLogin:
    """A sign-in between step 1 (email) and the session: carried by an opaque `state` token."""

    email: str
    redirect: str
    stage: LoginStage
    expires_at: float


@dataclasses.dataclass(frozen=True)
class _Session:
    email: str
    expires_at: float


@dataclasses.dataclass(frozen=True)
class _OneTimeCode:
    email: str
    redirect: str
    expires_at: float


class SandboxState:
    """Members, sessions, lockouts, pending sign-ins and the fault RNG of one sandbox."""

    def __init__(
        self, options: SandboxOptions, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = options
        self._clock = clock
        self._lock = threading.Lock()
        # Loaded once: reset() must not fail halfway because the roster file changed meanwhile.
        self._initial_members = build_roster(options)
        # Stable per account, like Auth0's "stitch-<uuid>" connection names.
        self.sso_connection = "stitch-" + str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:{options.client_id}:{options.seed}")
        )
        self._members: list[Member] = []
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[str, PendingLogin] = {}
        self._codes: dict[str, _OneTimeCode] = {}
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._totp_used: set[int] = set()  # TOTP windows already spent
        self._fault_rng = random.Random(options.seed)  # noqa: S311 (reproducible faults)
        self.reset()

    # ------------------------------------------------------------ control

    def reset(self) -> None:
        """Back to the start: the initial roster, no sessions, no lockouts, a fresh fault RNG."""
        with self._lock:
            self._members = list(self._initial_members)
            self._sessions.clear()
            self._pending.clear()
            self._codes.clear()
            self._failures.clear()
            self._locked_until.clear()
            self._totp_used.clear()
            self._fault_rng = random.Random(self.options.seed)  # noqa: S311

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

    def snapshot(self) -> dict[str, object]:
        """What GET /__sandbox__/state answers: all members, deactivated ones too, display order."""
        with self._lock:
            members = [member.as_state() for member in self._members]
        return {
            "account": {
                "client_id": self.options.client_id,
                "company_name": self.options.company_name,
            },
            "members": members,
        }

    # ------------------------------------------------------------ members

    def members(self) -> list[Member]:
        with self._lock:
            return list(self._members)

    def visible_members(self) -> list[Member]:
        """The rows the Members list shows: deactivated members are gone from the UI."""
        with self._lock:
            return [member for member in self._members if member.status != "deactivated"]

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
        now = time.time()
        with self._lock:
            for offset in (0, -1, 1):
                at = now + offset * generator.interval
                window = int(at // generator.interval)
                if generator.at(int(at)) == cleaned and window not in self._totp_used:
                    self._totp_used.add(window)
                    return True
        return False

    # ------------------------------------------------------------ sign-in hops

    def start_login(self, email: str, redirect: str, stage: LoginStage) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired_locked()
            self._pending[token] = PendingLogin(
                email=email.strip(),
                redirect=redirect,
                stage=stage,
                expires_at=self._clock() + PENDING_LOGIN_SECONDS,
            )
        return token

    def pending_login(self, token: str) -> PendingLogin | None:
        with self._lock:
            pending = self._pending.get(token)
            if pending is None or pending.expires_at <= self._clock():
                self._pending.pop(token, None)
                return None
            return dataclasses.replace(pending)

    def advance_login(self, token: str, stage: LoginStage) -> None:
        with self._lock:
            pending = self._pending.get(token)
            if pending is not None:
                pending.stage = stage

    def finish_login(self, token: str) -> PendingLogin | None:
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None or pending.expires_at <= self._clock():
            return None
        return pending

    def issue_code(self, email: str, redirect: str) -> str:
        """A one-time code that carries a finished sign-in from the login origin to the app."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _OneTimeCode(email, redirect, self._clock() + ONE_TIME_CODE_SECONDS)
        return code

    def redeem_code(self, code: str) -> tuple[str, str] | None:
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None or entry.expires_at <= self._clock():
            return None
        return entry.email, entry.redirect

    # ------------------------------------------------------------ sessions

    def create_session(self, email: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired_locked()
            self._sessions[token] = _Session(email, self._clock() + self.options.session_ttl)
        return token

    def session_member(self, token: str | None) -> Member | None:
        """The signed-in member, or None when the session is unknown, expired or deactivated."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[token]
                return None
            key = session.email.lower()
            member = next((m for m in self._members if m.email.lower() == key), None)
        if member is None or member.status != "active":
            return None
        return member

    def end_session(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(token, None)

    # ------------------------------------------------------------ faults

    def next_request_fails(self) -> bool:
        """One draw per member-data request, so a seed gives the same failures in the same order."""
        with self._lock:
            draw = self._fault_rng.random()
        return draw < self.options.fault_rate

    # ------------------------------------------------------------ internals

    def _drop_expired_locked(self) -> None:
        now = self._clock()
        for store in (self._sessions, self._pending, self._codes):
            expired = [key for key, value in store.items() if value.expires_at <= now]
            for key in expired:
                del store[key]

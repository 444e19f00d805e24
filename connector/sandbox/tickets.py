"""The sandbox's sign-in tickets: pending sign-ins between hops, one-time codes from the login
origin to the app, and session tokens. Each expires; one lock guards them all."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable
from typing import Literal

LoginStage = Literal["password", "totp", "stay"]  # "stay": signin-stay-signed-in
Clock = Callable[[], float]  # seconds: time.monotonic, time.time, or a test's clock

# [P] How long the hops of a sign-in may take; long enough for a person, short enough to matter.
PENDING_LOGIN_SECONDS = 600.0
ONE_TIME_CODE_SECONDS = 60.0


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


class Tickets:
    def __init__(self, clock: Clock, session_ttl: float) -> None:
        self._clock = clock
        self._session_ttl = session_ttl
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[str, PendingLogin] = {}
        self._codes: dict[str, _OneTimeCode] = {}

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._pending.clear()
            self._codes.clear()

    def expire_sessions(self) -> None:
        with self._lock:
            self._sessions.clear()

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

    def create_session(self, email: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired_locked()
            self._sessions[token] = _Session(email, self._clock() + self._session_ttl)
        return token

    def session_email(self, token: str | None) -> str | None:
        """The email a live session was created for (None: unknown or expired)."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[token]
                return None
            return session.email

    def end_session(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(token, None)

    def _drop_expired_locked(self) -> None:
        now = self._clock()
        for store in (self._sessions, self._pending, self._codes):
            expired = [key for key, value in store.items() if value.expires_at <= now]
            for key in expired:
                del store[key]

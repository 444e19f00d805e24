"""Bearer tokens for the service: `Authorization: Bearer <token>` on everything but /healthz.

Tokens come from STITCH_SERVICE_TOKENS (or _FILE), each `NAME:SCOPE:TOKEN`. The name is who
the caller is (the Principal: it goes into the job and its audit records as the actor); the
scope is what it may do:

    read    GET anything (the jobs API and SCIM)
    jobs    the jobs API (/v1/..., /readyz, /metrics, the docs): read and write; no SCIM
    scim    SCIM (/scim/v2/...) only: read and write
    write   everything but approving
    approve read the jobs API, and approve or reject approval requests (/v1/approvals): no
            other write. A person's approvals come from a token of their own; a token that
            asks for a write never approves it (four eyes, approvals/desk.py)

The older `read:TOKEN`, `write:TOKEN` and bare `TOKEN` (write) still work, named `token-<n>` by
position, with a warning in the log. Every configured token is compared, in constant time, so
neither the answer nor its timing says which tokens exist. SIGHUP re-reads the list (serve.py):
a rotation is two entries for a while, the old one then removed; log lines name tokens by name,
never by value.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connector.logs import get_logger
from connector.service.paths import route_path
from connector.service_tokens import ServiceToken, TokenScope
from connector.settings import Settings

log = get_logger(__name__)

Area = Literal["api", "scim", "approvals"]
SCIM_PREFIX = "/scim/v2"
APPROVALS_PREFIX = "/v1/approvals"

# (area, write) -> the scopes that may.
_GRANTS: dict[tuple[Area, bool], frozenset[TokenScope]] = {
    ("api", False): frozenset({"read", "jobs", "write", "approve"}),
    ("api", True): frozenset({"jobs", "write"}),
    ("scim", False): frozenset({"read", "scim", "write"}),
    ("scim", True): frozenset({"scim", "write"}),
    ("approvals", False): frozenset({"read", "jobs", "write", "approve"}),
    ("approvals", True): frozenset({"approve"}),  # four eyes: a writer never decides
}
_NEEDED: dict[Area, str] = {"api": "jobs or write", "scim": "scim or write", "approvals": "approve"}
_WHAT: dict[Area, str] = {"api": "the jobs API", "scim": "SCIM", "approvals": "approvals"}


class Unauthorized(Exception):
    """401: no token, or not one of ours. The message never names a token."""


class Forbidden(Exception):
    """403: a valid token without the scope this endpoint needs."""


@dataclass(frozen=True)
class Principal:
    """Who called: the name of the token they showed, and what it may do."""

    name: str
    scopes: frozenset[TokenScope]

    def may(self, area: Area, write: bool) -> bool:
        return bool(self.scopes & _GRANTS[(area, write)])

    def refusal(self, area: Area, write: bool) -> str:
        scopes = ",".join(sorted(self.scopes))
        needed = _NEEDED[area]
        if write and self.may(area, False):
            return (
                f"the token {self.name!r} may only read here (scope {scopes}); this needs a "
                f"token of scope {needed}"
            )
        return (
            f"the token {self.name!r} (scope {scopes}) may not use {_WHAT[area]}: it needs {needed}"
        )


def area_of(path: str) -> Area:
    if path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/"):
        return "scim"
    if path == APPROVALS_PREFIX or path.startswith(APPROVALS_PREFIX + "/"):
        return "approvals"
    return "api"


class TokenCheck:
    def __init__(self, settings: Settings) -> None:
        self._tokens: tuple[tuple[Principal, bytes], ...] = ()
        self.replace(settings.tokens())

    @property
    def names(self) -> list[str]:
        return sorted({p.name for p, _ in self._tokens})

    def replace(self, tokens: Sequence[ServiceToken]) -> None:
        """Take this token list from now on (at start, and on SIGHUP). Logs names only."""
        if not tokens:
            raise ValueError("no tokens: the service never runs without tokens")
        scopes: dict[str, set[TokenScope]] = {}
        for t in tokens:
            scopes.setdefault(t.name, set()).add(t.scope)
        principals = {name: Principal(name, frozenset(s)) for name, s in scopes.items()}
        before = set(self.names)
        # One assignment: a request checks against the old list or the new one, never a mix.
        self._tokens = tuple((principals[t.name], t.token.encode("utf-8")) for t in tokens)
        for t in tokens:
            if t.legacy:
                log.warning(
                    "service.token_unnamed",
                    name=t.name,
                    scope=t.scope,
                    hint="old token form (read:TOKEN, write:TOKEN or a bare TOKEN): write "
                    "NAME:SCOPE:TOKEN so the audit trail names who called",
                )
        now = set(self.names)
        log.info(
            "service.tokens",
            names=sorted(now),
            added=sorted(now - before) if before else [],
            removed=sorted(before - now),
            entries=len(tokens),
        )

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        offered = presented.strip().encode("utf-8")
        found: Principal | None = None
        for principal, token in self._tokens:  # no early exit: the time is the same for all
            if hmac.compare_digest(offered, token):
                found = principal
        if found is None:
            raise Unauthorized("the token is not valid")
        return found

    def require(self, authorization: str | None, area: Area, write: bool) -> Principal:
        principal = self.authenticate(authorization)
        if not principal.may(area, write):
            raise Forbidden(principal.refusal(area, write))
        return principal


_bearer = HTTPBearer(auto_error=False, description="A token from STITCH_SERVICE_TOKENS.")


def _requires(write: bool) -> Any:
    """A route dependency: it runs before the body is read, so a caller without the right
    token learns nothing about what its request would have done. It yields the Principal."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        tokens: TokenCheck = request.app.state.tokens
        header = f"Bearer {credentials.credentials}" if credentials else None
        principal = tokens.require(header, area_of(route_path(request.scope)), write)
        request.state.principal = principal
        return principal

    return Depends(check)


def principal_of(request: Request) -> Principal:
    """The caller, as the route's READ or WRITE dependency found it."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    tokens: TokenCheck = request.app.state.tokens
    return tokens.authenticate(request.headers.get("authorization"))


READ = _requires(False)
WRITE = _requires(True)


APPROVE = WRITE  # under /v1/approvals, writing is deciding: scope approve only

"""Bearer tokens for the service: `Authorization: Bearer <token>` on everything but /healthz.

Tokens come from STITCH_SERVICE_TOKENS (or _FILE), each with a scope: `read:` ones may only read,
`write:` (or bare) ones may also offboard. Every configured token is compared, in constant time,
so neither the answer nor its timing says which tokens exist.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connector.settings import Settings

Scope = Literal["read", "write"]


class Unauthorized(Exception):
    """401: no token, or not one of ours. The message never names a token."""


class Forbidden(Exception):
    """403: a valid token without the scope this endpoint needs."""


class TokenCheck:
    def __init__(self, settings: Settings) -> None:
        self._tokens = [(scope, token.encode("utf-8")) for scope, token in settings.tokens()]

    def scope_of(self, authorization: str | None) -> Scope:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        offered = presented.strip().encode("utf-8")
        found: Scope | None = None
        for scope, token in self._tokens:  # no early exit: the time is the same for all
            if hmac.compare_digest(offered, token) and found != "write":
                found = scope
        if found is None:
            raise Unauthorized("the token is not valid")
        return found

    def require(self, authorization: str | None, needed: Scope) -> Scope:
        scope = self.scope_of(authorization)
        if needed == "write" and scope != "write":
            raise Forbidden("this token may only read; offboarding needs a write token")
        return scope


_bearer = HTTPBearer(auto_error=False, description="A token from STITCH_SERVICE_TOKENS.")


def _requires(needed: Scope) -> Any:
    """A route dependency: it runs before the body is read, so a caller without the right
    token learns nothing about what its request would have done."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        tokens: TokenCheck = request.app.state.tokens
        header = f"Bearer {credentials.credentials}" if credentials else None
        tokens.require(header, needed)

    return Depends(check)


READ = _requires("read")
WRITE = _requires("write")

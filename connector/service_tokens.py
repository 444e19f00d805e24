"""The service's bearer tokens: STITCH_SERVICE_TOKENS parsed into named, scoped entries.

read: GET everything. jobs: the jobs API (/v1, /readyz, /metrics, the docs), read and write.
scim: /scim/v2 only, read and write. write: everything (what `write:TOKEN` and a bare TOKEN were).
approve: decide approval requests (/v1/approvals), read the jobs API; nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

TokenScope = Literal["read", "jobs", "scim", "write", "approve"]
TOKEN_SCOPES: tuple[TokenScope, ...] = ("read", "jobs", "scim", "write", "approve")
_MIN_TOKEN_LENGTH = 16
_TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class ServiceToken:
    """One entry of STITCH_SERVICE_TOKENS. `legacy`: written in the old form (`read:TOKEN`,
    `write:TOKEN`, a bare TOKEN), so its name was made up from its position (`token-2`)."""

    name: str
    scope: TokenScope
    token: str = field(repr=False)
    legacy: bool = False


def parse_tokens(raw: str) -> list[ServiceToken]:
    """`NAME:SCOPE:TOKEN`, or the older `read:TOKEN`, `write:TOKEN` and bare `TOKEN` (write),
    named `token-<position>`. Messages name entries by position and name, never a token."""
    parsed: list[ServiceToken] = []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":", 2)
        legacy = not (len(parts) == 3 and parts[1] in TOKEN_SCOPES)
        if not legacy:
            name, scope, token = parts[0].lower(), parts[1], parts[2]
            if not _TOKEN_NAME.fullmatch(name):
                raise ValueError(
                    f"token {position}: the name must be lowercase letters, digits, '.', '_' "
                    "or '-' (NAME:SCOPE:TOKEN)"
                )
        elif len(parts) == 1:
            name, scope, token = f"token-{position}", "write", entry
        elif parts[0] in ("read", "write"):
            name, scope, token = f"token-{position}", parts[0], entry.split(":", 1)[1]
        else:
            raise ValueError(
                f"token {position}: write NAME:SCOPE:TOKEN, the scope one of "
                f"{', '.join(TOKEN_SCOPES)}"
            )
        if len(token) < _MIN_TOKEN_LENGTH or any(ch.isspace() for ch in token):
            raise ValueError(
                f"token {position} ({name}) must be at least {_MIN_TOKEN_LENGTH} characters, "
                "no spaces (e.g. `openssl rand -hex 32`)"
            )
        for other in parsed:
            if other.token == token:
                raise ValueError(f"token {position} ({name}) repeats the token of {other.name}")
            if other.name == name and other.scope != scope:  # the same name: a rotation
                raise ValueError(
                    f"token {position}: {name} is named before with scope {other.scope}; two "
                    "tokens of one name (a rotation) must have the same scope"
                )
        parsed.append(ServiceToken(name, scope, token, legacy))  # type: ignore[arg-type]
    return parsed

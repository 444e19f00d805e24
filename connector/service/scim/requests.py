"""What a SCIM request says: its base URL and its JSON body, checked the way every other entry
point checks input (no unsafe characters, userName an email), validated with scim2-models."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from scim2_models import Context, SCIMException
from starlette.requests import ClientDisconnect

from connector.models import MAX_EMAIL_LENGTH, is_requested_email, unsafe_char
from connector.service.scim.errors import ScimError


def base_url(request: Request) -> str:
    """The SCIM base URL as the caller reached it (an account's mount included)."""
    prefix = str(request.scope.get("root_path", "")).removeprefix(
        str(request.scope.get("app_root_path", ""))
    )
    return str(request.base_url).rstrip("/") + prefix + "/scim/v2"


async def read_body(request: Request) -> Any:
    try:
        raw = await request.body()  # bounded as it arrives: over the limit is a 413 (limits.py)
    except ClientDisconnect:  # gone, or cut off at the limit (the 413 has been sent)
        raise ScimError(400, "the request body did not arrive", "invalidSyntax") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from None


def check_user_name(user_name: str | None) -> None:
    """userName is a Stitch email: the same rule as every other entry point (is_requested_email)."""
    if user_name is not None and not is_requested_email(user_name):
        raise ScimError(
            400,
            "userName must be an email address: an ASCII local part of at most 64 characters, "
            f"a domain (IDNA A-labels), at most {MAX_EMAIL_LENGTH} characters",
            "invalidValue",
        )


def refuse_unsafe_strings(data: Any, where: str = "") -> None:
    """Every string of a request, keys and values, at any depth: no control, escape or bidi
    characters (models.UNSAFE_CHARS), the same rule as the HTTP API's SafeText."""
    if isinstance(data, str):
        if (bad := unsafe_char(data)) is not None:
            raise ScimError(
                400,
                f"{where or 'the body'}: must not contain control, escape or bidirectional "
                f"characters (found U+{ord(bad):04X})",
                "invalidValue",
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            refuse_unsafe_strings(key, where)
            refuse_unsafe_strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            refuse_unsafe_strings(value, f"{where}[{i}]")


def validate(model: Any, data: Any, context: Context) -> Any:
    if not isinstance(data, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    refuse_unsafe_strings(data)
    try:
        return model.model_validate(data, scim_ctx=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        kind = str(first.get("type", ""))
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        scim_type = kind.removeprefix("scim_") if kind.startswith("scim_") else "invalidValue"
        raise ScimError(400, detail, scim_type) from None
    except SCIMException as exc:
        raise ScimError(exc.status, exc.detail, exc.scim_type or None) from None

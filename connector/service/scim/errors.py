"""SCIM's answers: the Error resource (RFC 7644 §3.12) and the application/scim+json media type.
A leaf: the API's error handlers, the token check and the body limit use it for /scim/v2."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from scim2_models import Context, Error

MEDIA_TYPE = "application/scim+json"
RETRY_AFTER_S = "30"


class ScimError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}


def error_response(
    status: int,
    detail: str,
    scim_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE
    )
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="stitch-connector"'}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def scim_json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Any:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)

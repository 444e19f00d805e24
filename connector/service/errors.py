"""The API's one error shape ({"error": {kind, message, hint}}) under /v1 and for operations,
SCIM's Error under /scim/v2, and which HTTP status each ConnectorError becomes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.errors import (
    ApprovalClosed,
    ApprovalUnknown,
    AuthFailed,
    ConfidenceGate,
    ConfigError,
    ConnectorError,
    HumanNeeded,
    IdempotencyConflict,
    LockHeld,
    OwnRequest,
    PageNotRecognised,
    PlanStale,
    PolicyRefused,
    SessionExpired,
    TransientFailure,
    UsageProblem,
)
from connector.logs import get_logger
from connector.service.auth import Forbidden, Unauthorized
from connector.service.paths import route_path
from connector.service.scim.errors import ScimError, error_response

log = get_logger(__name__)


class ErrorBody(BaseModel):
    kind: str
    message: str
    hint: str | None = None


class NotFound(Exception):
    pass


def error_body(exc: ConnectorError) -> ErrorBody:
    return ErrorBody(kind=exc.kind, message=str(exc), hint=exc.hint or None)


# ConnectorError class -> HTTP status, most specific first.
_STATUS: tuple[tuple[type[ConnectorError], int], ...] = (
    (IdempotencyConflict, 409),
    (ApprovalUnknown, 404),
    (ApprovalClosed, 409),
    (OwnRequest, 403),
    (ConfidenceGate, 409),
    (LockHeld, 409),
    (PlanStale, 409),
    (PolicyRefused, 403),
    (UsageProblem, 422),
    (ConfigError, 422),
    (TransientFailure, 503),
    (SessionExpired, 503),
    (AuthFailed, 502),
    (HumanNeeded, 502),
    (PageNotRecognised, 502),
)


def install(app: FastAPI) -> None:
    """One error shape for /v1 ({"error": {kind, message, hint}}); SCIM's own under /scim/v2."""

    def respond(request: Request, status: int, body: ErrorBody) -> JSONResponse:
        if route_path(request.scope).startswith("/scim/v2"):
            if status == 422:  # SCIM says 400 for a request it cannot use
                return error_response(400, body.message, "invalidValue")
            return error_response(status, body.message)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": body.model_dump()}, status_code=status, headers=headers)

    @app.exception_handler(ScimError)
    async def scim_error(_request: Request, exc: ScimError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.scim_type, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return respond(request, exc.status_code, ErrorBody(kind=kind, message=str(exc.detail)))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return respond(request, 401, ErrorBody(kind="Unauthorized", message=str(exc)))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return respond(request, 403, ErrorBody(kind="Forbidden", message=str(exc)))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return respond(request, 404, ErrorBody(kind="NotFound", message=str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        message = f"{where}: {first.get('msg', 'invalid request')}"
        return respond(
            request,
            422,
            ErrorBody(kind="InvalidRequest", message=message, hint="Nothing was changed."),
        )

    @app.exception_handler(ConnectorError)
    async def connector_error(request: Request, exc: ConnectorError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        return respond(request, status, error_body(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("service.internal_error", error=f"{type(exc).__name__}: {exc}")
        body = ErrorBody(
            kind="InternalError",
            message=f"an unexpected error ({type(exc).__name__}); nothing was queued by it",
            hint="This is a bug: report it with the service log.",
        )
        return respond(request, 500, body)

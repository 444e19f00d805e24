"""The offboarding service: FastAPI over the one guarded write path.

    POST /v1/offboardings        queue a removal (idempotent by request_id)      write
    GET  /v1/offboardings/{id}   the job, its Outcome and evidence links          read
    GET  /v1/members             the latest snapshot and its age                  read
    POST /v1/sync                read the roster now and store it                 write
    GET  /v1/evidence/{run}/{f}  an evidence file of a run                        read
    /scim/v2/...                 SCIM 2.0 (scim/)                                 read / write
    GET  /healthz (no token), /readyz, /metrics

This module builds the app: the token check and the body limit around it, the error handlers
(errors.py), the routers (routes.py, scim/). The endpoints only validate, queue and render; the
account's offboarding queue (connector.offboard_queue) does every write, so the service is
exactly as guarded as the CLI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from connector import __version__
from connector.logs import get_logger
from connector.service import approval_routes, errors, routes, scim
from connector.service.auth import Forbidden, TokenCheck, Unauthorized, area_of
from connector.service.errors import ErrorBody
from connector.service.limits import BodyLimit
from connector.service.paths import route_path
from connector.service.scim.errors import error_response
from connector.service.state import Service
from connector.settings import Settings

log = get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    sync_every_s: float | None = None,
    grace_s: float = 30.0,
    account: str | None = None,
) -> FastAPI:
    """`account`: this app serves that account of several, mounted at /accounts/<account>."""
    service = Service(settings, sync_every_s=sync_every_s, account=account)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.queue.start()
        log.info("service.started", version=__version__)
        try:
            yield
        finally:
            await service.queue.stop(grace_s)
            log.info("service.stopped")

    app = FastAPI(
        title="stitch-connector",
        version=__version__,
        summary="Offboard people from Stitch through its admin UI, safely and idempotently.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.tokens = service.tokens
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # inside the token check
    app.add_middleware(BearerTokens, tokens=service.tokens)
    errors.install(app)
    app.include_router(routes.operations)
    app.include_router(routes.v1)
    app.include_router(approval_routes.router)
    app.include_router(scim.router, prefix="/scim/v2")
    return app


class BearerTokens:
    """Every request but /healthz shows a token before anything else happens, even before
    its body is parsed: a caller without one learns nothing from the answer. Reads (GET, HEAD)
    need a token that may read there, everything else one that may write there: SCIM tokens
    only under /scim/v2, jobs tokens only outside it (auth.py). The routes check again."""

    def __init__(self, app: ASGIApp, tokens: TokenCheck) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or path == "/healthz":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        writing = scope["method"] not in ("GET", "HEAD")
        try:
            self.tokens.require(header or None, area_of(path), writing)
        except (Unauthorized, Forbidden) as exc:
            status = 401 if isinstance(exc, Unauthorized) else 403
            if path.startswith("/scim/v2"):
                response = error_response(status, str(exc))
            else:
                kind = type(exc).__name__
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                response = JSONResponse(
                    {"error": ErrorBody(kind=kind, message=str(exc)).model_dump()},
                    status_code=status,
                    headers=headers,
                )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

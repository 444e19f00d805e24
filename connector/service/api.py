"""The offboarding service: FastAPI over the one guarded write path.

    POST /v1/offboardings        queue a removal (idempotent by request_id)      write
    GET  /v1/offboardings/{id}   the job, its Outcome and evidence links          read
    GET  /v1/members             the latest snapshot and its age                  read
    POST /v1/sync                read the roster now and store it                 write
    GET  /v1/evidence/{run}/{f}  an evidence file of a run                        read
    /scim/v2/...                 SCIM 2.0 (scim.py)                               read / write
    GET  /healthz (no token), /readyz, /metrics

The endpoints only validate, queue and render; the worker does every write, through
StitchConnector, so the service is exactly as guarded as the CLI.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import AnyHttpUrl, BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from connector import __version__
from connector.errors import (
    AuthFailed,
    ConfidenceGate,
    ConfigError,
    ConnectorError,
    HumanNeeded,
    IdempotencyConflict,
    LockHeld,
    PageNotRecognised,
    PlanStale,
    PolicyRefused,
    SessionExpired,
    TransientFailure,
    UsageProblem,
)
from connector.logs import get_logger, register_secrets
from connector.models import MemberList
from connector.offboard.callbacks import AllowList, CallbackSender, check_callback_url
from connector.offboard.jobs import JobStatus, JobStore, OffboardingRequest, job_body
from connector.offboard.worker import Worker
from connector.service import scim
from connector.service.auth import (
    READ,
    WRITE,
    Forbidden,
    Principal,
    TokenCheck,
    Unauthorized,
    area_of,
)
from connector.service.limits import BodyLimit
from connector.settings import Settings
from connector.store import SnapshotInfo, SnapshotStore

log = get_logger(__name__)

_READY_CACHE_S = 30.0  # /readyz starts a browser: probes more often than this reuse the answer
_EVIDENCE = re.compile(r"^[0-9a-z][0-9a-z_.-]{0,99}$")


class ErrorBody(BaseModel):
    kind: str
    message: str
    hint: str | None = None


class MembersSnapshot(BaseModel):
    """GET /v1/members."""

    snapshot: SnapshotInfo
    age_seconds: float
    roster: MemberList


class Service:
    """What the endpoints share: settings, stores, the worker, the token check."""

    def __init__(self, settings: Settings, *, sync_every_s: float | None) -> None:
        if not settings.tokens():
            raise ConfigError(
                "STITCH_SERVICE_TOKENS is not set: the service never runs without tokens",
                hint="Set STITCH_SERVICE_TOKENS (or _FILE): NAME:SCOPE:TOKEN entries, e.g. "
                "airflow:jobs:$(openssl rand -hex 32).",
            )
        register_secrets(*settings.secrets())  # tokens and keys never reach a log line
        self.settings = settings
        self.tokens = TokenCheck(settings)
        self.jobs = JobStore.in_state_dir(settings.state_dir)
        self.snapshots = SnapshotStore.in_state_dir(settings.state_dir)
        callbacks = (
            CallbackSender(
                settings.callback_secret, settings.runs_dir, hosts=settings.callback_hosts
            )
            if settings.callback_secret
            else None
        )
        self.worker = Worker(
            settings, self.jobs, self.snapshots, callbacks=callbacks, sync_every_s=sync_every_s
        )
        self._ready: tuple[datetime, dict[str, Any], int] | None = None

    async def readiness(self) -> tuple[dict[str, Any], int]:
        now = datetime.now(UTC)
        if self._ready and (now - self._ready[0]).total_seconds() < _READY_CACHE_S:
            return self._ready[1], self._ready[2]
        try:
            account = await self.worker.check_ready()
            body: dict[str, Any] = {"status": "ready", "account": account.model_dump()}
            code = 200
        except ConnectorError as exc:
            body = {"status": "not_ready", "error": _error(exc).model_dump()}
            code = 503
        body["checked_at"] = now.isoformat()
        body["held"] = self.worker.held  # queued jobs wait for the daily budget
        self._ready = (now, body, code)
        return body, code


def create_app(
    settings: Settings, *, sync_every_s: float | None = None, grace_s: float = 30.0
) -> FastAPI:
    service = Service(settings, sync_every_s=sync_every_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.worker.start()
        log.info("service.started", version=__version__)
        try:
            yield
        finally:
            await service.worker.stop(grace_s)
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
    _errors(app)
    _routes(app, service)
    app.include_router(scim.router(service), prefix="/scim/v2")
    return app


def _routes(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. No token needed."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        responses={503: {"description": "Not ready"}},
        dependencies=[READ],
    )
    async def readyz() -> JSONResponse:
        """Readiness: a browser starts and the Stitch session is valid (signs in if needed)."""
        body, code = await service.readiness()
        return JSONResponse(body, status_code=code)

    @app.get("/metrics", tags=["operations"], response_class=Response, dependencies=[READ])
    async def metrics() -> Response:
        """Prometheus metrics."""
        registry = CollectorRegistry()
        registry.register(_Metrics(service))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/offboardings",
        status_code=202,
        tags=["offboarding"],
        dependencies=[WRITE],
        responses={
            200: {"description": "A replay: the job this request id already made"},
            409: {"description": "The request id was used for a different request"},
        },
    )
    async def offboard(
        request: OffboardingRequest, response: Response, principal: Annotated[Principal, WRITE]
    ) -> dict[str, object]:
        """Remove this person from Stitch. Idempotent: retry with the same request_id. The
        job and its audit records name the token's principal; `requested_by` is kept beside
        it, as the caller's own (unverified) word."""
        if request.callback_url is not None:
            _check_callback(service.settings, request.callback_url)
        job, created = service.jobs.submit(request, source="api", principal=principal.name)
        if created:
            service.worker.wake()
        else:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        response.headers["Location"] = f"/v1/offboardings/{job.id}"
        return job_body(job, service.settings.runs_dir)

    @app.get("/v1/offboardings/{job_id}", tags=["offboarding"], dependencies=[READ])
    async def get_job(job_id: str) -> dict[str, object]:
        """The job: its status and, once finished, the Outcome with links to its evidence."""
        job = service.jobs.get(job_id)
        if job is None:
            raise _NotFound(f"no offboarding job {job_id!r}")
        return job_body(job, service.settings.runs_dir)

    @app.get("/v1/members", tags=["members"], dependencies=[READ])
    async def members() -> MembersSnapshot:
        """The latest stored roster and how old it is. POST /v1/sync to refresh it."""
        newest = service.snapshots.history(1)
        if not newest:
            raise _NotFound("no roster has been read yet: POST /v1/sync")
        info = newest[0]
        return MembersSnapshot(
            snapshot=info,
            age_seconds=round((datetime.now(UTC) - info.taken_at).total_seconds(), 3),
            roster=service.snapshots.get(info.id),
        )

    @app.post("/v1/sync", tags=["members"], dependencies=[WRITE])
    async def sync() -> dict[str, object]:
        """Read the roster now and store it as a snapshot (with the confidence gate)."""
        report = await service.worker.sync()
        return report.model_dump(mode="json")

    @app.get(
        "/v1/evidence/{run_id}/{name}",
        tags=["offboarding"],
        response_class=FileResponse,
        dependencies=[READ],
    )
    async def evidence(run_id: str, name: str) -> FileResponse:
        """An evidence file (screenshot, page HTML, trace) of a run, as a job's links name it."""
        if not (_EVIDENCE.fullmatch(run_id) and _EVIDENCE.fullmatch(name)):
            raise _NotFound("no such evidence file")
        path = service.settings.runs_dir / run_id / name
        if not path.is_file():
            raise _NotFound("no such evidence file")
        return FileResponse(path)


class _NotFound(Exception):
    pass


def _check_callback(settings: Settings, url: AnyHttpUrl) -> None:
    """Callbacks are signed, and go only where the service is told they may (no SSRF)."""
    if settings.callback_secret is None:
        raise ConfigError(
            "callback_url needs the service to have STITCH_CALLBACK_SECRET set (callbacks "
            "are always signed)",
            hint="Leave out callback_url and poll the job, or ask for callbacks to be set up.",
        )
    # Off without STITCH_CALLBACK_HOSTS; a listed host, no userinfo, no blocked address
    # literal. No DNS here: the sender resolves once per attempt and checks that address.
    check_callback_url(str(url), AllowList.parse(settings.callback_hosts))


class BearerTokens:
    """Every request but /healthz shows a token before anything else happens, even before
    its body is parsed: a caller without one learns nothing from the answer. Reads (GET, HEAD)
    need a token that may read there, everything else one that may write there: SCIM tokens
    only under /scim/v2, jobs tokens only outside it (auth.py). The routes check again."""

    def __init__(self, app: ASGIApp, tokens: TokenCheck) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        writing = scope["method"] not in ("GET", "HEAD")
        try:
            self.tokens.require(header or None, area_of(scope["path"]), writing)
        except (Unauthorized, Forbidden) as exc:
            status = 401 if isinstance(exc, Unauthorized) else 403
            if scope["path"].startswith("/scim/v2"):
                response = scim.error_response(status, str(exc))
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


def _error(exc: ConnectorError) -> ErrorBody:
    return ErrorBody(kind=exc.kind, message=str(exc), hint=exc.hint or None)


# ConnectorError class -> HTTP status, most specific first.
_STATUS: tuple[tuple[type[ConnectorError], int], ...] = (
    (IdempotencyConflict, 409),
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


def _errors(app: FastAPI) -> None:
    """One error shape for /v1 ({"error": {kind, message, hint}}); SCIM's own under /scim/v2."""

    def respond(request: Request, status: int, body: ErrorBody) -> JSONResponse:
        if request.url.path.startswith("/scim/v2"):
            if status == 422:  # SCIM says 400 for a request it cannot use
                return scim.error_response(400, body.message, "invalidValue")
            return scim.error_response(status, body.message)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": body.model_dump()}, status_code=status, headers=headers)

    @app.exception_handler(scim.ScimError)
    async def scim_error(_request: Request, exc: scim.ScimError) -> JSONResponse:
        return scim.error_response(exc.status, exc.detail, exc.scim_type, exc.headers)

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

    @app.exception_handler(_NotFound)
    async def not_found(request: Request, exc: _NotFound) -> JSONResponse:
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
        return respond(request, status, _error(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("service.internal_error", error=f"{type(exc).__name__}: {exc}")
        body = ErrorBody(
            kind="InternalError",
            message=f"an unexpected error ({type(exc).__name__}); nothing was queued by it",
            hint="This is a bug: report it with the service log.",
        )
        return respond(request, 500, body)


class _Metrics(Collector):
    """Read at scrape time from the stores, so a restart loses nothing."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Any:
        jobs = GaugeMetricFamily(
            "stitch_service_jobs", "Offboarding jobs by status.", labels=["status"]
        )
        for status, count in self.service.jobs.counts().items():
            jobs.add_metric([status.value], count)
        yield jobs
        yield GaugeMetricFamily(
            "stitch_service_queue_depth",
            "Jobs waiting for the worker.",
            value=self.service.jobs.count(JobStatus.QUEUED),
        )
        worker = self.service.worker
        yield GaugeMetricFamily(
            "stitch_service_batches", "Write runs since the service started.", value=worker.batches
        )
        if worker.last_batch_at is not None:
            yield GaugeMetricFamily(
                "stitch_service_last_batch_timestamp_seconds",
                "When the last write run finished.",
                value=worker.last_batch_at.timestamp(),
            )
        newest = self.service.snapshots.history(1)
        if newest:
            yield GaugeMetricFamily(
                "stitch_service_snapshot_age_seconds",
                "Age of the roster the service serves.",
                value=(datetime.now(UTC) - newest[0].taken_at).total_seconds(),
            )
            yield GaugeMetricFamily(
                "stitch_service_members",
                "Members in the latest snapshot the service serves.",
                value=newest[0].count,
            )
        yield GaugeMetricFamily(
            "stitch_service_held",
            "1 while queued jobs wait for the daily removal budget.",
            value=int(worker.held is not None),
        )
        yield GaugeMetricFamily(
            "stitch_service_signin_stopped",
            "1 after Stitch rejected the sign-in (or it needs a person): restart after fixing.",
            value=int(worker.latched is not None),
        )

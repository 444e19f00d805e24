"""The API's routes: operations (/healthz, /readyz, /metrics) and /v1 (offboardings, members,
sync, evidence). They validate, queue and render; the account's offboarding queue does every
write, through the same guarded path as the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import AnyHttpUrl, BaseModel

from connector.errors import ConfigError
from connector.models import MemberList, SnapshotInfo
from connector.offboard_queue.addresses import AllowList, check_callback_url
from connector.offboard_queue.models import JobStatus, OffboardingRequest
from connector.offboard_queue.public import job_body
from connector.service.auth import READ, WRITE, Principal
from connector.service.errors import NotFound
from connector.service.state import Service, ServiceDep
from connector.settings import Settings

_EVIDENCE = re.compile(r"^[0-9a-z][0-9a-z_.-]{0,99}$")

operations = APIRouter(tags=["operations"])
v1 = APIRouter(prefix="/v1")


class MembersSnapshot(BaseModel):
    """GET /v1/members."""

    snapshot: SnapshotInfo
    age_seconds: float
    roster: MemberList


@operations.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. No token needed."""
    return {"status": "ok"}


@operations.get("/readyz", responses={503: {"description": "Not ready"}}, dependencies=[READ])
async def readyz(service: ServiceDep) -> JSONResponse:
    """Readiness: a browser starts and the Stitch session is valid (signs in if needed)."""
    body, code = await service.readiness()
    return JSONResponse(body, status_code=code)


@operations.get("/metrics", response_class=Response, dependencies=[READ])
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics."""
    registry = CollectorRegistry()
    registry.register(_Metrics(service))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@v1.post(
    "/offboardings",
    status_code=202,
    tags=["offboarding"],
    dependencies=[WRITE],
    responses={
        200: {"description": "A replay: the job this request id already made"},
        409: {"description": "The request id was used for a different request"},
    },
)
async def offboard(
    request: OffboardingRequest,
    response: Response,
    principal: Annotated[Principal, WRITE],
    service: ServiceDep,
) -> dict[str, object]:
    """Remove this person from Stitch. Idempotent: retry with the same request_id. The
    job and its audit records name the token's principal; `requested_by` is kept beside
    it, as the caller's own (unverified) word."""
    if request.callback_url is not None:
        check_callback(service.settings, request.callback_url)
    job, created = service.queue.submit(request, source="api", principal=principal.name)
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{service.prefix}/v1/offboardings/{job.id}"
    return job_body(job, service.settings.runs_dir, prefix=service.prefix)


@v1.get("/offboardings/{job_id}", tags=["offboarding"], dependencies=[READ])
async def get_job(job_id: str, service: ServiceDep) -> dict[str, object]:
    """The job: its status and, once finished, the Outcome with links to its evidence."""
    job = service.app.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no offboarding job {job_id!r}")
    return job_body(job, service.settings.runs_dir, prefix=service.prefix)


@v1.get("/members", tags=["members"], dependencies=[READ])
async def members(service: ServiceDep) -> MembersSnapshot:
    """The latest stored roster and how old it is. POST /v1/sync to refresh it."""
    newest = service.app.history(1)
    if not newest:
        raise NotFound("no roster has been read yet: POST /v1/sync")
    info = newest[0]
    return MembersSnapshot(
        snapshot=info,
        age_seconds=round((datetime.now(UTC) - info.taken_at).total_seconds(), 3),
        roster=service.app.snapshot(info.id),
    )


@v1.post("/sync", tags=["members"], dependencies=[WRITE])
async def sync(service: ServiceDep) -> dict[str, Any]:
    """Read the roster now and store it as a snapshot (with the confidence gate)."""
    report = await service.queue.worker.sync()
    return report.model_dump(mode="json")


@v1.get(
    "/evidence/{run_id}/{name}",
    tags=["offboarding"],
    response_class=FileResponse,
    dependencies=[READ],
)
async def evidence(run_id: str, name: str, service: ServiceDep) -> FileResponse:
    """An evidence file (screenshot, page HTML, trace) of a run, as a job's links name it."""
    if not (_EVIDENCE.fullmatch(run_id) and _EVIDENCE.fullmatch(name)):
        raise NotFound("no such evidence file")
    path = service.settings.runs_dir / run_id / name
    if not path.is_file():
        raise NotFound("no such evidence file")
    return FileResponse(path)


def check_callback(settings: Settings, url: AnyHttpUrl) -> None:
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


class _Metrics(Collector):
    """Read at scrape time from the stores, so a restart loses nothing."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Any:
        account = self.service.account
        for family in self._families():
            yield family if account is None else _with_account(family, account)

    def _families(self) -> Any:
        jobs = GaugeMetricFamily(
            "stitch_service_jobs", "Offboarding jobs by status.", labels=["status"]
        )
        for status, count in self.service.app.jobs.counts().items():
            jobs.add_metric([status.value], count)
        yield jobs
        yield GaugeMetricFamily(
            "stitch_service_queue_depth",
            "Jobs waiting for the worker.",
            value=self.service.app.jobs.count(JobStatus.QUEUED),
        )
        worker = self.service.queue.worker
        yield GaugeMetricFamily(
            "stitch_service_batches", "Write runs since the service started.", value=worker.batches
        )
        if worker.last_batch_at is not None:
            yield GaugeMetricFamily(
                "stitch_service_last_batch_timestamp_seconds",
                "When the last write run finished.",
                value=worker.last_batch_at.timestamp(),
            )
        newest = self.service.app.history(1)
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


def _with_account(family: GaugeMetricFamily, account: str) -> GaugeMetricFamily:
    """The same gauge with an `account` label: one service process, several accounts."""
    labels = ["account", *(family.samples[0].labels if family.samples else {})]
    labelled = GaugeMetricFamily(family.name, family.documentation, labels=labels)
    for sample in family.samples:
        labelled.add_metric([account, *sample.labels.values()], sample.value)
    return labelled

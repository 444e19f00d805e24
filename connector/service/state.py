"""What the routes share, one per running app: settings, the token check, the account's App and
its offboarding queue. Routes get it as a FastAPI dependency (ServiceDep)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from connector.app import App
from connector.errors import ConfigError, ConnectorError
from connector.logs import register_secrets
from connector.offboard_queue.queue import OffboardQueue
from connector.service.auth import TokenCheck
from connector.settings import Settings

_READY_CACHE_S = 30.0  # /readyz starts a browser: probes more often than this reuse the answer


class Service:
    def __init__(
        self, settings: Settings, *, sync_every_s: float | None, account: str | None = None
    ) -> None:
        if not settings.tokens():
            raise ConfigError(
                "STITCH_SERVICE_TOKENS is not set: the service never runs without tokens",
                hint="Set STITCH_SERVICE_TOKENS (or _FILE): NAME:SCOPE:TOKEN entries, e.g. "
                "airflow:jobs:$(openssl rand -hex 32).",
            )
        register_secrets(*settings.secrets())  # tokens and keys never reach a log line
        self.settings = settings
        self.account = account  # one of several accounts, mounted at /accounts/<account>
        self.prefix = f"/accounts/{account}" if account else ""  # of every link handed out
        self.tokens = TokenCheck(settings)
        self.app = App(settings)
        self.queue = OffboardQueue.serving(self.app, sync_every_s=sync_every_s, prefix=self.prefix)
        self._ready: tuple[datetime, dict[str, Any], int] | None = None

    async def readiness(self) -> tuple[dict[str, Any], int]:
        now = datetime.now(UTC)
        if self._ready and (now - self._ready[0]).total_seconds() < _READY_CACHE_S:
            return self._ready[1], self._ready[2]
        worker = self.queue.worker
        try:
            account = await worker.check_ready()
            body: dict[str, Any] = {"status": "ready", "account": account.model_dump()}
            code = 200
        except ConnectorError as exc:
            error = {"kind": exc.kind, "message": str(exc), "hint": exc.hint or None}
            body = {"status": "not_ready", "error": error}
            code = 503
        body["checked_at"] = now.isoformat()
        body["held"] = worker.held  # queued jobs wait for the daily budget
        self._ready = (now, body, code)
        return body, code


def service_of(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


ServiceDep = Annotated[Service, Depends(service_of)]

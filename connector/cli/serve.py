"""`stitch-connector serve`: the offboarding service (HTTP API and SCIM 2.0) for orchestrators."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from connector import accounts
from connector.cli import common
from connector.errors import ConfigError
from connector.logs import get_logger, new_run_id, register_secrets

if TYPE_CHECKING:
    from connector.service.auth import TokenCheck
    from connector.service.state import Service

log = get_logger(__name__)


def serve(
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on. Loopback by default; anything else is exposed."
    ),
    port: int = typer.Option(8080, help="Port (0: any free port; the URL is printed)."),
    sync_every: float | None = typer.Option(
        None,
        "--sync-every",
        metavar="SECONDS",
        min=60,
        help="Also read and store the roster this often (SCIM reads serve the latest one). "
        "Default: only at start when none is stored, and on POST /v1/sync.",
    ),
    grace: float = typer.Option(
        30.0,
        min=1,
        help="On SIGTERM, give the removal in progress this long to finish; past it, the run "
        "is abandoned and verified on a fresh read at the next start.",
    ),
) -> None:
    """Serve the offboarding API and a SCIM 2.0 endpoint for this Stitch account.

    Every write goes through the same guarded path as `deactivate`: policy on a fresh roster,
    the budget, the write lock, proven removals and the audit trail. Jobs are kept in
    <state dir>/service.sqlite3, so a restart loses nothing.

    Needs STITCH_SERVICE_TOKENS (or _FILE): comma-separated bearer tokens, each
    NAME:SCOPE:TOKEN; the scope is read (GET anything), jobs (the jobs API), scim (SCIM only)
    or write (everything). The name is the actor in the audit trail. SIGHUP re-reads
    STITCH_SERVICE_TOKENS_FILE: rotate by adding the new token, then removing the old one.
    Request bodies are limited to STITCH_MAX_BODY_BYTES (64 KiB). Signed callbacks need
    STITCH_CALLBACK_SECRET. Examples:

      STITCH_SERVICE_TOKENS=airflow:jobs:$(openssl rand -hex 32) stitch-connector serve

      curl -H "Authorization: Bearer $TOKEN" -d '{"email": "leaver@example.com",
      "request_id": "HR-4711", "requested_by": "airflow"}' -H 'Content-Type: application/json'
      http://127.0.0.1:8080/v1/offboardings

    OpenAPI: /docs and /openapi.json. SCIM base URL: /scim/v2.

    With STITCH_ACCOUNTS_FILE (and no --account) it serves every account in one process, each
    at /accounts/<name>/ with its own tokens (service_tokens_file), state, lock, queue and SCIM
    base URL /accounts/<name>/scim/v2; /healthz answers for the process.
    """

    from connector.listen import bind, is_loopback, url

    run_id = new_run_id()
    common.start_logging(run_id)
    app, served = _app(sync_every, grace)
    sock = bind(host, port, "the service")
    where = url(host, sock)
    if not is_loopback(host):
        common.stderr.print(
            f"warning: listening on {host}, not loopback: put TLS in front of it",
            highlight=False,
            markup=False,
        )
    # One plain line that scripts (and the tests) read the URL from; port 0 picks a free port.
    print(
        f"stitch-connector service: {where}  ({_where(where, served)})", file=sys.stderr, flush=True
    )
    _run(app, sock, grace)


def _app(sync_every: float | None, grace: float) -> tuple[Any, list[str]]:
    """The app, and the accounts it serves ([] for one account at the root). With
    STITCH_ACCOUNTS_FILE and no --account: every account, each at /accounts/<name>."""
    path = accounts.accounts_file()
    if path is None or common.state.account:
        from connector.service.api import create_app

        settings = common.settings_from()
        common.require_credentials_unless_saved(settings)
        return create_app(settings, sync_every_s=sync_every, grace_s=grace), []
    from connector.service.accounts_app import create_accounts_app

    named = accounts.every(path)
    for settings in named.values():
        common.require_credentials_unless_saved(settings)
    app = create_accounts_app(named, sync_every_s=sync_every, grace_s=grace)
    return app, list(named)


def _where(root: str, served: list[str]) -> str:
    if not served:
        return f"OpenAPI {root}/docs, SCIM {root}/scim/v2"
    return "; ".join(
        f"{n}: {root}/accounts/{n}/ (SCIM {root}/accounts/{n}/scim/v2)" for n in served
    )


def _run(app: Any, sock: socket.socket, grace: float) -> None:
    """uvicorn on the bound socket: SIGTERM stops new removals while connections drain; SIGHUP
    reloads the tokens (one that comes before the loop runs is kept for it)."""
    import uvicorn  # the web stack loads here, not at --help

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=int(grace) + 5,
    )
    services: dict[str | None, Service] = (
        dict(app.state.services) if hasattr(app.state, "services") else {None: app.state.service}
    )
    hangups: list[int] = []  # a SIGHUP before the loop runs: reloaded once it does
    previous = signal.signal(signal.SIGHUP, lambda sig, _frame: hangups.append(sig))

    def reload() -> None:
        for account, service in services.items():
            _reload_tokens(service.tokens, account)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            for service in services.values():
                service.queue.begin_stop()  # no new removals while the connections drain
            super().handle_exit(sig, frame)

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, reload)
            if hangups:
                reload()
            try:
                await super().serve(sockets)
            finally:
                loop.remove_signal_handler(signal.SIGHUP)

    try:
        Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGHUP, previous)
        sock.close()


def _reload_tokens(tokens: TokenCheck, account: str | None) -> None:
    """SIGHUP: read the tokens again (STITCH_SERVICE_TOKENS_FILE, or the account's
    service_tokens_file; the environment cannot change under a running process). A list that
    does not load keeps the one in use. The log names tokens, never shows them."""
    try:
        path = accounts.accounts_file()
        if account is not None and path is not None:
            fresh = accounts.settings_for(account, path).tokens()
        else:
            fresh = common.settings_from().tokens()
        if not fresh:
            raise ConfigError("STITCH_SERVICE_TOKENS(_FILE) holds no tokens")
        register_secrets(*(t.token for t in fresh))
        tokens.replace(fresh)
    except (ConfigError, ValueError) as exc:
        log.error("service.tokens_not_reloaded", account=account, error=str(exc), kept=tokens.names)

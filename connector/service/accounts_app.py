"""`serve` for several accounts: one app per account of STITCH_ACCOUNTS_FILE, mounted at
/accounts/<name>, in one process.

Each account's app is exactly the single-account service (create_app): its own tokens (the
account's service_tokens_file, else the environment's), its own App, state dir, write lock,
budgets, job queue and worker, approvals, SCIM base URL (/accounts/<name>/scim/v2, one IdP app
per Stitch account) and /metrics (labelled with the account). Nothing is shared but the process:
a request for one account never reaches another's queue. /healthz (no token) answers for the
process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from connector import __version__
from connector.service.api import create_app
from connector.service.state import Service
from connector.settings import Settings


def create_accounts_app(
    accounts: Mapping[str, Settings], *, sync_every_s: float | None, grace_s: float
) -> FastAPI:
    children = {
        name: create_app(settings, sync_every_s=sync_every_s, grace_s=grace_s, account=name)
        for name, settings in accounts.items()
    }

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # A mounted app's lifespan is not run by its parent: each account's worker starts here
        # and stops (its removal in progress given grace_s) when the process does.
        async with AsyncExitStack() as stack:
            for child in children.values():
                await stack.enter_async_context(child.router.lifespan_context(child))
            yield

    app = FastAPI(
        title="stitch-connector (several accounts)",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # each account's own: /accounts/<name>/openapi.json
    )
    services: dict[str, Service] = {n: c.state.service for n, c in children.items()}
    app.state.services = services

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness of the process. No token needed."""
        return {"status": "ok"}

    for name, child in children.items():
        app.mount(f"/accounts/{name}", child)
    return app

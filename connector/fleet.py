"""Every account at once: `sync --all`. Each account is its own App (its state dir, lock,
policy, audit trail) and its own run; a bounded number run together, on one shared Chromium
where they launch alike (each run still gets its own browser context, closed at its end). A
failure in one account is that account's result: it never hides or stops the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel

from connector.app import App
from connector.errors import ConnectorError, ExitCode
from connector.logs import first_line, get_logger, redact_text
from connector.models import MemberList
from connector.operations import RunOptions, SyncOptions
from connector.settings import Settings
from connector.snapshot_gate import SyncReport

if TYPE_CHECKING:  # Playwright loads with the browser, not at import (`--help` stays quick)
    from connector.browser import SharedBrowser

log = get_logger(__name__)

# Which of two accounts' exit codes `sync --all` reports: the one a person must act on first.
_WORST_LAST = (
    ExitCode.OK,
    ExitCode.TRANSIENT,
    ExitCode.SESSION_EXPIRED,
    ExitCode.LOCKED,
    ExitCode.CONFIG,
    ExitCode.HUMAN_NEEDED,
    ExitCode.AUTH_FAILED,
    ExitCode.CONFIDENCE_GATE,
    ExitCode.PAGE_NOT_RECOGNISED,
    ExitCode.AUDIT_BROKEN,
    ExitCode.INTERNAL,
)


class AccountSync(BaseModel):
    """One account's result of `sync --all`."""

    account: str
    exit_code: int
    report: SyncReport | None = None
    error: str | None = None
    error_kind: str | None = None
    hint: str | None = None


def worst(codes: list[int]) -> int:
    """The exit code of the whole: the worst account's (an unknown code counts as a bug)."""
    rank = {int(c): i for i, c in enumerate(_WORST_LAST)}
    return max(codes, key=lambda c: rank.get(c, len(_WORST_LAST)), default=0)


async def sync_accounts(
    accounts: Mapping[str, Settings],
    options: SyncOptions,
    *,
    run_id: str,
    concurrency: int,
    on_done: Callable[[AccountSync, MemberList | None], None] | None = None,
) -> list[AccountSync]:
    """Sync every account, at most `concurrency` at a time; one result per account, in order."""
    gate = asyncio.Semaphore(max(1, concurrency))
    shared = await _shared_browser(accounts)
    try:

        async def one(name: str, settings: Settings) -> AccountSync:
            async with gate:
                result, roster = await _sync_one(name, settings, options, run_id, shared)
            if on_done is not None:
                on_done(result, roster)
            return result

        return list(await asyncio.gather(*(one(n, s) for n, s in accounts.items())))
    finally:
        if shared is not None:
            await shared.__aexit__()


async def _sync_one(
    name: str,
    settings: Settings,
    options: SyncOptions,
    run_id: str,
    shared: SharedBrowser | None,
) -> tuple[AccountSync, MemberList | None]:
    run = RunOptions(f"{run_id}-{name}", command=f"sync --all ({name})", browser=shared)
    try:
        report, roster = await App(settings).sync(options, run)
    except ConnectorError as exc:
        log.warning("fleet.account_failed", account=name, kind=exc.kind, error=str(exc))
        failed = AccountSync(
            account=name,
            exit_code=int(exc.exit_code),
            error=redact_text(first_line(str(exc))),
            error_kind=exc.kind,
            hint=exc.hint or None,
        )
        return failed, None
    except Exception as exc:  # a bug in one account's run is that account's result
        log.error("fleet.account_crashed", account=name, error=f"{type(exc).__name__}")
        message = redact_text(first_line(f"{type(exc).__name__}: {exc}"))
        return AccountSync(account=name, exit_code=int(ExitCode.INTERNAL), error=message), None
    return AccountSync(account=name, exit_code=0, report=report), roster


async def _shared_browser(accounts: Mapping[str, Settings]) -> SharedBrowser | None:
    """One Chromium for every account when they all launch alike (contexts keep them apart),
    else each run launches its own."""
    from connector.browser import SharedBrowser, launch_key

    keys = {launch_key(s) for s in accounts.values()}
    if len(keys) != 1 or not accounts:
        return None
    first = next(iter(accounts.values()))
    try:
        return await SharedBrowser(first).__aenter__()
    except Exception as exc:  # each account's own run then says what stops it
        log.warning("fleet.shared_browser_failed", error=redact_text(first_line(str(exc))))
        return None

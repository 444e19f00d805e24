"""What the commands share: global state, settings from flags + environment, logging, progress."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connector import accounts, logs, runner
from connector.errors import ConfigError
from connector.models import Progress as ProgressEvent
from connector.settings import Settings, load_settings

T = TypeVar("T")


class Variant(StrEnum):
    """The Stitch UI generations the sandbox imitates."""

    current = "current"
    rbac2022 = "rbac2022"
    legacy = "legacy"


class Mfa(StrEnum):
    off = "off"
    totp = "totp"


class OnOff(StrEnum):
    on = "on"
    off = "off"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class SlowWriteMode(StrEnum):
    answer = "answer"
    act = "act"


class TraceChoice(StrEnum):
    on = "on"
    retain_on_failure = "retain-on-failure"
    off = "off"


@dataclass
class GlobalState:
    log_level: str | None = None
    headed: bool = False
    slow_mo_ms: int | None = None
    devtools: bool = False
    trace: str | None = None
    step: bool = False
    account: str | None = None  # --account: one account of STITCH_ACCOUNTS_FILE


state = GlobalState()
stderr = Console(stderr=True)


def start_logging(run_id: str) -> None:
    level = state.log_level or ("warning" if sys.stderr.isatty() else "info")
    logs.configure(run_id=run_id, level=level)


def settings_from(**flags: Any) -> Settings:
    """Environment (STITCH_*) first, then the global flags, then the command's own flags."""
    watched = {
        "headless": False if state.headed else None,
        "slow_mo_ms": state.slow_mo_ms,
        "devtools": True if state.devtools else None,
        "trace": state.trace,
    }
    given = {**watched, **{k: v for k, v in flags.items() if v is not None}}
    path = accounts.accounts_file()
    name = accounts.choose(state.account, path)
    if name is None or path is None:
        return load_settings(**given)
    return accounts.settings_for(name, path, **given)


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return runner.run(coro)


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[ProgressEvent], None]]:
    """A progress bar on stderr when it is a terminal; silent otherwise (logs carry progress)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _event: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]} members"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("Signing in", total=None, rows=0)

        def report(event: ProgressEvent) -> None:
            if event.step == "open":
                bar.update(task, description="Signing in and opening Members")
            elif event.step == "page":
                bar.update(
                    task,
                    description="Reading member pages",
                    completed=event.page or 0,
                    total=event.pages,
                    rows=event.rows or 0,
                )

        yield report


def check_writable(output: Path | None) -> None:
    """Fail before the browser starts, not after a long scrape."""
    if output is None:
        return
    folder = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory; give a file name")
    if not folder.is_dir():
        raise ConfigError(f"--output {output}: folder {folder} does not exist")


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
    stderr.print(f"wrote {output}", highlight=False)


def command_line() -> str:
    """How this run was started, for its failure bundle (no secret is ever a flag)."""
    return shlex.join(["stitch-connector", *sys.argv[1:]])


async def step_prompt(description: str) -> Literal["go", "skip", "quit"]:
    """--step: say exactly what the next click does; Enter goes, s skips, q quits."""
    while True:
        answer = await asyncio.to_thread(
            _read_answer, f"\n{description}\n  [Enter] do it · [s] skip · [q] quit > "
        )
        if answer is None or answer in ("q", "quit"):
            return "quit"  # end of input counts as quit: never click unasked
        if answer in ("s", "skip"):
            return "skip"
        if answer == "":
            return "go"
        sys.stderr.write("  please answer Enter, s or q\n")


def _read_answer(prompt: str) -> str | None:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return None if line == "" else line.strip().lower()


def require_credentials_unless_saved(settings: Settings) -> None:
    """Missing credentials are fine when a saved session for this login exists (SSO accounts
    after `login --interactive`); otherwise say so before any browser starts."""
    from connector.browser import usable_saved_session

    if usable_saved_session(settings, quiet=True) is None:
        settings.require_credentials()

"""The `stitch-connector` command as a user runs it: in this process, or in a child process.

`run_cli` calls the console script's own `main()` in this process (Typer's test isolation for
argv, environment, stdin, stdout and stderr): the same parsing, error mapping, exit codes and
output as the installed command, on the worker's one event loop and Chromium (`runner.reusing`
in tests/conftest.py). `run_cli_process` starts the real command in a child, for what only a
process shows: the console entry point, signals, the process list, a clean interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import structlog
from typer.testing import CliRunner

from connector.cli.app import main

CLI = [sys.executable, "-m", "connector.cli"]


@dataclass(frozen=True)
class CliResult:
    """What a finished command left: shaped like subprocess.CompletedProcess's text result."""

    returncode: int
    stdout: str
    stderr: str


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    return {**clean, **(env or {})}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """The command in this process; `env` is its whole STITCH_* environment (none inherited).
    `timeout` is the test's own (pytest-timeout), kept for the same call as run_cli_process."""
    del timeout
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STITCH_")}
    umask = os.umask(0o077)  # main() sets it for its process; this process gets its own back
    os.umask(umask)
    logging_was = structlog.get_config() if structlog.is_configured() else None
    argv = sys.argv
    with CliRunner().isolation(env={**unset, **(env or {})}) as (out, err, _mixed):
        sys.argv = ["stitch-connector", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            sys.stdout.flush()  # the isolation's text streams buffer over its byte streams
            sys.stderr.flush()
            sys.argv = argv
            os.umask(umask)
            # The run's logger writes to this isolation's stderr, closed when it ends.
            if logging_was is None:
                structlog.reset_defaults()
            else:
                structlog.configure(**logging_was)
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def run_cli_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command in a child process, with only `env`'s STITCH_* variables."""
    return subprocess.run(
        [*CLI, *args],
        env=_child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

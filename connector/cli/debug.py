"""`stitch-connector show-trace`: open a run's trace in Playwright's trace viewer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from connector.errors import ConfigError


def show_trace(
    trace: Path = typer.Argument(..., help="A trace-N.zip from runs/<run-id>/ (see README.txt)."),
) -> None:
    """Open a trace in Playwright's trace viewer (a thin wrapper over `playwright show-trace`).

    Needs a display; on a server, copy the file to a workstation, or open it at
    trace.playwright.dev (which reads it in the browser, without uploading it).
    """
    if not trace.is_file():
        raise ConfigError(f"no trace at {trace}", hint="Traces live in <state dir>/runs/<run-id>/.")
    result = subprocess.run(  # noqa: S603 - our own interpreter, a path the user gave
        [sys.executable, "-m", "playwright", "show-trace", str(trace)], check=False
    )
    raise typer.Exit(result.returncode)

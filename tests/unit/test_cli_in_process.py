"""tests/cli.py's run_cli: the console's main() in this process, leaving the process as found."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import structlog

from connector.errors import ExitCode
from tests.cli import run_cli


def test_an_in_process_command_leaves_umask_argv_environment_and_logging_as_found(
    tmp_path: Path,
) -> None:
    umask = os.umask(0o022)
    try:
        logging_before = structlog.get_config()
        argv, environ = list(sys.argv), dict(os.environ)
        done = run_cli("history", "--json", env={"STITCH_STATE_DIR": str(tmp_path / "state")})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == []  # its own stdout, captured
        assert os.umask(0o022) == 0o022  # main() set 077 for its run only
        assert sys.argv == argv and dict(os.environ) == environ
        assert structlog.get_config() == logging_before
    finally:
        os.umask(umask)


def test_usage_errors_map_to_the_same_exit_code_and_one_line_as_the_console() -> None:
    done = run_cli("diff", "not-a-number", env={"STITCH_STATE_DIR": "/nonexistent/state"})
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("error: ") and "hint: see 'stitch-connector diff --help'" in (
        done.stderr
    )
    assert done.stdout == ""

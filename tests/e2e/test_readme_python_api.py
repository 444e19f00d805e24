"""The README's Python API example, run as written against the sandbox: it must stay true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.sandbox.server import RunningSandbox
from tests.e2e.test_cli import env_for

README = Path(__file__).resolve().parents[2] / "README.md"


def python_api_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "README's Python API section has no python block"
    return found.group(1)


@pytest.mark.e2e
def test_the_readme_python_example_runs_as_written(sandbox: RunningSandbox, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STITCH_")}
    env = {**clean, **env_for(sandbox, tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-c", python_api_example()],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert any(line.startswith(sandbox.login_email + " Administrator") for line in lines)
    # leaver@example.com was never a member of this fresh account: not success, and said so.
    assert lines[-1] in {"not_found", "already_absent"}

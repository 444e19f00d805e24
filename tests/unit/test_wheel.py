"""A wheel carries the selectors, the sandbox's templates and the page scripts, and runs from
outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("stitch_connector-*.whl")
    return built


def test_wheel_holds_the_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "connector/_selectors/stitch.toml",
        "connector/stitch/extract.js",
        "connector/stitch/roster_state.js",
        "connector/sandbox/templates/page_settings_members.html",
        "connector/sandbox/static/sandbox.js",
    ):
        assert required in names
    assert not any(n.startswith(("selectors/", "tests/", "fixtures/")) for n in names)
    assert not any(n.endswith("selectors/__init__.py") for n in names)


@pytest.mark.e2e
def test_installed_wheel_runs_the_demo_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "demo", "--members", "7", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"count"' not in result.stdout and result.stdout.count('"email"') == 7
    where = subprocess.run(
        [sys.executable, "-c", "import connector; print(connector.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(target))

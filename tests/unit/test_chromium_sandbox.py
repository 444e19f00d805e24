"""Chromium keeps its own sandbox for every user but root (issue 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from connector.browser import chromium_args


def test_only_root_or_an_explicit_off_drops_the_sandbox() -> None:
    assert "--no-sandbox" in chromium_args("auto", euid=0)
    assert "--no-sandbox" not in chromium_args("auto", euid=10001)
    assert "--no-sandbox" in chromium_args("off", euid=10001)


_PROBE = textwrap.dedent(
    """
    import os, sys
    from playwright.sync_api import sync_playwright
    from connector.browser import chromium_args, find_browser
    with sync_playwright() as pw:
        choice = find_browser(None, pw.chromium.executable_path)
        args = chromium_args()
        browser = pw.chromium.launch(
            executable_path=str(choice.path) if choice.path else None, args=args
        )
        page = browser.new_page()
        page.set_content("<p id=x>sandboxed</p>")
        print(os.geteuid(), "--no-sandbox" in args, page.inner_text("#x"))
        browser.close()
    """
)


@pytest.mark.browser
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to another user"
)
def test_a_real_chromium_starts_with_its_sandbox_as_an_ordinary_user() -> None:
    with tempfile.TemporaryDirectory(prefix="stitch-sandbox-") as tmp:  # pytest's tmp is root's own
        os.chmod(tmp, 0o755)
        home = Path(tmp)
        os.chown(home, 65534, 65534)
        _probe_as_nobody(home)


def _probe_as_nobody(home: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {
        "HOME": str(home),
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(repo),
    }
    run = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            _PROBE,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["65534", "False", "sandboxed"]

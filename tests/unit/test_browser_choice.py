"""Browser lookup order: an explicit setting, then Playwright's own build, then the system's
(its headless shell first for a headless run)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connector.browser import find_browser
from connector.errors import ConfigError


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_explicit_setting_wins(tmp_path: Path) -> None:
    mine = executable(tmp_path / "my-chrome")
    bundled = executable(tmp_path / "bundled")
    choice = find_browser(mine, str(bundled))
    assert (choice.path, choice.source) == (mine, "setting")


def test_explicit_setting_that_is_not_a_program_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    for bad in (tmp_path / "missing", tmp_path / "plain", tmp_path):
        with pytest.raises(ConfigError, match="STITCH_BROWSER_PATH"):
            find_browser(bad, None)


def test_playwright_build_before_the_system(tmp_path: Path) -> None:
    bundled = executable(tmp_path / "bundled")
    assert find_browser(None, str(bundled)).source == "playwright"


def test_system_chromium_when_playwright_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = executable(tmp_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = find_browser(None, str(tmp_path / "not-installed"))
    assert (choice.path, choice.source) == (system, "system")


def test_no_browser_at_all_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="no Chromium") as info:
        find_browser(None, None)
    assert "apt-get install chromium" in info.value.hint


def test_a_headless_run_takes_the_systems_headless_shell_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Playwright itself runs headless: no windowing layer, a fraction of the CPU a page."""
    executable(tmp_path / "chromium")
    shell = executable(tmp_path / "chromium-headless-shell")
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = find_browser(None, None, headless=True)
    assert (choice.path, choice.source) == (shell, "system")


def test_a_headed_run_never_takes_the_headless_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = executable(tmp_path / "chromium")
    executable(tmp_path / "chromium-headless-shell")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser(None, None, headless=False).path == full
    full.unlink()
    with pytest.raises(ConfigError, match="show a window") as info:
        find_browser(None, None, headless=False)
    assert "apt-get install chromium" in info.value.hint

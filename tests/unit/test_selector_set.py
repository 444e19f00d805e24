"""The selector file is validated at load: a broken file names what is wrong, before any run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.selector_set import default_selectors_path, load_selectors

SHIPPED = default_selectors_path()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stitch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_covers_every_ui_version() -> None:
    sel = load_selectors()
    covered = {ui for el in sel.elements.values() for alt in el.alternatives for ui in alt.ui}
    assert covered == set(sel.ui_versions) == {"current", "rbac2022", "legacy"}
    for name, element in sel.elements.items():
        if element.required:
            versions = {ui for alt in element.alternatives for ui in alt.ui}
            if name != "signin_continue":  # legacy has no separate Continue step
                assert versions == set(sel.ui_versions), name


def test_no_selector_strings_in_python() -> None:
    package = Path(__file__).resolve().parents[2] / "connector"
    shipped = tomllib.loads(SHIPPED.read_text())
    css = [
        a["css"] for el in shipped["elements"].values() for a in el["alternatives"] if "css" in a
    ]
    css += [s for key, v in shipped["extract"].items() if isinstance(v, list) for s in v]
    for path in package.rglob("*.py"):
        if "sandbox" in path.parts:
            continue  # the sandbox *renders* these ids; the driver must not hard-code them
        text = path.read_text()
        for selector in css:
            assert f'"{selector}"' not in text, f"{selector} is hard-coded in {path}"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("schema = 1", "schema = 2"), "schema"),
        (
            lambda t: t.replace('{ css = "#st-v2-login-email", ui', '{ css = "#a", text = "b", ui'),
            "exactly one of css/role/label/text",
        ),
        (
            lambda t: t.replace('{ role = "tab", name = "Members"', '{ role = "tab"'),
            "accessible 'name'",
        ),
        (lambda t: t.replace("[elements.sso_marker]", "[elements.sso_markr]"), "sso_markr"),
        (
            lambda t: t.replace(
                "page_status_pattern = 'Page\\s+(\\d+)\\s+of\\s+(\\d+)'",
                "page_status_pattern = 'Page'",
            ),
            "two capture groups",
        ),
        (lambda t: t.replace('ui = ["legacy"]', 'ui = ["v1999"]', 1), "ui"),
        (lambda t: t + "\n[[[", "not valid TOML"),
    ],
)
def test_broken_selector_files_fail_at_load(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    text = edit(SHIPPED.read_text(encoding="utf-8"))
    assert text != SHIPPED.read_text(encoding="utf-8"), "the edit must change the file"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_selectors(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read selectors file"):
        load_selectors(tmp_path / "nope.toml")

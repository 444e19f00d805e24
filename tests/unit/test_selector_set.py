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
                "page_status_patterns = ['^page\\s+(\\d+)\\s+of\\s+(\\d+)$']",
                "page_status_patterns = ['^page']",
            ),
            "exactly 2 capture group(s)",
        ),
        (
            lambda t: t.replace("max_invoice_admins = 1", "max_invoice_admins = 0"),
            "greater than or equal to 1",
        ),
        (
            lambda t: t.replace(
                "member_count_patterns = [", "member_count_patterns = ['(?P<n>x)',"
            ),
            "no named groups",
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


# ---------------------------------------------------------------- interruptions and sign-in drift
def test_shipped_interruptions() -> None:
    sel = load_selectors()
    assert set(sel.interruptions) == {"cookie_consent", "stay_signed_in", "announcement"}
    assert sel.interruptions["stay_signed_in"].where == ("signin",)
    assert sel.interruptions["announcement"].where == ("app",)
    assert set(sel.interruptions["cookie_consent"].where) == {"signin", "app"}
    for spec in sel.interruptions.values():
        assert spec.what and spec.detect and spec.dismiss
    dismiss = {a.name for s in sel.interruptions.values() for a in s.dismiss if a.role}
    assert {"Reject all", "No", "Got it", "Close"} <= dismiss
    assert not {"Accept all", "Yes", "Stay signed in"} & dismiss


def test_generic_signin_css_is_kept_out_of_the_in_page_check() -> None:
    sel = load_selectors()
    email_css = [a.css for a in sel.element("signin_email").alternatives if a.css]
    assert "input[type=email]:not([readonly])" in email_css  # used to find the field ...
    in_page = sel.css_alternatives("signin_email")
    assert "input[type=email]:not([readonly])" not in in_page  # ... not to call a page sign-in
    assert in_page[:2] == ["#st-v2-login-email", "form[name=loginForm] input[name=email]"]
    assert "input[type=password]" not in sel.css_alternatives("signin_password")


def test_existing_signin_alternatives_come_first() -> None:
    sel = load_selectors()
    first = {
        name: sel.element(name).alternatives[0].describe()
        for name in ("signin_email", "signin_continue", "signin_password", "signin_password_submit")
    }
    assert first == {
        "signin_email": "css=#st-v2-login-email",
        "signin_continue": "css=#-st-t-stitch-login-submit-button",
        "signin_password": "css=input#password.input--password",
        "signin_password_submit": "css=button[submit-button^='view.login']",
    }
    labels = {a.label for a in sel.element("signin_email").alternatives if a.label}
    assert {"Email", "Email address", "Work email"} <= labels
    names = {a.name for a in sel.element("signin_password_submit").alternatives if a.role}
    assert {"Log in", "Sign in", "Sign In"} <= names


COOKIE_DISMISS = '  { role = "button", name = "Reject all", ui'
STAY_DISMISS = 'dismiss = [\n  { role = "button", name = "No", ui'
_A = 'ui = ["current", "rbac2022", "legacy"] },\n'
STAY_DISMISS_BLOCK = (
    "dismiss = [\n"
    f'  {{ role = "button", name = "No", {_A}'
    f'  {{ role = "button", name = "No thanks", {_A}'
    f'  {{ role = "button", name = "Not now", {_A}'
    '  { role = "button", name_pattern = "^\\\\s*(no|no,? thanks|not now|skip)\\\\s*$", '
    f"{_A}"
    "]\n"
)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # a "dismiss" that accepts is refused, named
            lambda t: t.replace(COOKIE_DISMISS, '  { role = "button", name = "Accept all", ui'),
            "interruptions.cookie_consent.dismiss: .*Accept all.*must decline or close",
        ),
        (
            lambda t: t.replace(STAY_DISMISS, 'dismiss = [\n  { role = "button", name = "Yes", ui'),
            "interruptions.stay_signed_in.dismiss: .*'Yes'",
        ),
        (
            lambda t: t.replace(
                '{ css = "#onetrust-reject-all-handler"', '{ css = "#onetrust-accept-btn-handler"'
            ),
            "interruptions.cookie_consent.dismiss: .*accept",
        ),
        (  # an interruption without a dismiss
            lambda t: t.replace(STAY_DISMISS_BLOCK, ""),
            "interruptions.stay_signed_in.dismiss: Field required",
        ),
        (
            lambda t: t.replace(STAY_DISMISS_BLOCK, "dismiss = []\n"),
            "interruptions.stay_signed_in.dismiss: .*at least 1",
        ),
        (  # a detect alternative with two strategies
            lambda t: t.replace(
                '{ role = "dialog", name = "Cookie consent", ui',
                '{ role = "dialog", name = "Cookie consent", text = "x", ui',
            ),
            "interruptions.cookie_consent.detect.1: .*exactly one of css/role/label/text",
        ),
        (
            lambda t: t.replace('where = ["signin"]', 'where = ["login"]'),
            "interruptions.stay_signed_in.where",
        ),
        (
            lambda t: t.replace('where = ["signin"]', "where = []"),
            "interruptions.stay_signed_in.where",
        ),
        (
            lambda t: t.replace("[interruptions.announcement]", "[interruptions.What-s-new]"),
            "interruptions.What-s-new: a name is lower_snake_case",
        ),
        (  # an unknown key: a typo is not silently ignored
            lambda t: t.replace(
                "[interruptions.announcement]\n", "[interruptions.announcement]\nclick = []\n"
            ),
            "interruptions.announcement.click",
        ),
        (  # the in-page script needs a CSS alternative it may use
            lambda t: t.replace(
                '  { css = "#st-v2-login-email", ui = ["current", "rbac2022"] },\n'
                '  { css = "form[name=loginForm] input[name=email]", ui = ["legacy"] },\n',
                "",
            ).replace(
                '{ css = "input[autocomplete=username]:not([readonly])", ui',
                '{ label = "Login", ui',
            ),
            "elements.signin_email needs a css alternative",
        ),
    ],
)
def test_broken_interruptions_fail_at_load(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    text = edit(SHIPPED.read_text(encoding="utf-8"))
    assert text != SHIPPED.read_text(encoding="utf-8"), "the edit must change the file"
    with pytest.raises(ConfigError, match=message):
        load_selectors(write(tmp_path, text))

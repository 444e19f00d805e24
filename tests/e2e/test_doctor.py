"""`doctor` end to end: every variant passes with a rehearsal and no write; the write guard holds
when no dialog stops the click; a drifted UI (`--drift`) is reported element by element."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from connector import runner
from connector.client import StitchConnector
from connector.doctor import Doctor, DoctorReport
from connector.errors import ExitCode
from connector.sandbox.server import RunningSandbox
from connector.selector_set import load_selectors
from connector.settings import Settings
from connector.stitch.locate import locator_for
from tests.conftest import MakeSandbox, settings_for
from tests.e2e.test_cli import env_for, run_cli

pytestmark = pytest.mark.e2e
VARIANTS = ["current", "rbac2022", "legacy"]
REHEARSAL = {
    "confirm_dialog",
    "confirm_dialog names the member",
    "confirm_deactivate",
    "dialog_dismiss",
}
SIGNIN_CONTINUE_BY_ID = "css=#-st-t-stitch-login-submit-button"


def run_doctor(
    settings: Settings, rehearse: str | None = None, doc: Doctor | None = None
) -> DoctorReport:
    """What `stitch-connector doctor` does, through the Python API."""
    doc = doc or Doctor(load_selectors())

    async def go() -> DoctorReport:
        async with StitchConnector(settings, observer=doc.observe, reuse_session=False) as stitch:
            return await stitch.doctor(doc, rehearse=rehearse)

    return runner.run(go)


def general_user(box: RunningSandbox) -> str:
    """An active General User who receives no invoices: the member a rehearsal would target."""
    members: list[dict[str, Any]] = box.state()["members"]  # type: ignore[assignment]
    return next(
        str(m["email"])
        for m in members
        if m["role"] == "General User" and m["status"] == "active" and not m["invoice_admin"]
    )


def status_of(box: RunningSandbox, email: str) -> str:
    members: list[dict[str, Any]] = box.state()["members"]  # type: ignore[assignment]
    return next(str(m["status"]) for m in members if m["email"] == email)


def failing(checks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["page"], c["element"], c["status"]) for c in checks if c["status"] != "found"]


def required_failing(report: DoctorReport) -> list[tuple[str, str, str]]:
    return failing([c.model_dump() for c in report.checks if c.required])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_passes_and_rehearses_without_writing(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    box = make_sandbox(variant=variant, members=12, latency_ms=10, mfa="totp")
    target = general_user(box)
    report = run_doctor(settings_for(box, tmp_path / "state", write_timeout_ms=4_000), target)

    assert report.ok, report.model_dump_json(indent=2)
    assert required_failing(report) == []
    seen = {(c.page, c.element) for c in report.checks}
    assert ("signin-totp", "signin_totp") in seen  # the MFA step was checked too
    assert ("members-p1", "extract (this page)") in seen
    assert ("members", "member list (every page, cross-checks)") in seen
    dialog = {c.element: c for c in report.checks if c.page == "confirm-dialog"}
    assert set(dialog) == REHEARSAL  # opened, looked at, cancelled
    assert all(c.status == "found" for c in dialog.values())
    assert dialog["confirm_deactivate"].matched == "css=#st-t-confirm-deactivate-button"
    remove_control = "row_deactivate_button" if variant == "legacy" else "menu_deactivate"
    assert any(c.element == remove_control and c.status == "found" for c in report.checks)
    assert report.blocked_writes == []
    assert box.state()["writes"] == []
    assert status_of(box, target) == "active"


@pytest.mark.parametrize("variant", ["current", "legacy"])  # the ⋮ menu; the row's own button
def test_without_a_confirm_dialog_the_write_guard_aborts_the_click(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    box = make_sandbox(variant=variant, members=12, latency_ms=10, confirm_dialog=False)
    target = general_user(box)
    settings = settings_for(box, tmp_path / "state", write_timeout_ms=1_500)
    report = run_doctor(settings, target)

    # The click on Deactivate sent the request at once; the guard aborted it in the browser.
    assert box.state()["writes"] == []
    assert status_of(box, target) == "active"
    deactivate_url = (
        rf"{re.escape(box.app_url)}/api/clients/{box.options.client_id}/members/[^/]+/deactivate"
    )
    assert len(report.blocked_writes) == 1
    assert re.fullmatch(rf"POST {deactivate_url}", report.blocked_writes[0])
    # And the doctor says what it did not find: the dialog a removal relies on.
    assert not report.ok
    assert required_failing(report) == [("confirm-dialog", "confirm_dialog", "missing")]


def test_drift_signin_continue_matches_by_id_not_by_label(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(variant="current", members=12, latency_ms=10, drift=True)
    target = general_user(box)
    selectors = load_selectors()
    doc = Doctor(selectors)
    by_label: list[int] = []
    relabelled: list[int] = []

    async def observe(label: str, page: Page) -> None:
        if label == "signin-email":  # the alternative after the id: role=button "Continue"
            role_alt = selectors.element("signin_continue").alternatives[1]
            assert role_alt.describe() == "role=button[name='Continue']"
            by_label.append(await locator_for(page, role_alt).count())
            relabelled.append(await page.get_by_role("button", name="Next").count())
        await doc.observe(label, page)

    settings = settings_for(box, tmp_path / "state", timeout_ms=4_000, write_timeout_ms=1_500)

    async def go() -> DoctorReport:
        async with StitchConnector(settings, observer=observe, reuse_session=False) as stitch:
            return await stitch.doctor(doc, rehearse=target)

    report = runner.run(go)

    assert (by_label, relabelled) == ([0], [1])  # "Continue" is now "Next" ...
    cont = next(c for c in report.checks if c.element == "signin_continue")
    assert (cont.page, cont.status, cont.matched) == (
        "signin-email",
        "found",
        SIGNIN_CONTINUE_BY_ID,
    )
    # The list is read by meaning, so renamed classes and reordered columns do not matter; the
    # relabelled "Remove from account" menu item has no id to fall back on, and doctor names it.
    assert not report.ok
    assert required_failing(report) == [("members-row", "menu_deactivate", "missing")]
    listed = next(c for c in report.checks if c.page == "members")
    assert (listed.status, listed.detail) == ("found", "12 members on 1 page(s)")
    assert box.state()["writes"] == [] and report.blocked_writes == []


@pytest.mark.parametrize("variant", ["current", "legacy"])
def test_drift_is_pinpointed_by_the_cli(
    make_sandbox: MakeSandbox, tmp_path: Path, variant: str
) -> None:
    box = make_sandbox(variant=variant, members=12, latency_ms=10, drift=True)
    target = general_user(box)
    env = {**env_for(box, tmp_path / "state"), "STITCH_TIMEOUT_MS": "4000"}
    result = run_cli("doctor", "--json", "--rehearse", target, env=env)

    report = json.loads(result.stdout)
    checks: list[dict[str, Any]] = report["checks"]
    # Renamed classes and reordered columns are read by meaning. The relabelled menu item has no
    # id to fall back on: doctor names it, on the row it rehearsed. Legacy's row button and the
    # dialog's confirm button keep their ids, so a removal still works there: doctor passes.
    if variant == "legacy":
        assert result.returncode == 0, result.stdout
        assert failing([c for c in checks if c["required"]]) == []
    else:
        assert result.returncode == int(ExitCode.PAGE_NOT_RECOGNISED) == 7, result.stderr
        assert failing([c for c in checks if c["required"]]) == [
            ("members-row", "menu_deactivate", "missing")
        ]
    # Everything before the list still matched: sign-in, the user menu, the settings item.
    matched = {c["element"]: c["matched"] for c in checks if c["status"] == "found"}
    if variant == "legacy":  # one form: no Continue step
        assert "signin_continue" not in matched
        assert matched["app_settings_item"] == "role=menuitem[name='Manage Account Settings']"
    else:
        assert matched["signin_continue"] == SIGNIN_CONTINUE_BY_ID
        assert matched["app_settings_item"] == "role=menuitem[name='Edit User Settings']"
    assert {"signin_password", "signin_password_submit", "app_user_menu"} <= set(matched)
    assert report["blocked_writes"] == []
    assert box.state()["writes"] == []


def test_drift_is_fixed_by_editing_selectors_alone(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """README, 'Stitch changed its UI': doctor names the relabelled menu item; one alternative
    added to selectors/stitch.toml (no code) makes doctor pass and a removal work again."""
    box = make_sandbox(variant="current", members=12, latency_ms=10, drift=True)
    target = general_user(box)
    fixed = tmp_path / "stitch.toml"
    shipped = (Path(__file__).parents[2] / "selectors" / "stitch.toml").read_text("utf-8")
    old = '  { role = "menuitem", name = "Deactivate", ui = ["current", "rbac2022"] },\n'
    assert old in shipped
    fixed.write_text(
        shipped.replace(
            old, old + '  { role = "menuitem", name = "Remove from account", ui = ["current"] },\n'
        ),
        encoding="utf-8",
    )
    env = {**env_for(box, tmp_path / "state"), "STITCH_SELECTORS_PATH": str(fixed)}
    result = run_cli("doctor", "--json", "--rehearse", target, env=env)
    assert result.returncode == 0, result.stdout
    result = run_cli("deactivate", target, "--yes", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert status_of(box, target) == "deactivated"

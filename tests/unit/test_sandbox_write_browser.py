"""The sandbox's write flows in a real Chromium: row menus and buttons, the confirm dialog, banners.

Signs in through the real forms, then drives the DOM the connector will drive
(docs/sandbox-dom.md "Write flows"). Like test_sandbox_browser.py, this uses Playwright's sync API
on a module-scoped browser rather than pytest-playwright's fixtures. No sleeps: every wait is
Playwright's `expect` or a bounded poll of the sandbox's state.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from connector.sandbox.options import SandboxOptions, Variant
from connector.sandbox.server import RunningSandbox, running_sandbox
from tests.unit.conftest import members_path

DEACTIVATED = "The user was deactivated!"


def sign_in(page: Any, sandbox: RunningSandbox) -> None:
    path = members_path(sandbox.options.variant)
    page.goto(sandbox.app_url + path)
    if sandbox.options.variant == "legacy":
        page.fill("form[name=loginForm] input[name=email]", sandbox.login_email)
        page.fill("form[name=loginForm] input[name=password]", "sandbox-password")
        page.click("button[submit-button^='view.login']")
    else:
        page.fill("#st-v2-login-email", sandbox.login_email)
        page.click("#-st-t-stitch-login-submit-button")
        page.wait_for_url(sandbox.login_url + "/login?state=*")
        page.fill("input#password.input--password", "sandbox-password")
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(sandbox.app_url + path)


def rows(page: Any) -> Any:
    return page.locator("[role=row].st-table__row--body, tr.st-table__row--body")


def row(page: Any, email: str) -> Any:
    return page.locator(f"[data-email='{email}']")


def success(page: Any) -> Any:
    return page.locator("#st-t-flash .st-alert--success[role=status]")


def failure(page: Any) -> Any:
    return page.locator("#st-t-flash .st-alert--error[role=alert]")


def writes_of(sandbox: RunningSandbox) -> list[tuple[str, str, int, str]]:
    writes: list[dict[str, Any]] = sandbox.state()["writes"]  # type: ignore[assignment]
    return [(w["action"], w["email"], w["status"], w["outcome"]) for w in writes]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def person(email: str, role: str = "General User", status: str = "active", **extra: Any) -> Any:
    entry: dict[str, Any] = {
        "email": email,
        "name": None if status == "pending" else email.split("@")[0].title(),
        "role": role,
        "status": status,
        "invoice_admin": False,
    }
    entry.update(extra)
    return entry


ROSTER = [
    person("admin@example.com", "Administrator", is_login_user=True),
    person("boss@example.com", "Administrator"),
    person("ana@example.com", name="Ana Ñúñez", invoice_admin=True),
    person("ben@example.com", name="Ben Becker"),
    person("invitee@example.com", status="pending"),
]


@pytest.fixture(scope="module")
def roster_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("write-ui") / "roster.json"
    path.write_text(json.dumps(ROSTER), encoding="utf-8")
    return path


def start(roster: Path, **options: Any) -> Any:
    return running_sandbox(SandboxOptions(members_file=roster, latency_ms=50, **options))


def open_action(page: Any, variant: Variant, email: str, label: str) -> None:
    """Start a row action the way a person would in `variant`."""
    target = row(page, email)
    if variant == "legacy":
        target.get_by_role("button", name=label, exact=True).click()
        return
    target.locator("button[id^='st-t-member-menu-']").click()
    menu = page.get_by_role("menu", name=f"Actions for {email}")
    expect(menu).to_be_visible()
    menu.get_by_role("menuitem", name=label, exact=True).click()


# ---------------------------------------------------------------- deactivate


@pytest.mark.parametrize("variant", ["current", "rbac2022", "legacy"])
def test_deactivate_with_the_confirm_dialog(tab: Any, roster_path: Path, variant: Variant) -> None:
    with start(roster_path, variant=variant) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(5)
        expect(tab.locator("#st-t-flash")).to_be_empty()
        noun = "team members" if variant == "legacy" else "members"
        expect(tab.locator("#st-t-member-count")).to_have_text(f"5 {noun}")

        open_action(tab, variant, "ana@example.com", "Deactivate")
        dialog = tab.locator("[role=dialog][aria-modal=true]")
        expect(dialog).to_have_attribute("id", "st-t-confirm-deactivate")
        expect(dialog.get_by_role("heading")).to_have_text("Deactivate Ana Ñúñez?")
        expect(dialog).to_contain_text(
            "ana@example.com will lose access to this Stitch account. You can re-add them later."
        )
        expect(dialog).to_contain_text(
            "This user receives the account's invoices."
        )  # invoice admin
        expect(tab.locator("#st-t-confirm-deactivate-button")).to_be_focused()
        expect(tab.locator("#st-t-confirm-dismiss-button")).to_have_text("Cancel")
        assert writes_of(sandbox) == []  # nothing is sent before the confirmation

        tab.click("#st-t-confirm-deactivate-button")
        expect(success(tab)).to_have_text(DEACTIVATED)
        expect(tab.locator("#st-t-flash .st-alert")).to_have_count(1)
        expect(dialog).to_have_count(0)
        expect(row(tab, "ana@example.com")).to_have_count(0)
        expect(rows(tab)).to_have_count(4)
        expect(tab.locator("#st-t-member-count")).to_have_text(f"4 {noun}")
        assert writes_of(sandbox) == [("deactivate", "ana@example.com", 200, "ok")]


def test_keep_deactivated_shows_the_row_as_deactivated(tab: Any, roster_path: Path) -> None:
    with start(roster_path, keep_deactivated=True) as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "current", "ben@example.com", "Deactivate")
        tab.click("#st-t-confirm-deactivate-button")
        expect(success(tab)).to_have_text(DEACTIVATED)
        ben = row(tab, "ben@example.com")
        expect(ben.locator(".st-status")).to_have_text("Deactivated")
        # Its only control: the ⋮ menu offering Reactivate (sandbox-dom.md "Member lifecycle").
        expect(ben.locator("button")).to_have_count(1)
        ben.locator("button[id^='st-t-member-menu-']").click()
        expect(tab.get_by_role("menu").get_by_role("menuitem")).to_have_text(["Reactivate"])
        tab.keyboard.press("Escape")
        expect(ben.locator("select")).to_have_count(0)  # the role is plain text
        expect(rows(tab)).to_have_count(5)
        expect(tab.locator("#st-t-member-count")).to_have_text("5 members")


def test_without_the_confirm_dialog_the_menu_item_acts_at_once(tab: Any, roster_path: Path) -> None:
    with start(roster_path, variant="rbac2022", confirm_dialog=False) as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "rbac2022", "boss@example.com", "Deactivate")
        expect(success(tab)).to_have_text(DEACTIVATED)
        expect(row(tab, "boss@example.com")).to_have_count(0)
        expect(tab.locator("[role=dialog]")).to_have_count(0)
        assert writes_of(sandbox) == [("deactivate", "boss@example.com", 200, "ok")]


def test_legacy_row_buttons_without_dialog(tab: Any, roster_path: Path) -> None:
    with start(roster_path, variant="legacy", confirm_dialog=False) as sandbox:
        sign_in(tab, sandbox)
        ben = row(tab, "ben@example.com")
        expect(ben.locator("button")).to_have_text(["Deactivate"])
        invitee = row(tab, "invitee@example.com")
        expect(invitee.locator("button")).to_have_text(["Resend invitation", "Cancel invitation"])
        expect(row(tab, "admin@example.com").locator("button")).to_have_count(0)  # the viewer

        ben.locator("button[id^='st-t-deactivate-']").click()
        expect(success(tab)).to_have_text(DEACTIVATED)
        expect(ben).to_have_count(0)

        invitee.locator("button[id^='st-t-cancel-invitation-']").click()
        expect(success(tab)).to_have_text("Invitation cancelled.")
        expect(invitee).to_have_count(0)
        assert writes_of(sandbox) == [
            ("deactivate", "ben@example.com", 200, "ok"),
            ("cancel_invitation", "invitee@example.com", 200, "ok"),
        ]


def test_drop_banner_shows_nothing_but_the_row_goes(tab: Any, roster_path: Path) -> None:
    with start(roster_path, drop_banner=True) as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "current", "ben@example.com", "Deactivate")
        tab.click("#st-t-confirm-deactivate-button")
        expect(row(tab, "ben@example.com")).to_have_count(0)
        # The banner would have been drawn before the re-fetch that removed the row.
        expect(tab.locator("#st-t-flash")).to_be_empty()
        assert writes_of(sandbox) == [("deactivate", "ben@example.com", 200, "ok")]


# ---------------------------------------------------------------- invitations


@pytest.mark.parametrize("variant", ["current", "legacy"])
def test_cancel_invitation_with_its_dialog(tab: Any, roster_path: Path, variant: Variant) -> None:
    with start(roster_path, variant=variant) as sandbox:
        sign_in(tab, sandbox)
        if variant != "legacy":  # pending rows offer the invitation items only
            row(tab, "invitee@example.com").locator("button[id^='st-t-member-menu-']").click()
            items = tab.get_by_role("menu").get_by_role("menuitem")
            expect(items).to_have_text(["Resend invitation", "Cancel invitation"])
            tab.keyboard.press("Escape")
        open_action(tab, variant, "invitee@example.com", "Cancel invitation")
        dialog = tab.locator("#st-t-confirm-cancel-invitation[role=dialog][aria-modal=true]")
        expect(dialog.get_by_role("heading")).to_have_text(
            "Cancel the invitation for invitee@example.com?"
        )
        confirm = tab.locator("#st-t-confirm-cancel-invitation-button")
        expect(confirm).to_have_text("Cancel invitation")
        expect(confirm).to_be_focused()
        confirm.click()
        expect(success(tab)).to_have_text("Invitation cancelled.")
        expect(row(tab, "invitee@example.com")).to_have_count(0)
        emails = [m["email"] for m in sandbox.state()["members"]]  # type: ignore[union-attr]
        assert "invitee@example.com" not in emails
        assert writes_of(sandbox) == [("cancel_invitation", "invitee@example.com", 200, "ok")]


def test_resend_invitation_needs_no_confirmation(tab: Any, roster_path: Path) -> None:
    with start(roster_path) as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "current", "invitee@example.com", "Resend invitation")
        expect(success(tab)).to_have_text("Invitation re-sent.")
        expect(tab.locator("[role=dialog]")).to_have_count(0)
        expect(row(tab, "invitee@example.com")).to_have_count(1)
        assert writes_of(sandbox) == [("resend_invitation", "invitee@example.com", 200, "ok")]


# ---------------------------------------------------------------- menu and dialog behaviour


def test_menu_and_dialog_close_without_sending(tab: Any, roster_path: Path) -> None:
    with start(roster_path) as sandbox:
        sign_in(tab, sandbox)
        kebab = row(tab, "ben@example.com").locator("button[id^='st-t-member-menu-']")
        menu = tab.locator("[role=menu][id^='st-t-member-menu-list-']")

        kebab.click()
        expect(menu).to_be_visible()
        expect(kebab).to_have_attribute("aria-expanded", "true")
        expect(tab.get_by_role("menuitem", name="Deactivate")).to_be_focused()
        tab.keyboard.press("Escape")
        expect(menu).to_have_count(0)
        expect(kebab).to_be_focused()
        expect(kebab).to_have_attribute("aria-expanded", "false")

        kebab.click()
        expect(menu).to_be_visible()
        tab.locator("h1").click()  # outside
        expect(menu).to_have_count(0)

        open_action(tab, "current", "ben@example.com", "Deactivate")
        dialog = tab.locator("[role=dialog]")
        expect(dialog).to_be_visible()
        tab.click("#st-t-confirm-dismiss-button")
        expect(dialog).to_have_count(0)
        expect(kebab).to_be_focused()

        open_action(tab, "current", "ben@example.com", "Deactivate")
        expect(dialog).to_be_visible()
        tab.keyboard.press("Escape")
        expect(dialog).to_have_count(0)

        expect(rows(tab)).to_have_count(5)
        expect(tab.locator("#st-t-flash")).to_be_empty()
        assert writes_of(sandbox) == []


def test_row_controls_are_disabled_while_the_write_is_in_flight(
    tab: Any, roster_path: Path
) -> None:
    with start(roster_path, variant="legacy", confirm_dialog=False, slow_write_ms=1500) as box:
        sign_in(tab, box)
        button = row(tab, "ben@example.com").locator("button[id^='st-t-deactivate-']")
        button.click()
        expect(button).to_be_disabled()
        wait_until(lambda: len(writes_of(box)) == 1)  # performed; the answer is still delayed
        button.click(force=True)  # a disabled button ignores it: no second request
        expect(success(tab)).to_have_text(DEACTIVATED)
        expect(row(tab, "ben@example.com")).to_have_count(0)
        assert writes_of(box) == [("deactivate", "ben@example.com", 200, "ok")]


# ---------------------------------------------------------------- errors


def test_a_general_user_gets_the_403_banner_in_legacy(tab: Any, tmp_path: Path) -> None:
    roster = [
        person("boss@example.com", "Administrator"),
        person("me@example.com", is_login_user=True),
        person("ben@example.com"),
    ]
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with start(path, variant="legacy") as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "legacy", "ben@example.com", "Deactivate")
        tab.click("#st-t-confirm-deactivate-button")
        expect(failure(tab)).to_have_text("Only Administrators can deactivate team members.")
        expect(tab.locator("#st-t-flash .st-alert")).to_have_count(1)
        expect(row(tab, "ben@example.com").locator("button")).to_be_enabled()
        expect(rows(tab)).to_have_count(3)
        assert writes_of(sandbox) == [("deactivate", "ben@example.com", 403, "refused")]

        # A new action clears the previous banner.
        open_action(tab, "legacy", "ben@example.com", "Deactivate")
        expect(tab.locator("#st-t-flash")).to_be_empty()


def test_current_shows_no_row_menus_to_general_users(tab: Any, tmp_path: Path) -> None:
    roster = [
        person("boss@example.com", "Administrator"),
        person("me@example.com", is_login_user=True),
        person("invitee@example.com", status="pending"),
    ]
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with start(path) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(3)
        expect(tab.locator("#st-t-members-root button")).to_have_count(0)


def test_a_server_fault_shows_the_error_banner_and_changes_nothing(
    tab: Any, roster_path: Path
) -> None:
    # One RNG for reads and writes: the list load must pass, the write after it must fail.
    rate = 0.5
    seed = next(
        s
        for s in range(10_000)
        if (lambda r: r.random() >= rate and r.random() < rate)(random.Random(s))
    )
    with start(roster_path, fault_rate=rate, seed=seed) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(5)
        open_action(tab, "current", "ben@example.com", "Deactivate")
        tab.click("#st-t-confirm-deactivate-button")
        expect(failure(tab)).to_have_text("Something went wrong. Please try again.")
        expect(row(tab, "ben@example.com")).to_have_count(1)
        assert writes_of(sandbox) == [("deactivate", "ben@example.com", 500, "fault")]


# ---------------------------------------------------------------- untrusted names


def test_a_hostile_name_in_the_dialog_title_is_text(tab: Any, tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>window.__pwned = 1</script>'
    roster = [
        person("admin@example.com", "Administrator", is_login_user=True),
        person("evil@example.com", name=hostile),
    ]
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with start(path) as sandbox:
        sign_in(tab, sandbox)
        open_action(tab, "current", "evil@example.com", "Deactivate")
        dialog = tab.locator("[role=dialog]")
        expect(dialog.get_by_role("heading")).to_have_text(f"Deactivate {hostile}?")
        assert dialog.locator("img, script").count() == 0
        tab.click("#st-t-confirm-deactivate-button")
        expect(success(tab)).to_have_text(DEACTIVATED)
        assert tab.evaluate("window.__pwned") is None
        assert tab.dialogs == []

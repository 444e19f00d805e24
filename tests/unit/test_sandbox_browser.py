"""The sandbox's JavaScript in a real Chromium: the member list, pagination, errors, the user menu.

Signs in through the real forms. Uses Playwright's sync API on a module-scoped browser rather than
pytest-playwright's fixtures: those keep a sync Playwright alive for the whole session, and then the
connector's tests cannot call asyncio.run() ("cannot be called from a running event loop").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from connector.sandbox.options import SandboxOptions, Variant
from connector.sandbox.server import RunningSandbox, running_sandbox
from tests.unit.conftest import CID, members_path


def sign_in(
    page: Any, sandbox: RunningSandbox, path: str, email: str = "admin@example.com"
) -> None:
    page.goto(sandbox.app_url + path)
    if sandbox.options.variant == "legacy":
        page.fill("form[name=loginForm] input[name=email]", email)
        page.fill("form[name=loginForm] input[name=password]", "sandbox-password")
        page.click("button[submit-button^='view.login']")
    else:
        page.fill("#st-v2-login-email", email)
        page.click("#-st-t-stitch-login-submit-button")
        page.wait_for_url(sandbox.login_url + "/login?state=*")
        page.fill("input#password.input--password", "sandbox-password")
        page.get_by_role("button", name="Log in").click()
    page.wait_for_url(sandbox.app_url + path)


def rows(page: Any) -> Any:
    return page.locator("[role=row].st-table__row--body, tr.st-table__row--body")


HEADERS = {
    "current": ["Name", "Email", "Role", "Status", "Actions"],
    "rbac2022": ["Name", "Email", "Role", "Status", "Actions"],
    "legacy": ["Name", "Email Address", "Role", "Status", ""],
}


@pytest.mark.parametrize("variant", ["current", "rbac2022", "legacy"])
def test_member_list_pages_and_keeps_the_page_in_the_url(tab: Any, variant: Variant) -> None:
    with running_sandbox(SandboxOptions(variant=variant, members=60, latency_ms=50)) as sandbox:
        path = members_path(variant)
        sign_in(tab, sandbox, path)

        expect(rows(tab)).to_have_count(50)
        expect(tab.locator(".st-spinner")).to_have_count(0)
        noun = "team members" if variant == "legacy" else "members"
        expect(tab.locator("#st-t-member-count")).to_have_text(f"60 {noun}")
        expect(tab.locator("#st-t-pagination-status")).to_have_text("Page 1 of 2")
        table = tab.locator("[role=table].st-member-table, table.st-table")
        headers = table.locator("[role=columnheader], thead th").all_text_contents()
        assert [h.strip() for h in headers] == HEADERS[variant]

        you = tab.locator(".st-you" if variant == "legacy" else ".st-member-name__you")
        expect(you).to_have_count(1)
        if variant == "legacy":
            expect(tab.locator(".st-role", has_text="SSO Admin").first).to_be_visible()
            expect(tab.locator("button[id^=st-t-deactivate-]")).to_have_count(49)
        else:
            expect(tab.locator("button[id^=st-t-member-menu-]")).to_have_count(49)
            expect(tab.locator("select[id^=st-t-member-role-]")).to_have_count(49)
        expect(tab.locator(".st-pill--invoice-admin, .st-role--invoice")).to_have_count(1)

        tab.click("#st-t-pagination-button-next")
        expect(tab.locator("#st-t-pagination-status")).to_have_text("Page 2 of 2")
        expect(rows(tab)).to_have_count(10)
        expect(tab.locator("#st-t-pagination-button-next")).to_be_disabled()
        assert tab.url == f"{sandbox.app_url}{path}?page=2"
        # Pending invitees show a dash for a name and the variant's status label.
        pending_label = "Invited" if variant == "legacy" else "Invitation pending"
        pending = rows(tab).filter(has_text=pending_label)
        expect(pending.first.locator(".st-member-name__text")).to_have_text("\u2014")

        tab.reload()
        expect(tab.locator("#st-t-pagination-status")).to_have_text("Page 2 of 2")

        # Session gone: the next data request sends the page to sign-in, keeping the page number.
        sandbox.expire_sessions()
        tab.click("#st-t-pagination-button-previous")
        tab.wait_for_url("**/session/create?redirect=*")
        redirect = quote(f"{path}?page=1", safe="")
        assert tab.url == f"{sandbox.app_url}/session/create?redirect={redirect}"


def test_hostile_names_render_as_text(tab: Any, tmp_path: Path) -> None:
    names = [
        "<script>window.__pwned = 1</script>",
        '"><img src=x onerror=alert(1)>',
        'O\'Brien & "Sons" 🦄',
        "Ω" * 200,
    ]
    roster: list[dict[str, Any]] = [
        {"email": "me@example.com", "name": "<b>Me</b>", "role": "Administrator",
         "status": "active", "invoice_admin": False, "is_login_user": True},
    ]  # fmt: skip
    roster += [
        {"email": f"u{i}@example.com", "name": name, "role": "General User", "status": "active",
         "invoice_admin": False}
        for i, name in enumerate(names)
    ]  # fmt: skip
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with running_sandbox(SandboxOptions(members_file=path, latency_ms=0)) as sandbox:
        sign_in(tab, sandbox, members_path("current"), email="me@example.com")
        expect(rows(tab)).to_have_count(5)
        shown = tab.locator(".st-member-name__text").all_text_contents()
        assert sorted(shown) == sorted(["<b>Me</b>", *names])
        assert tab.evaluate("window.__pwned") is None
        assert tab.locator("#st-t-members-root img, #st-t-members-root script").count() == 0
        assert tab.locator("#st-t-members-root b").count() == 0
        assert tab.dialogs == []


def test_failed_data_request_shows_the_error_alert(tab: Any) -> None:
    with running_sandbox(SandboxOptions(fault_rate=1.0, latency_ms=0)) as sandbox:
        sign_in(tab, sandbox, members_path("current"))
        alert = tab.locator("#st-t-members-root .st-alert--error[role=alert]")
        expect(alert).to_have_text("Something went wrong. Please try again.")
        expect(tab.locator(".st-spinner")).to_have_count(0)
        assert rows(tab).count() == 0


def test_only_the_viewer_and_the_user_menu(tab: Any) -> None:
    with running_sandbox(SandboxOptions(members=1, latency_ms=0)) as sandbox:
        sign_in(tab, sandbox, members_path("current"))

        expect(tab.locator("#st-t-members-empty")).to_have_text(
            "You're the only member of this account."
        )
        expect(rows(tab)).to_have_count(1)
        expect(tab.locator("#st-t-member-count")).to_have_text("1 member")
        expect(tab.locator(".st-pagination")).to_have_count(0)

        item = tab.get_by_role("menuitem", name="Edit User Settings")
        expect(item).to_be_hidden()
        tab.get_by_role("button", name="User menu").click()
        expect(item).to_be_visible()
        tab.keyboard.press("Escape")
        expect(item).to_be_hidden()
        tab.get_by_role("button", name="User menu").click()
        item.click()
        tab.wait_for_url(f"**/client/{CID}/pipeline/v2/settings/account")
        expect(tab.get_by_role("tab", name="Members")).to_be_visible()

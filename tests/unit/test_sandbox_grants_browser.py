"""The member lifecycle in a real Chromium: the Add a Team Member dialog and its errors, the row's
role select, Reactivate (docs/sandbox-dom.md "Member lifecycle"), with the exact ids and texts the
connector's selectors are written against. No sleeps: every wait is Playwright's `expect` or a
bounded poll of the sandbox's state.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from connector.sandbox.options import Variant
from tests.unit.test_sandbox_write_browser import (
    failure,
    person,
    row,
    rows,
    sign_in,
    start,
    success,
    wait_until,
    writes_of,
)

GENERIC = "Something went wrong. Please try again."

ROSTER = [
    person("admin@example.com", "Administrator", is_login_user=True),
    person("boss@example.com", "Administrator"),
    person("ana@example.com", name="Ana Ñúñez", invoice_admin=True),
    person("ben@example.com", name="Ben Becker"),
    person("invitee@example.com", status="pending"),
    person("gone@example.com", name="Gus Gone", status="deactivated"),
]  # seats used: 5 (the deactivated member takes none)


@pytest.fixture(scope="module")
def roster_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grants-ui") / "roster.json"
    path.write_text(json.dumps(ROSTER), encoding="utf-8")
    return path


def add_button(page: Any, variant: Variant) -> Any:
    if variant == "legacy":
        return page.locator("button.st-add-member")
    return page.locator("#st-t-add-team-member")


def invite_error(page: Any) -> Any:
    return page.locator("#st-t-invite-error")


def send(page: Any, email: str) -> None:
    page.fill("#st-t-invite-email", email)
    page.click("#st-t-send-invitation")


# ---------------------------------------------------------------- Add a Team Member


@pytest.mark.parametrize("variant", ["current", "rbac2022", "legacy"])
def test_the_invite_dialog_its_inline_errors_and_a_new_pending_row(
    tab: Any, roster_path: Path, variant: Variant
) -> None:
    with start(roster_path, variant=variant) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(5)
        button = add_button(tab, variant)
        if variant == "legacy":
            expect(button).to_have_text("+")
            expect(button).to_have_attribute("aria-label", "Add a Team Member")
            expect(button).to_have_attribute("class", "st-button st-button--blue st-add-member")
            expect(rows(tab).locator("select")).to_have_count(0)  # roles were automatic
        else:
            expect(button).to_have_text("Add a Team Member")
            expect(button).to_have_class("st-button st-button--primary")
        button.click()

        dialog = tab.locator("[role=dialog][aria-modal=true]")
        expect(dialog).to_have_attribute("id", "st-t-invite-dialog")
        expect(dialog).to_have_attribute("aria-labelledby", "st-t-invite-title")
        expect(tab.locator("#st-t-invite-title")).to_have_text("Add a Team Member")
        controls = tab.locator("#st-t-invite-form[novalidate]").locator("input, select, p, button")
        order = ["st-t-invite-email", "st-t-invite-error", "st-t-invite-cancel"]
        order = (
            ["st-t-invite-name", *order]
            if variant == "legacy"
            else [order[0], "st-t-invite-role", *order[1:]]
        )
        ids = [controls.nth(i).get_attribute("id") for i in range(controls.count())]
        assert ids == [*order, "st-t-send-invitation"]
        expect(dialog.get_by_label("Email Address")).to_have_attribute("type", "email")
        if variant != "legacy":
            expect(dialog.get_by_label("Role", exact=True)).to_have_value("General User")
        expect(invite_error(tab)).to_be_hidden()
        expect(invite_error(tab)).to_be_empty()
        expect(tab.locator("#st-t-send-invitation")).to_have_text("Send Invitation")

        # Client-side checks send nothing.
        tab.click("#st-t-send-invitation")
        expect(invite_error(tab)).to_have_text("Email is required")
        send(tab, "not-an-email")
        expect(invite_error(tab)).to_have_text("Please enter a valid email address")
        # Server refusals: inline, the dialog stays open.
        send(tab, "Ben@Example.com")
        expect(invite_error(tab)).to_have_text("This person is already a member of this account.")
        send(tab, "analyst@other-account.example")
        expect(invite_error(tab)).to_have_text(
            "This email address is already associated with an active user."
        )
        expect(dialog).to_be_visible()
        expect(tab.locator("#st-t-flash")).to_be_empty()

        if variant == "legacy":
            tab.fill("#st-t-invite-name", "Nia Nguyễn")
        else:
            tab.select_option("#st-t-invite-role", "Administrator")
        send(tab, "  New.Person@Example.com ")
        expect(success(tab)).to_have_text("Invitation sent to new.person@example.com.")
        expect(dialog).to_have_count(0)
        expect(rows(tab)).to_have_count(6)
        new = row(tab, "new.person@example.com")
        expect(new.locator(".st-status")).to_have_text(
            "Invited" if variant == "legacy" else "Invitation pending"
        )
        if variant == "legacy":
            expect(new).to_contain_text("Nia Nguyễn")
            expect(new.locator(".st-role")).to_have_text("General User")
        else:
            expect(new).to_contain_text("\u2014")
            expect(new.locator("select[id^='st-t-member-role-']")).to_have_value("Administrator")
        assert writes_of(sandbox) == [
            ("invite", "ben@example.com", 409, "refused"),
            ("invite", "analyst@other-account.example", 409, "refused"),
            ("invite", "new.person@example.com", 200, "ok"),
        ]


def test_cancel_and_escape_close_the_dialog_without_sending(tab: Any, roster_path: Path) -> None:
    with start(roster_path) as sandbox:
        sign_in(tab, sandbox)
        button = add_button(tab, "current")
        button.click()
        expect(tab.locator("#st-t-invite-email")).to_be_focused()
        tab.click("#st-t-invite-cancel")
        expect(tab.locator("#st-t-invite-dialog")).to_have_count(0)
        expect(button).to_be_focused()
        button.click()
        tab.fill("#st-t-invite-email", "someone@example.com")
        tab.keyboard.press("Escape")
        expect(tab.locator("#st-t-invite-dialog")).to_have_count(0)
        assert writes_of(sandbox) == []


def test_the_add_button_follows_the_seats(tab: Any, roster_path: Path) -> None:
    title = "Your plan includes 6 users. Upgrade to add more team members."
    with start(roster_path, seat_limit=6) as sandbox:
        sign_in(tab, sandbox)
        button = add_button(tab, "current")
        expect(button).to_be_enabled()
        expect(button).not_to_have_attribute("title", title)
        button.click()
        send(tab, "sixth@example.com")
        expect(success(tab)).to_have_text("Invitation sent to sixth@example.com.")
        expect(button).to_be_disabled()  # 6 of 6: recomputed after the list's re-fetch
        expect(button).to_have_attribute("title", title)

        row(tab, "sixth@example.com").locator("button[id^='st-t-member-menu-']").click()
        tab.get_by_role("menuitem", name="Cancel invitation").click()
        tab.click("#st-t-confirm-cancel-invitation-button")
        expect(success(tab)).to_have_text("Invitation cancelled.")
        expect(button).to_be_enabled()
        expect(button).not_to_have_attribute("title", title)
        assert [w[0] for w in writes_of(sandbox)] == ["invite", "cancel_invitation"]


def test_drop_banner_invites_without_a_banner(tab: Any, roster_path: Path) -> None:
    with start(roster_path, variant="rbac2022", drop_banner=True) as sandbox:
        sign_in(tab, sandbox)
        add_button(tab, "rbac2022").click()
        send(tab, "quiet@example.com")
        expect(row(tab, "quiet@example.com")).to_have_count(1)  # the list still re-fetches
        expect(tab.locator("#st-t-invite-dialog")).to_have_count(0)
        expect(tab.locator("#st-t-flash")).to_be_empty()
        assert writes_of(sandbox) == [("invite", "quiet@example.com", 200, "ok")]


def test_a_fault_shows_the_banner_and_keeps_the_dialog(tab: Any, roster_path: Path) -> None:
    # One RNG for reads and writes: the list load must pass, the invite after it must fail.
    rate = 0.5
    seed = next(
        s
        for s in range(10_000)
        if (lambda r: r.random() >= rate and r.random() < rate)(random.Random(s))
    )
    with start(roster_path, fault_rate=rate, seed=seed) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(5)
        add_button(tab, "current").click()
        send(tab, "new@example.com")
        expect(failure(tab)).to_have_text(GENERIC)
        expect(tab.locator("#st-t-invite-dialog")).to_be_visible()
        expect(invite_error(tab)).to_be_empty()
        expect(tab.locator("#st-t-invite-email")).to_have_value("new@example.com")
        assert writes_of(sandbox) == [("invite", "new@example.com", 500, "fault")]


def test_a_general_user_in_legacy_gets_the_refusal_inline(tab: Any, tmp_path: Path) -> None:
    roster = [
        person("boss@example.com", "Administrator"),
        person("me@example.com", is_login_user=True),
    ]
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster), encoding="utf-8")
    with start(path, variant="legacy") as sandbox:
        sign_in(tab, sandbox)
        add_button(tab, "legacy").click()
        tab.fill("#st-t-invite-name", "New")
        send(tab, "new@example.com")
        expect(invite_error(tab)).to_have_text("Only Administrators can invite new users.")
        assert writes_of(sandbox) == [("invite", "new@example.com", 403, "refused")]


# ---------------------------------------------------------------- the role select


@pytest.mark.parametrize("variant", ["current", "rbac2022"])
def test_the_role_select_saves_and_the_row_moves(
    tab: Any, roster_path: Path, variant: Variant
) -> None:
    with start(roster_path, variant=variant, slow_write_ms=600) as sandbox:
        sign_in(tab, sandbox)
        expect(rows(tab)).to_have_count(5)
        emails = rows(tab).evaluate_all("rs => rs.map(r => r.dataset.email)")
        assert emails.index("ben@example.com") > emails.index("ana@example.com")
        select = row(tab, "ben@example.com").locator("select[id^='st-t-member-role-']")
        select.select_option("Administrator")
        expect(select).to_be_disabled()  # while the request is in flight
        expect(success(tab)).to_have_text("Role updated.")
        select = row(tab, "ben@example.com").locator("select[id^='st-t-member-role-']")
        expect(select).to_have_value("Administrator")
        expect(select).to_be_enabled()
        # Administrators first, then by name: Admin's own name, Ben Becker, Boss.
        expect(rows(tab).nth(1)).to_have_attribute("data-email", "ben@example.com")
        assert [(w["action"], w["email"], w["role"]) for w in full_writes(sandbox)] == [
            ("set_role", "ben@example.com", "Administrator")
        ]


def full_writes(sandbox: Any) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = sandbox.state()["writes"]
    return writes


def test_a_refused_role_change_shows_the_banner_and_the_stored_role(
    tab: Any, roster_path: Path
) -> None:
    with start(roster_path) as sandbox:
        sign_in(tab, sandbox)
        select = row(tab, "ben@example.com").locator("select[id^='st-t-member-role-']")
        expect(select).to_have_value("General User")
        sandbox.remove_member("ben@example.com")  # gone behind the page's back
        select.select_option("Administrator")
        expect(failure(tab)).to_have_text("This team member no longer exists.")
        expect(rows(tab)).to_have_count(4)  # the re-fetch shows the truth: Ben is gone
        # The viewer lost the Administrator role meanwhile: 403, and the re-fetch shows the
        # stored role, now as plain text.
        sandbox.set_role("admin@example.com", "General User")
        row(tab, "ana@example.com").locator("select").select_option("Administrator")
        expect(failure(tab)).to_have_text("Only Administrators can change roles.")
        expect(row(tab, "ana@example.com").locator(".st-member-role")).to_have_text("General User")
        expect(rows(tab).locator("select")).to_have_count(0)
        assert writes_of(sandbox) == [
            ("set_role", "", 404, "refused"),
            ("set_role", "ana@example.com", 403, "refused"),
        ]


# ---------------------------------------------------------------- Reactivate


@pytest.mark.parametrize("variant", ["current", "legacy"])
def test_reactivate_brings_the_row_back(tab: Any, roster_path: Path, variant: Variant) -> None:
    with start(roster_path, variant=variant, keep_deactivated=True) as sandbox:
        sign_in(tab, sandbox)
        gone = row(tab, "gone@example.com")
        expect(gone.locator(".st-status")).to_have_text("Deactivated")
        if variant == "legacy":
            button = gone.locator("button[id^='st-t-reactivate-']")
            expect(button).to_have_text("Reactivate")
            button.click()
        else:
            gone.locator("button[id^='st-t-member-menu-']").click()
            items = tab.get_by_role("menu", name="Actions for gone@example.com")
            expect(items.get_by_role("menuitem")).to_have_text(["Reactivate"])
            items.get_by_role("menuitem", name="Reactivate").click()
        expect(tab.locator("[role=dialog]")).to_have_count(0)  # no confirmation
        expect(success(tab)).to_have_text("The user was reactivated!")
        expect(gone.locator(".st-status")).to_have_text("Active")
        if variant == "legacy":
            expect(gone.locator("button")).to_have_text(["Deactivate"])
        else:
            expect(gone.locator("select[id^='st-t-member-role-']")).to_have_value("General User")
        wait_until(lambda: writes_of(sandbox) == [("reactivate", "gone@example.com", 200, "ok")])

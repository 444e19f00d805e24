# ruff: noqa: E501 (the observables are JavaScript, kept one condition per line)
"""The drift corpus in a real Chromium: every transform changes the page as its `what` says,
while the sandbox's truth (members, count, writes) stays as it was.

One sandbox per variant for the module (60 members: two pages), switched between mutations with
the runtime endpoint, and one signed-in tab per variant; sign-in mutations use fresh contexts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from connector.sandbox.mutations import MUTATIONS
from connector.sandbox.options import SandboxOptions, Variant
from connector.sandbox.server import RunningSandbox, running_sandbox
from tests.unit.conftest import members_path
from tests.unit.test_sandbox_browser import sign_in

MEMBERS = 60

# Records what the member list showed after every DOM change, so a phase that passes quickly
# (placeholders, a late count) can be checked after the fact instead of raced.
RECORDER = """
window.__mutLog = [];
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("st-t-members-root");
  if (!root) return;
  new MutationObserver(function () {
    var count = document.getElementById("st-t-member-count");
    window.__mutLog.push({
      emails: (root.innerText.match(/@/g) || []).length,
      count: count ? count.textContent : null,
      skel: root.querySelectorAll(".mut-skel").length,
      busy: root.getAttribute("aria-busy")
    });
  }).observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
});
"""

# One observable per list mutation: a JS function body over `root` (the list's root) and
# `count` (the count element or null) that is true once the transform has done its work.
HEADERS = (
    "Array.from(root.querySelectorAll('[role=columnheader], th')).map(h => h.textContent.trim())"
)
LIST_CHECKS: dict[str, tuple[int, str]] = {
    "list-hashed-class-names": (1, """
        return !root.querySelector('.rt-tr, .rt-td, .st-table__row--body, .st-member-name__text, .st-pill')
          && root.querySelectorAll('[class^="_"]').length > 200
          && !root.querySelector('[role=row] [id^="st-t-"], tr [id^="st-t-"]');"""),
    "list-selection-checkbox-column": (1, """
        return root.querySelectorAll('input[type=checkbox][aria-label^="Select "]').length === 51
          && !!root.querySelector('th input[aria-label="Select all members"], [role=columnheader] input');"""),
    "list-last-signin-column": (1, f"""
        const h = {HEADERS};
        return h[4] === 'Last sign-in' && /\\d+ days ago/.test(root.innerText);"""),
    "list-columns-reordered": (1, f"""
        const h = {HEADERS};
        return h[0] === 'Status' && h[1] === 'Name' && h[2] === 'Role' && h[3].startsWith('Email');"""),
    "list-headers-uppercase-icon": (1, """
        const first = root.querySelector('[role=columnheader], th');
        return first.textContent.startsWith('NAME')
          && first.querySelector('[aria-hidden=true]').textContent === '\\u24d8';"""),
    "list-status-dot": (1, """
        return root.querySelectorAll('.mut-dot[aria-hidden=true]').length === 50
          && root.innerText.includes('\\u25cf Active');"""),
    "list-you-chip": (1, """
        const chip = root.querySelector('.mut-chip');
        return !root.textContent.includes('(You)') && chip.textContent === 'You'
          && chip.previousSibling.nodeType === 1;"""),
    "list-email-mailto-copy": (1, """
        return root.querySelectorAll('a[href^="mailto:"]').length === 50
          && root.querySelectorAll('button[aria-label="Copy email address"]').length === 50;"""),
    "list-email-new-chip": (1, """
        const chips = root.querySelectorAll('.mut-chip--new');
        return chips.length > 3 && Array.from(chips).every(c => c.textContent === 'New'
          && c.previousSibling.nodeType === 1 && c.previousSibling.textContent.includes('@'));"""),
    "list-cell-wrappers": (1, """
        return root.querySelectorAll('[role=tooltip][hidden]').length === 200
          && root.querySelectorAll('.mut-truncate[title*="@"]').length >= 50;"""),
    "list-aria-grid": (1, """
        return !!root.querySelector('[role=grid]') && root.querySelectorAll('[role=gridcell]').length === 250
          && !root.querySelector('table, [role=table]');"""),
    "list-ul-rows": (1, """
        return root.querySelectorAll('ul[role=table] > li[role=row]').length === 51
          && root.querySelectorAll('li[role=row] > [role=cell]').length === 250 && !root.querySelector('table');"""),
    "list-hidden-mobile-cards": (1, """
        const cards = root.querySelector('.mut-cards');
        return getComputedStyle(cards).display === 'none' && cards.querySelectorAll('[data-email]').length === 50
          && cards.nextElementSibling.matches('[role=table]');"""),
    "list-api-keys-table": (1, """
        const tables = root.querySelectorAll('table, [role=table]');
        return tables.length === 2 && tables[1].textContent.includes('Nightly export')
          && Array.from(root.querySelectorAll('h3')).some(h => h.textContent === 'API keys');"""),
    "list-invited-section": (2, """
        const h = Array.from(root.querySelectorAll('h3')).find(h => h.textContent === 'Invited \\u2014 awaiting acceptance');
        const tables = root.querySelectorAll('[role=table]');
        return !!h && tables.length === 2 && !tables[0].textContent.includes('Invitation pending')
          && (tables[1].textContent.match(/Invitation pending/g) || []).length === 6;"""),
    "list-aria-busy-placeholders": (1, """
        return window.__mutLog.some(e => e.skel > 0 && e.busy === 'true' && e.emails === 0)
          && root.innerText.includes('@') && !root.querySelector('.mut-skel');"""),
    "list-count-late": (1, """
        return window.__mutLog.some(e => e.emails >= 50 && e.count === '')
          && count.textContent === '60 team members';"""),
    "list-range-status": (2, """
        return root.innerText.includes('Showing 51\\u201360 of 60 members')
          && !document.getElementById('st-t-pagination-status');"""),
    "list-next-chevron-link": (1, """
        const next = root.querySelector('a[role=button][aria-label="Next page"]');
        return next.textContent === '\\u203a' && !document.getElementById('st-t-pagination-button-next')
          && root.querySelector('a[aria-label="Previous page"]').getAttribute('aria-disabled') === 'true';"""),
    "list-invoice-admin-column": (1, f"""
        const h = {HEADERS};
        return h[3] === 'Invoice Admin' && root.querySelectorAll('[role=img][aria-label=Yes]').length === 1
          && (root.textContent.match(/Invoice Admin/g) || []).length === 1;"""),
    "list-invoice-admin-switch": (1, """
        return root.querySelectorAll('[role=switch]').length === 50
          && root.querySelectorAll('[role=switch][aria-checked=true]').length === 1
          && !root.querySelector('.st-pill--invoice-admin');"""),
    "list-role-listbox": (1, """
        return !root.querySelector('select') && root.querySelectorAll('button[aria-haspopup=listbox]').length === 49
          && root.querySelectorAll('[role=listbox][hidden] [role=option]').length === 98;"""),
    "list-email-under-name": (1, """
        return root.querySelectorAll('.mut-sub').length === 50
          && (root.innerText.match(/admin@example\\.com/g) || []).length === 2;"""),
    "list-status-pending-short": (2, """
        return !root.textContent.includes('Invitation pending')
          && (root.innerText.match(/\\bPending\\b/g) || []).length === 6;"""),
    "list-email-ellipsis": (1, """
        return /@exam\\u2026|\\u2026/.test(root.innerText) && !root.querySelector('[data-email]')
          && !root.innerHTML.includes('lena.schmidt@example.com');"""),
    "list-email-role-suffix": (1, """
        return root.innerText.includes('admin@example.comADMIN') && !root.querySelector('[data-email]');"""),
    "list-emails-masked": (1, """
        return root.innerText.includes('a\\u2022\\u2022\\u2022\\u2022\\u2022@example.com')
          && !root.innerHTML.includes('admin@example.com');"""),
    "list-invoice-marker-renamed": (1, """
        return root.innerText.includes('Tier 2') && !root.textContent.includes('Invoice Admin');"""),
    "list-invoice-marker-every-row": (1, """
        return (root.innerText.match(/Invoice Admin/g) || []).length === 50;"""),
    "list-status-icons-only": (1, """
        return !/Active|Invit/.test(root.innerText) && root.innerText.includes('\\u25cf')
          && !root.querySelector('[class*=st-status]');"""),
    "list-count-removed": (1, """
        return count === null && root.innerText.includes('@');"""),
    "list-count-mismatch": (1, """
        return count.textContent === '67 members';"""),
    "list-header-row-removed": (1, """
        return !root.querySelector('[role=columnheader], th, thead') && root.innerText.includes('@');"""),
    "list-roles-owner-member": (1, """
        return root.innerText.includes('Owner') && root.innerText.includes('Member')
          && !/SSO Admin|Administrator|General User/.test(root.innerText);"""),
    "list-virtualised-first-20": (1, """
        return root.querySelectorAll('[data-member-id]').length === 20 && !!root.querySelector('.mut-spacer')
          && count.textContent === '60 members';"""),
    "list-skeleton-forever": (1, """
        return root.querySelectorAll('.mut-skel').length > 0 && root.getAttribute('aria-busy') === 'true'
          && !root.innerText.includes('@') && !root.querySelector('.st-spinner');"""),
    "list-you-on-two-rows": (1, """
        return (root.innerText.match(/\\(You\\)/g) || []).length === 2;"""),
}  # fmt: skip

LIST = sorted(name for name, m in MUTATIONS.items() if m.area == "list")


def test_every_list_mutation_has_a_check() -> None:
    assert sorted(LIST_CHECKS) == LIST


@pytest.fixture(scope="module")
def boxes() -> Iterator[dict[str, RunningSandbox]]:
    started: dict[str, Any] = {}
    try:
        for variant in ("current", "rbac2022", "legacy"):
            manager = running_sandbox(
                SandboxOptions(variant=variant, members=MEMBERS, latency_ms=0)
            )
            started[variant] = (manager, manager.__enter__())
        yield {variant: box for variant, (_, box) in started.items()}
    finally:
        for manager, _ in started.values():
            manager.__exit__(None, None, None)


@pytest.fixture(scope="module")
def tabs(chromium_browser: Any, boxes: dict[str, RunningSandbox]) -> Iterator[dict[str, Any]]:
    """One signed-in tab per variant, with the list recorder installed."""
    contexts = []
    pages: dict[str, Any] = {}
    for variant, box in boxes.items():
        context = chromium_browser.new_context()
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, box, members_path(variant))  # type: ignore[arg-type]
        contexts.append(context)
        pages[variant] = page
    yield pages
    for context in contexts:
        context.close()


@pytest.fixture
def fresh(chromium_browser: Any) -> Iterator[Any]:
    context = chromium_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _no_mutations(boxes: dict[str, RunningSandbox]) -> Iterator[None]:
    yield
    for box in boxes.values():
        box.set_mutations([])


def truth_unchanged(box: RunningSandbox, before: dict[str, Any]) -> None:
    after = box.state()
    assert after["members"] == before["members"]
    assert after["writes"] == []


def open_list(page: Any, box: RunningSandbox, variant: Variant, page_number: int) -> None:
    page.goto(f"{box.app_url}{members_path(variant)}?page={page_number}")


@pytest.mark.parametrize("name", LIST)
def test_list_mutation_changes_the_dom(
    tabs: dict[str, Any], boxes: dict[str, RunningSandbox], name: str
) -> None:
    mutation = MUTATIONS[name]
    variant = mutation.variant
    box, page = boxes[variant], tabs[variant]
    before = box.state()
    box.set_mutations([name])
    page_number, check = LIST_CHECKS[name]
    with page.expect_response(re.compile(r"/api/clients/\d+/members\?page=")):
        open_list(page, box, variant, page_number)
    page.wait_for_function(
        "() => { const root = document.getElementById('st-t-members-root');"
        " const count = document.getElementById('st-t-member-count');"
        # A check may look at an element the list has not drawn yet: not there yet is "wait".
        f" try {{ {check} }} catch (e) {{ return false; }} }}",
        timeout=10_000,
    )
    truth_unchanged(box, before)
    if mutation.expect == "exact":
        # a person still sees every member of the page, and the count is right
        shown = page.locator("#st-t-members-root").inner_text()
        members: list[dict[str, Any]] = before["members"]  # type: ignore[assignment]
        emails = [m["email"] for m in members][(page_number - 1) * 50 :][:50]
        assert all(email in shown for email in emails)
        noun = "team members" if variant == "legacy" else "members"
        expect(page.locator("#st-t-member-count")).to_have_text(f"{MEMBERS} {noun}")


def test_chevron_link_still_pages(tabs: dict[str, Any], boxes: dict[str, RunningSandbox]) -> None:
    box, page = boxes["rbac2022"], tabs["rbac2022"]
    box.set_mutations(["list-next-chevron-link"])
    open_list(page, box, "rbac2022", 1)
    page.get_by_role("button", name="Next page").click()
    page.wait_for_url("**?page=2")
    expect(page.get_by_role("button", name="Next page")).to_have_attribute("aria-disabled", "true")


def test_a_broken_user_transform_does_not_break_the_page(
    chromium_browser: Any, tmp_path: Any
) -> None:
    script = tmp_path / "mine.js"
    script.write_text(
        "StitchMutations.register('boom', { list: function () { throw new Error('boom'); } });\n"
        "StitchMutations.register('mine', { list: function (ctx) {\n"
        "  ctx.count.setAttribute('data-mine', String(ctx.data.total));\n"
        "  ctx.root.appendChild(ctx.el('p', { id: 'mine' }, 'user transform ran'));\n"
        "}, signin: function (ctx) { ctx.document.title = 'mine: ' + ctx.variant; } });\n",
        encoding="utf-8",
    )
    options = SandboxOptions(members=5, latency_ms=0, mutation_script=script)
    with running_sandbox(options) as box:
        context = chromium_browser.new_context()
        page = context.new_page()
        try:
            page.goto(box.app_url + "/session/create")
            expect(page).to_have_title("mine: current")
            sign_in(page, box, members_path("current"))
            expect(page.locator("#mine")).to_have_text("user transform ran")
            expect(page.locator("#st-t-member-count")).to_have_attribute("data-mine", "5")
            expect(page.locator("[data-member-id]")).to_have_count(5)
        finally:
            context.close()


# ---------------------------------------------------------------- dialogs and menus


def open_row_action(page: Any, variant: Variant, email: str) -> None:
    if variant == "legacy":
        row = page.locator("tr", has_text=email)
        row.get_by_role("button").first.click()
    else:
        page.get_by_role("button", name=f"Actions for {email}").click()


def test_dialog_email_omitted(tabs: dict[str, Any], boxes: dict[str, RunningSandbox]) -> None:
    box, page = boxes["current"], tabs["current"]
    before = box.state()
    box.set_mutations(["dialog-email-omitted"])
    open_list(page, box, "current", 1)
    target = "lena.schmidt@example.com"
    open_row_action(page, "current", target)
    page.get_by_role("menuitem", name="Deactivate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("h2")).to_have_text("Deactivate this team member?")
    assert target not in dialog.inner_text() and "Lena" not in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    truth_unchanged(box, before)


def test_deactivate_relabelled(tabs: dict[str, Any], boxes: dict[str, RunningSandbox]) -> None:
    box, page = boxes["rbac2022"], tabs["rbac2022"]
    box.set_mutations(["dialog-deactivate-relabelled"])
    open_list(page, box, "rbac2022", 1)
    open_row_action(page, "rbac2022", "lena.schmidt@example.com")
    expect(page.get_by_role("menuitem")).to_have_text(["Remove user"])
    page.keyboard.press("Escape")
    legacy_box, legacy = boxes["legacy"], tabs["legacy"]
    legacy_box.set_mutations(["dialog-deactivate-relabelled"])
    open_list(legacy, legacy_box, "legacy", 1)
    expect(legacy.locator("button[id^=st-t-deactivate-]").first).to_have_text("Remove user")
    expect(legacy.get_by_role("button", name="Deactivate", exact=True)).to_have_count(0)


def test_dialog_buttons_reversed(tabs: dict[str, Any], boxes: dict[str, RunningSandbox]) -> None:
    box, page = boxes["legacy"], tabs["legacy"]
    before = box.state()
    box.set_mutations(["dialog-buttons-reversed"])
    open_list(page, box, "legacy", 1)
    open_row_action(page, "legacy", "lena.schmidt@example.com")
    buttons = page.get_by_role("dialog").get_by_role("button")
    expect(buttons).to_have_text(["Yes, deactivate", "Cancel"])
    expect(page.get_by_role("dialog")).to_contain_text("lena.schmidt@example.com")
    buttons.nth(1).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    truth_unchanged(box, before)


def test_dialog_type_to_confirm(tabs: dict[str, Any], boxes: dict[str, RunningSandbox]) -> None:
    box, page = boxes["current"], tabs["current"]
    before = box.state()
    box.set_mutations(["dialog-type-to-confirm"])
    open_list(page, box, "current", 1)
    target = "lena.schmidt@example.com"
    open_row_action(page, "current", target)
    page.get_by_role("menuitem", name="Deactivate").click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.locator("#st-t-confirm-deactivate-button")
    expect(confirm).to_be_disabled()
    dialog.get_by_label(f"Type {target} to confirm").fill("lena.schmidt@example")
    expect(confirm).to_be_disabled()
    dialog.get_by_label(f"Type {target} to confirm").fill(target.upper())
    expect(confirm).to_be_enabled()
    dialog.get_by_role("button", name="Cancel").click()
    truth_unchanged(box, before)


# ---------------------------------------------------------------- sign-in and app chrome


def covered(page: Any, selector: str) -> bool:
    """True when something else is on top of the element's centre (a click would hit that)."""
    return bool(
        page.evaluate(
            """(selector) => { const el = document.querySelector(selector);
                 const r = el.getBoundingClientRect();
                 const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                 return top !== el && !el.contains(top); }""",
            selector,
        )
    )


def test_cookie_consent_blocks_both_origins(fresh: Any, boxes: dict[str, RunningSandbox]) -> None:
    box = boxes["current"]
    box.set_mutations(["signin-cookie-consent"])
    page = fresh
    page.goto(box.app_url + members_path("current"))
    consent = page.get_by_role("dialog")
    expect(consent).to_contain_text("cookies")
    assert covered(page, "#st-v2-login-email")
    consent.get_by_role("button", name="Manage preferences").click()
    expect(consent.get_by_label("Analytics")).to_be_visible()
    consent.get_by_role("button", name="Accept all").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert not covered(page, "#st-v2-login-email")
    page.fill("#st-v2-login-email", box.login_email)
    page.click("#-st-t-stitch-login-submit-button")
    page.wait_for_url(box.login_url + "/login?state=*")
    expect(page.get_by_role("dialog")).to_contain_text("cookies")  # the other origin asks too
    assert covered(page, "#password")
    page.get_by_role("button", name="Reject all").click()
    page.fill("#password", "sandbox-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(box.app_url + members_path("current"))
    cookies = {
        c["domain"]: c["value"] for c in page.context.cookies() if c["name"] == "st_cookie_consent"
    }
    assert cookies == {"127.0.0.1": "all", "localhost": "necessary"}
    page.goto(box.app_url + "/session/destroy")
    expect(page.locator("#st-v2-login-email")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)  # remembered


def test_stay_signed_in_interstitial(fresh: Any, boxes: dict[str, RunningSandbox]) -> None:
    box = boxes["rbac2022"]
    box.set_mutations(["signin-stay-signed-in"])
    page = fresh
    page.goto(box.app_url + members_path("rbac2022"))
    page.fill("#st-v2-login-email", box.login_email)
    page.click("#-st-t-stitch-login-submit-button")
    page.fill("#password", "sandbox-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Stay signed in?")).to_be_visible()
    assert page.url.startswith(box.login_url + "/login/stay?state=")
    page.get_by_role("button", name="Yes").click()
    page.wait_for_url(box.app_url + members_path("rbac2022"))
    session = next(c for c in page.context.cookies() if c["name"] == "stitch_session")
    assert session["expires"] > 0  # "Yes": a persistent cookie


def test_ids_renamed_still_signs_in_by_label(fresh: Any, boxes: dict[str, RunningSandbox]) -> None:
    box = boxes["legacy"]
    box.set_mutations(["signin-ids-renamed"])
    page = fresh
    page.goto(box.app_url + members_path("legacy"))
    ids = page.eval_on_selector_all("main [id]", "nodes => nodes.map(n => n.id)")
    assert ids and all(re.fullmatch(r"f[0-9a-f]{9}", i) for i in ids)
    page.get_by_label("Email").fill(box.login_email)
    page.get_by_label("Password").fill("sandbox-password")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(box.app_url + members_path("legacy"))


def test_buttons_relabelled(fresh: Any, boxes: dict[str, RunningSandbox]) -> None:
    box = boxes["current"]
    box.set_mutations(["signin-button-relabelled"])
    page = fresh
    page.goto(box.app_url + members_path("current"))
    expect(page.locator("#-st-t-stitch-login-submit-button")).to_have_count(0)
    page.get_by_label("Email").fill(box.login_email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("sandbox-password")
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(box.app_url + members_path("current"))


def test_whats_new_covers_the_app_until_dismissed(
    fresh: Any, boxes: dict[str, RunningSandbox]
) -> None:
    box = boxes["current"]
    box.set_mutations(["app-whats-new"])
    page = fresh
    sign_in(page, box, members_path("current"))
    announcement = page.get_by_role("dialog", name="What's new in Stitch")
    expect(announcement).to_be_visible()
    assert covered(page, "#st-t-user-menu")
    expect(page.locator("[data-member-id]")).to_have_count(50)  # the page is there beneath
    page.goto(box.app_url + members_path("current") + "?page=2")
    expect(announcement).to_be_visible()  # not dismissed yet: still there
    announcement.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert not covered(page, "#st-t-user-menu")
    page.reload()
    expect(page.locator("[data-member-id]")).to_have_count(10)
    expect(page.get_by_role("dialog")).to_have_count(0)

"""One warm removal from a 237-member roster: ours against a minimal Playwright removal.

    .venv/bin/python benchmarks/deactivate_floor.py

Both start signed in (a saved session), launch Chromium, and remove the last member of the list:
- ours: `StitchConnector.deactivate([email])` with the CLI's defaults (the plan's full read, the
  row, the click, the banner, the fresh read that proves it: the row's page when that page
  proves it, else the whole list; screenshots, the trace of actions from the row lookup kept on
  failure, the audit trail);
- the floor: launch, open the list, read every page, click through the row on the last page,
  confirm, wait for the banner. Nothing checked, nothing proven. It takes each element's first
  alternative from selectors/stitch.toml, so both drive the same markup.

Issue 18 asks ours ≤ 1.3x the floor. Alternating runs, medians, one run; no test asserts on them.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, async_playwright

from connector import logs
from connector.browser import chromium_args, find_browser, save_session
from connector.client import StitchConnector
from connector.logs import new_run_id
from connector.operations import RunOptions
from connector.sandbox.options import SandboxOptions
from connector.sandbox.server import RunningSandbox, running_sandbox
from connector.selector_set import SelectorSet, default_selectors_path, load_selectors
from connector.settings import Settings
from connector.stitch.navigation import save_members_url

MEMBERS = 237
RUNS = 4


def first(scope: Page | Locator, selectors: SelectorSet, name: str) -> Locator:
    """The element by its first alternative in selectors/stitch.toml (css, else role and name)."""
    alternative = selectors.element(name).alternatives[0]  # type: ignore[arg-type]
    if alternative.css is not None:
        return scope.locator(alternative.css)
    assert alternative.role is not None, f"{name}: its first alternative is neither css nor role"
    return scope.get_by_role(alternative.role, name=alternative.name)  # type: ignore[arg-type]


async def floor(
    box: RunningSandbox, selectors: SelectorSet, executable: str | None, email: str
) -> float:
    started = time.perf_counter()
    async with async_playwright() as pw:
        browser: Browser = await pw.chromium.launch(
            executable_path=executable, args=chromium_args()
        )
        context = await browser.new_context(storage_state=box.signed_in_state())  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(box.members_url)
        rows = page.locator(", ".join(selectors.extract.row)).filter(has_text="@")
        following = page.locator(", ".join(selectors.extract.next_button))
        while True:  # read the roster: every page's rows
            await rows.first.wait_for()
            texts = await rows.all_inner_texts()
            if not await following.is_enabled():
                break
            await following.click()
            await page.wait_for_function(
                "([css, before]) => { const r = [...document.querySelectorAll(css)]"
                ".find((e) => e.innerText.includes('@')); return r && r.innerText !== before; }",
                arg=[", ".join(selectors.extract.row), texts[0]],
            )
        row = rows.filter(has_text=email)
        await first(row, selectors, "row_menu_button").click()
        await first(page, selectors, "menu_deactivate").click()
        dialog = first(page, selectors, "confirm_dialog")
        await first(dialog, selectors, "confirm_deactivate").click()
        await first(page, selectors, "banner_success").wait_for()
        await browser.close()
    return time.perf_counter() - started


async def ours(box: RunningSandbox, state: Path, email: str) -> float:
    settings = Settings(
        base_url=box.app_url,
        email=box.login_email,
        password=box.options.admin_password,
        state_dir=state,
    )
    save_session(settings, box.signed_in_state())
    save_members_url(settings, box.members_url, box.options.client_id)
    started = time.perf_counter()
    run = RunOptions(new_run_id(), trace="writes")  # as `stitch-connector deactivate` records
    async with StitchConnector(settings, run) as stitch:
        (outcome,) = await stitch.deactivate([email], actor="benchmark")
    assert outcome.status.value == "deactivated", outcome
    return time.perf_counter() - started


def last_active(box: RunningSandbox) -> str:
    """The list's last active General User: on its last page (the sandbox lists in this order)."""
    members: list[dict[str, object]] = box.state()["members"]  # type: ignore[assignment]
    plain = [
        m
        for m in members
        if m["status"] == "active" and m["role"] == "General User" and not m["invoice_admin"]
    ]
    return str(plain[-1]["email"])


async def main_async() -> int:
    logs.configure(run_id="bench-floor", level="warning")
    selectors = load_selectors(default_selectors_path())
    choice = find_browser(None, None)
    executable = str(choice.path) if choice.path else None
    options = SandboxOptions(members=MEMBERS, latency_ms=150, keep_deactivated=False)
    times: dict[str, list[float]] = {"ours": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(RUNS):  # alternating, each on a fresh roster of the same shape
            with running_sandbox(options) as box:
                times["floor"].append(await floor(box, selectors, executable, last_active(box)))
                assert len(box.state()["writes"]) == 1  # type: ignore[arg-type]
            with running_sandbox(options) as box:
                times["ours"].append(await ours(box, Path(tmp) / f"s{run}", last_active(box)))
    ours_s, floor_s = (statistics.median(times[k]) for k in ("ours", "floor"))
    print(f"one warm removal, {MEMBERS} members, median of {RUNS}:")
    print(f"  minimal Playwright removal: {floor_s:.2f} s  {[round(t, 2) for t in times['floor']]}")
    print(f"  stitch-connector:           {ours_s:.2f} s  {[round(t, 2) for t in times['ours']]}")
    print(f"  ratio: {ours_s / floor_s:.2f}x (issue 18 asks at most 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async()))

"""Shared by the sandbox's browser tests: one Chromium per module, a fresh tab per test.

Playwright's sync API on a module-scoped browser, not pytest-playwright's fixtures: those keep
a sync Playwright alive for the whole session, and then the connector's tests cannot call
asyncio.run().
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from connector.browser import chromium_args, find_browser
from connector.sandbox.options import Variant

CID = 116078


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        choice = find_browser(None, playwright.chromium.executable_path)
        browser = playwright.chromium.launch(
            executable_path=str(choice.path) if choice.path else None, args=chromium_args()
        )
        yield browser
        browser.close()


@pytest.fixture
def tab(chromium_browser: Any) -> Iterator[Any]:
    context = chromium_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:  # an alert() would mean injected script ran
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.dialogs = dialogs
    yield page
    context.close()


def members_path(variant: Variant) -> str:
    if variant == "legacy":
        return f"/v2/client/{CID}/settings/account"
    return f"/client/{CID}/pipeline/v2/settings/members"

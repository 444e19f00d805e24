"""Replay every recorded page through Playwright request routing (no server) and compare the
extraction with the expected JSON beside it, exactly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Route, async_playwright

from connector.browser import chromium_args, find_browser
from connector.recorder import APP_ORIGIN, LOGIN_ORIGIN
from connector.selector_set import load_selectors
from connector.stitch.members import MembersView, parse_page
from connector.stitch.pages import current_state

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PAGES = sorted(FIXTURES.glob("*/*/*.json"))
SEL = load_selectors()


class Replayer:
    """One browser for the whole module, driven from a private event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.browser: Browser = self.loop.run_until_complete(self._launch())

    async def _launch(self) -> Browser:
        self._pw = await async_playwright().start()
        choice = find_browser(None, self._pw.chromium.executable_path)
        return await self._pw.chromium.launch(
            executable_path=str(choice.path) if choice.path else None, args=chromium_args()
        )

    def run(self, html_file: Path, expected: dict[str, Any]) -> Any:
        return self.loop.run_until_complete(self._replay(html_file, expected))

    async def _replay(self, html_file: Path, expected: dict[str, Any]) -> Any:
        context = await self.browser.new_context()
        body = html_file.read_text(encoding="utf-8")

        async def serve(route: Route) -> None:
            if route.request.resource_type == "document":
                await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)
            else:
                await route.abort()  # stylesheets and the like: not needed to read a page

        await context.route("**/*", serve)
        try:
            page = await context.new_page()
            origin = LOGIN_ORIGIN if "signin-password" in html_file.name else APP_ORIGIN
            await page.goto(f"{origin}/replay/{html_file.stem}")
            if expected["kind"] == "signin":
                return await current_state(page, SEL, 5_000)
            view = MembersView(page, SEL)
            settled = await view.settled(None, 5_000)
            assert settled is not None and settled.state == "ready", settled
            raw = await view.read()
            return parse_page(raw, SEL, expected["login_email"]).model_dump(mode="json")
        finally:
            await context.close()

    def close(self) -> None:
        self.loop.run_until_complete(self.browser.close())
        self.loop.run_until_complete(self._pw.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def replayer() -> Iterator[Replayer]:
    r = Replayer()
    yield r
    r.close()


def test_fixtures_cover_every_variant_and_state() -> None:
    names = {(p.parts[-3], p.parts[-2], p.stem) for p in PAGES}
    for variant in ("current", "rbac2022", "legacy"):
        for scenario, label in [
            ("single", "signin-totp"),
            ("single", "members-p1"),
            ("multi", "members-p3"),
            ("only-self", "members-p1"),
            ("pending", "members-p1"),
            ("hostile", "members-p1"),
        ]:
            assert (variant, scenario, label) in names
        assert {(variant, "single", "signin-password")} <= names
    assert ("current", "single", "signin-email") in names  # two-step sign-in
    assert ("legacy", "single", "signin-email") not in names  # one form: email with password


@pytest.mark.browser  # the replayer is a Chromium
@pytest.mark.parametrize("expected_file", PAGES, ids=lambda p: "/".join(p.parts[-3:])[:-5])
def test_replayed_page_extracts_exactly_as_expected(
    replayer: Replayer, expected_file: Path
) -> None:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    got = replayer.run(expected_file.with_suffix(".html"), expected)
    if expected["kind"] == "signin":
        assert got == expected["state"]
    else:
        assert got == expected["page"]


def test_fixtures_hold_no_scripts() -> None:
    for page in FIXTURES.glob("*/*/*.html"):
        assert "<script" not in page.read_text(encoding="utf-8").lower().replace(
            "&lt;script", ""
        ), page

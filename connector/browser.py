"""The browser session: find Chromium, launch it, and own the context and its storage state.

Browser lookup order: an explicit setting, Playwright's own Chromium if installed, then the
system's.
The storage state (session cookies) is written with mode 0600 and never copied anywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route, async_playwright

from connector.errors import ConfigError
from connector.logs import get_logger
from connector.settings import Settings
from connector.tracing import PageLog

log = get_logger(__name__)

# Flags that make Chromium behave on a closed network, as root, without a GPU.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_BLOCKED_RESOURCES = frozenset({"image", "font", "media"})


@dataclass(frozen=True)
class BrowserChoice:
    path: Path | None  # None: Playwright's own build, found by Playwright itself
    source: str  # "setting" | "playwright" | "system"


def find_browser(explicit: Path | None, playwright_default: str | None) -> BrowserChoice:
    if explicit is not None:
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise ConfigError(
                f"STITCH_BROWSER_PATH: {explicit} is not an executable file",
                hint="Point it at a Chromium binary, e.g. /usr/bin/chromium, or unset it.",
            )
        return BrowserChoice(explicit, "setting")
    if playwright_default and Path(playwright_default).is_file():
        return BrowserChoice(None, "playwright")
    for name in _SYSTEM_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return BrowserChoice(Path(found), "system")
    raise ConfigError(
        "no Chromium browser found",
        hint=(
            "Install one (Debian/Ubuntu: sudo apt-get install chromium), "
            "or set STITCH_BROWSER_PATH to a Chromium binary."
        ),
    )


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable by the owner only (storage state holds session cookies).

    Written to a unique temporary file, then renamed: two runs never interleave one file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _identity(settings: Settings) -> dict[str, str | None]:
    return {"base_url": settings.base_url, "email": settings.email}


def usable_saved_session(settings: Settings, *, quiet: bool = False) -> Path | None:
    """The saved session, only if it belongs to this login on this Stitch, and parses."""
    state = settings.storage_state_path
    if not state.is_file():
        return None
    try:
        identity = json.loads(settings.session_identity_path.read_text("utf-8"))
        json.loads(state.read_text("utf-8"))
    except (OSError, ValueError):
        if not quiet:
            log.warning("session.discarded", reason="the saved session is unreadable")
        return None
    if identity != _identity(settings):
        if not quiet:
            log.info("session.discarded", reason="saved for another login or URL")
        return None
    return state


async def _block_heavy_resources(route: Route) -> None:
    if route.request.resource_type in _BLOCKED_RESOURCES:
        await route.abort()
    else:
        await route.fallback()


class BrowserSession:
    """One browser, one context, one page. Use as an async context manager."""

    def __init__(self, settings: Settings, *, reuse_session: bool = True) -> None:
        self.settings = settings
        self.reuse_session = reuse_session
        self._pw_manager: Any = None
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.choice: BrowserChoice | None = None
        self.page_log: PageLog | None = None

    async def __aenter__(self) -> BrowserSession:
        self._pw_manager = async_playwright()
        self._pw = await self._pw_manager.__aenter__()
        try:
            await self._start(self._pw)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _start(self, pw: Playwright) -> None:
        self.choice = find_browser(self.settings.browser_path, pw.chromium.executable_path)
        log.info("browser.launch", source=self.choice.source, path=str(self.choice.path or ""))
        devtools = ["--auto-open-devtools-for-tabs"] if self.settings.devtools else []
        self._browser = await pw.chromium.launch(
            executable_path=str(self.choice.path) if self.choice.path else None,
            headless=self.settings.headless and not self.settings.devtools,
            args=[*CHROMIUM_ARGS, *devtools],
            slow_mo=self.settings.slow_mo_ms,
        )
        saved = usable_saved_session(self.settings) if self.reuse_session else None
        self._context = await self._browser.new_context(
            storage_state=str(saved) if saved else None,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="UTC",
        )
        self._context.set_default_timeout(self.settings.timeout_ms)
        self._context.set_default_navigation_timeout(self.settings.timeout_ms)
        await self._context.route("**/*", _block_heavy_resources)
        self._page = await self._context.new_page()
        self.page_log = PageLog(self._page)
        log.info("browser.ready", reused_saved_login=saved is not None)

    @property
    def page(self) -> Page:
        assert self._page is not None, "BrowserSession used outside 'async with'"
        return self._page

    @property
    def context(self) -> BrowserContext:
        assert self._context is not None, "BrowserSession used outside 'async with'"
        return self._context

    async def save_storage_state(self) -> None:
        state = await self.context.storage_state()
        write_private_json(self.settings.storage_state_path, state)
        write_private_json(self.settings.session_identity_path, _identity(self.settings))

    async def __aexit__(self, *exc: object) -> None:
        for closer in (self._context, self._browser):
            if closer is not None:
                try:
                    await closer.close()
                except Exception as err:  # closing must not hide the real error
                    log.warning("browser.close_failed", error=str(err))
        self._context = self._browser = self._page = None
        if self._pw_manager is not None:
            await self._pw_manager.__aexit__(None, None, None)
            self._pw_manager = self._pw = None

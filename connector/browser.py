"""The browser session: find Chromium, launch it, and own the context and its storage state.

Browser lookup order: an explicit setting, Playwright's own Chromium if installed, then the
system's.
The storage state (session cookies) is written with mode 0600 and never copied anywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from connector import runner
from connector.errors import ConfigError, TransientFailure
from connector.logs import first_line, get_logger
from connector.private_files import write_private_json
from connector.settings import Settings, redacted_origin
from connector.tracing import PageLog

log = get_logger(__name__)

# Flags that make Chromium behave on a closed network without a GPU.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No images: what a run reads is text. A flag, not a request route: routing every request
    # through Playwright switches the HTTP cache off (each load fetched the app's code again).
    "--blink-settings=imagesEnabled=false",
)
_SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium's headless shell (Debian's chromium-headless-shell), what Playwright runs headless: no
# windowing layer, so a new context and page cost about a third of the full browser's CPU
# (benchmarks/headless_shell.py). It cannot show a window: a headed run takes the full browser.
_SYSTEM_HEADLESS_SHELLS = ("chromium-headless-shell",)


def chromium_args(sandbox: str = "auto", euid: int | None = None) -> list[str]:
    """CHROMIUM_ARGS, plus --no-sandbox only where Chromium's own sandbox cannot run.

    Chromium refuses to start its sandbox as root, so root gets --no-sandbox; any other user keeps
    the sandbox unless the setting says "off" (a platform that forbids the namespaces it needs).
    """
    uid = os.geteuid() if euid is None else euid
    off = sandbox == "off" or uid == 0
    return [*CHROMIUM_ARGS, *(["--no-sandbox"] if off else [])]


@dataclass(frozen=True)
class BrowserChoice:
    path: Path | None  # None: Playwright's own build, found by Playwright itself
    source: str  # "setting" | "playwright" | "system" | "remote"


def find_browser(
    explicit: Path | None, playwright_default: str | None, *, headless: bool = True
) -> BrowserChoice:
    """STITCH_BROWSER_PATH, else Playwright's own build, else the system's: for a headless run
    its headless shell first, then a full Chromium."""
    if explicit is not None:
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise ConfigError(
                f"STITCH_BROWSER_PATH: {explicit} is not an executable file",
                hint="Point it at a Chromium binary, e.g. /usr/bin/chromium, or unset it.",
            )
        return BrowserChoice(explicit, "setting")
    if playwright_default and Path(playwright_default).is_file():
        return BrowserChoice(None, "playwright")
    names = (*_SYSTEM_HEADLESS_SHELLS, *_SYSTEM_CHROMIUMS) if headless else _SYSTEM_CHROMIUMS
    for name in names:
        found = shutil.which(name)
        if found:
            return BrowserChoice(Path(found), "system")
    raise ConfigError(
        "no Chromium browser found" if headless else "no Chromium that can show a window found",
        hint=(
            "Install one (Debian/Ubuntu: sudo apt-get install chromium), "
            "or set STITCH_BROWSER_PATH to a Chromium binary."
        ),
    )


def _is_storage_state(data: Any) -> bool:
    """The shape Playwright writes and reads back: {"cookies": [...], "origins": [...]}."""
    if not isinstance(data, dict):
        return False
    cookies, origins = data.get("cookies", []), data.get("origins", [])
    if not isinstance(cookies, list) or not isinstance(origins, list):
        return False
    named = ("name", "value", "domain", "path")
    return all(
        isinstance(c, dict) and all(isinstance(c.get(k), str) for k in named) for c in cookies
    ) and all(
        isinstance(o, dict)
        and isinstance(o.get("origin"), str)
        and isinstance(o.get("localStorage", []), list)
        for o in origins
    )


def _identity(settings: Settings) -> dict[str, str | None]:
    return {"base_url": settings.base_url, "email": settings.email}


def save_session(settings: Settings, storage_state: object) -> None:
    """Keep a signed-in browser state for the next run, with whose login it is."""
    write_private_json(settings.storage_state_path, storage_state)
    write_private_json(settings.session_identity_path, _identity(settings))


def usable_saved_session(settings: Settings, *, quiet: bool = False) -> Path | None:
    """The saved session, only if it belongs to this login on this Stitch, and parses."""
    state = settings.storage_state_path
    if not state.is_file():
        return None
    try:
        identity = json.loads(settings.session_identity_path.read_text("utf-8"))
        if not _is_storage_state(json.loads(state.read_text("utf-8"))):
            raise ValueError("not a storage state")  # valid JSON of the wrong shape
    except (OSError, ValueError):
        if not quiet:
            log.warning("session.discarded", reason="the saved session is unreadable")
        return None
    if identity != _identity(settings):
        if not quiet:
            log.info("session.discarded", reason="saved for another login or URL")
        return None
    return state


class SharedBrowser:
    """One running Chromium that many BrowserSessions use in turn (the service's worker), so
    each run gets a fresh context without a new launch. Use as an async context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pw_manager: Any = None
        self._browser: Browser | None = None
        self.choice: BrowserChoice | None = None

    @property
    def browser(self) -> Browser:
        assert self._browser is not None, "SharedBrowser used outside 'async with'"
        return self._browser

    @property
    def connected(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def __aenter__(self) -> SharedBrowser:
        self._pw_manager = async_playwright()
        pw = await self._pw_manager.__aenter__()
        try:
            self._browser, self.choice = await _launch(pw, self.settings)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._browser is not None:
            try:
                await self._browser.close()
            except Exception as err:  # closing must not hide the real error
                log.warning("browser.close_failed", error=str(err))
            self._browser = None
        if self._pw_manager is not None:
            await self._pw_manager.__aexit__(None, None, None)
            self._pw_manager = None


async def _launch(pw: Playwright, settings: Settings) -> tuple[Browser, BrowserChoice]:
    if settings.remote_browser_url is not None:
        return await _connect(pw, settings, settings.remote_browser_url)
    headless = settings.headless and not settings.devtools
    choice = find_browser(settings.browser_path, pw.chromium.executable_path, headless=headless)
    log.info("browser.launch", source=choice.source, path=str(choice.path or ""), headless=headless)
    devtools = ["--auto-open-devtools-for-tabs"] if settings.devtools else []
    try:
        browser = await pw.chromium.launch(
            executable_path=str(choice.path) if choice.path else None,
            headless=headless,
            args=[*chromium_args(settings.browser_sandbox), *devtools],
            slow_mo=settings.slow_mo_ms,
        )
    except PlaywrightError as exc:
        if "sandbox" not in str(exc).lower():
            raise
        raise ConfigError(
            "Chromium cannot start its sandbox here",
            hint="Allow user namespaces for this container (seccomp/AppArmor), or, where the "
            "platform cannot, set STITCH_BROWSER_SANDBOX=off to run Chromium without it.",
        ) from None
    return browser, choice


async def _connect(pw: Playwright, settings: Settings, url: str) -> tuple[Browser, BrowserChoice]:
    """A remote browser: a Playwright browser server (chromium.connect) or a Chromium speaking
    CDP (connect_over_cdp). Each run still opens its own context and closes it; closing the
    Browser only disconnects. The URL may hold a token: only its origin is ever logged."""
    shown = redacted_origin(url)
    timeout = float(settings.timeout_ms)
    try:
        if settings.browser_ws_endpoint is not None:
            log.info("browser.connect", protocol="playwright", to=shown)
            browser = await pw.chromium.connect(
                url, timeout=timeout, slow_mo=settings.slow_mo_ms, headers=_launch_headers(settings)
            )
        else:
            log.info("browser.connect", protocol="cdp", to=shown)
            browser = await pw.chromium.connect_over_cdp(
                url, timeout=timeout, slow_mo=settings.slow_mo_ms
            )
    except PlaywrightError as exc:
        why = first_line(str(exc)).replace(url, shown)
        raise TransientFailure(
            f"the remote browser at {shown} did not answer: {why}",
            hint="Check that the browser server runs and STITCH_BROWSER_WS_ENDPOINT / "
            "STITCH_BROWSER_CDP_URL (or its _FILE) names it; nothing was changed.",
        ) from None
    return browser, BrowserChoice(source="remote", path=None)


def _launch_headers(settings: Settings) -> dict[str, str]:
    """A browser server launches Chromium itself; STITCH_BROWSER_PATH names the binary on its
    side (a `playwright run-server --unsafe` server accepts it), else it uses its own."""
    if settings.browser_path is None:
        return {}
    options = {
        "executablePath": str(settings.browser_path),
        "headless": settings.headless and not settings.devtools,
        "args": chromium_args(settings.browser_sandbox),
    }
    return {"x-playwright-launch-options": json.dumps(options)}


def launch_key(settings: Settings) -> tuple[object, ...]:
    """What makes two launches the same browser: a headed, slowed or devtools run never borrows
    a headless one, nor one of another binary or without Chromium's sandbox, nor a remote one."""
    return (
        settings.remote_browser_url,
        settings.browser_path,
        settings.headless and not settings.devtools,
        settings.devtools,
        settings.slow_mo_ms,
        settings.browser_sandbox,
    )


async def borrowed(settings: Settings) -> SharedBrowser | None:
    """The running Chromium `runner.reusing()` keeps for these launch settings (launched on
    first use, again if it died); None outside it."""
    reuse = runner.current()
    if reuse is None:
        return None

    async def launch() -> SharedBrowser:
        return await SharedBrowser(settings).__aenter__()

    async def close(shared: SharedBrowser) -> None:
        await shared.__aexit__()

    return await reuse.kept(
        ("chromium", *launch_key(settings)), launch, lambda b: b.connected, close
    )


class BrowserSession:
    """One browser context and its page. Use as an async context manager.

    It uses the SharedBrowser it is given, else the one `runner.reusing()` lends, else launches
    its own; a browser it did not launch it leaves running.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        reuse_session: bool = True,
        shared: SharedBrowser | None = None,
    ) -> None:
        self.settings = settings
        self.reuse_session = reuse_session
        self._shared = shared
        self._pw_manager: Any = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.choice: BrowserChoice | None = None
        self.page_log: PageLog | None = None

    async def __aenter__(self) -> BrowserSession:
        try:
            shared = self._shared or await borrowed(self.settings)
            if shared is not None:
                self.choice = shared.choice
                await self._open_context(shared.browser)
            else:
                self._pw_manager = async_playwright()
                pw = await self._pw_manager.__aenter__()
                self._browser, self.choice = await _launch(pw, self.settings)
                await self._open_context(self._browser)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _open_context(self, browser: Browser) -> None:
        saved = usable_saved_session(self.settings) if self.reuse_session else None
        self._context = await browser.new_context(
            storage_state=str(saved) if saved else None,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="UTC",
        )
        self._context.set_default_timeout(self.settings.timeout_ms)
        self._context.set_default_navigation_timeout(self.settings.timeout_ms)
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
        save_session(self.settings, await self.context.storage_state())

    async def __aexit__(self, *exc: object) -> None:
        # A browser of our own closes its contexts with it; a shared one keeps running.
        closers = (self._context,) if self._browser is None else (self._browser,)
        for closer in closers:
            if closer is not None:
                try:
                    await closer.close()
                except Exception as err:  # closing must not hide the real error
                    log.warning("browser.close_failed", error=str(err))
        self._context = self._browser = self._page = None
        if self._pw_manager is not None:
            await self._pw_manager.__aexit__(None, None, None)
            self._pw_manager = None

"""Getting around the app: load a URL (with retries), make sure we are signed in, reach Members.

Members are reached by the UI's own navigation (user menu → settings → Members tab or the Team
Members section), with a direct-URL fast path remembered from the last successful visit. A listed
interruption over an app page (a cookie banner, a "what's new" modal) is dismissed the safe way
first; one over a sign-in page is left to the sign-in, which runs with tracing paused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector.errors import PageNotRecognised, SessionExpired, TransientFailure
from connector.logs import first_line, get_logger
from connector.models import Account
from connector.private_files import write_private_json
from connector.retry import Retryable, retrying
from connector.selector_set import ElementName
from connector.settings import Settings
from connector.stitch.context import PageContext
from connector.stitch.locate import Match, resolve, union
from connector.stitch.pages import (
    ALL_STATES,
    Interruptions,
    PageState,
    Seen,
    current_state,
    find_interruption,
    look,
    nothing_seen,
)
from connector.stitch.signin import Observer, SignIn
from connector.tracing import Tracer

log = get_logger(__name__)

_SIGNIN_STATES: frozenset[PageState] = frozenset({"sso", "totp", "password", "email"})
_APP_STATES: frozenset[PageState] = frozenset({"members", "app"})
_BENEATH: tuple[PageState, ...] = tuple(s for s in ALL_STATES if s != "interruption")
_BENEATH_MS = 1_000.0  # what an interruption covers is already on the page: a short look


class Navigator:
    def __init__(
        self,
        ctx: PageContext,
        on_signed_in: Callable[[], Awaitable[None]],
        observer: Observer | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.page = ctx.page
        self.selectors = ctx.selectors
        self.settings = ctx.settings
        self.artifacts = ctx.artifacts
        self._on_signed_in = on_signed_in
        self.observer = observer
        self.tracer = tracer
        self.clicked: list[Match] = []
        self.may_sign_in = True  # False: a read beside the page never signs in (StitchUI)
        self._interruptions = self._new_interruptions()

    async def goto(self, url: str) -> None:
        """Load a URL; retry navigation timeouts and 5xx answers, nothing else."""
        try:
            async for attempt in retrying(self.settings.retries, f"load {url.split('?')[0]}"):
                with attempt:
                    try:
                        response = await self.page.goto(url, wait_until="domcontentloaded")
                    except PlaywrightTimeout as exc:
                        raise Retryable(
                            f"navigation timed out: {first_line(exc.message)}"
                        ) from None
                    except PlaywrightError as exc:  # refused, reset, DNS: nothing reached Stitch
                        raise Retryable(first_line(exc.message)) from None
                    if response is not None and response.status >= 500:
                        raise Retryable(f"HTTP {response.status} from {url.split('?')[0]}")
        except Retryable as exc:
            raise TransientFailure(f"could not load {url.split('?')[0]}: {exc}") from None

    async def sign_in_if_asked(self) -> PageState:
        """Look at the current page; if it is a sign-in step, sign in. Returns the landing state.

        A listed interruption over an app page is dismissed; one over a sign-in step (or over a
        page of its own, like a "Stay signed in?" interstitial) is the sign-in's to handle."""
        self._interruptions = self._new_interruptions()
        signed_in = False
        while True:
            seen = await look(self.page, self.selectors, self.settings.timeout_ms)
            state = seen.state
            if state == "interruption":
                beneath = await current_state(
                    self.page, self.selectors, min(_BENEATH_MS, self.settings.timeout_ms), _BENEATH
                )
                if beneath in _APP_STATES:
                    await self._dismiss(seen)
                    continue
                state = beneath or "interruption"
            if state in _SIGNIN_STATES or (state == "interruption" and not signed_in):
                if signed_in:
                    return state  # still a sign-in step: the caller finds no app page
                log.info("session.signin_needed")
                if not self.may_sign_in:
                    raise SessionExpired("the session ended: this read does not sign in")
                await self.sign_in()
                signed_in = True
                continue
            if state is None or state == "interruption":
                element, message = nothing_seen(self.page.url.split("?", 1)[0])
                raise await self.not_recognised(
                    f"neither a sign-in step nor an app page appeared: {message}", element
                )
            return state

    async def sign_in(self) -> None:
        signin = SignIn(self.page, self.selectors, self.settings, self.artifacts, self.observer)
        if self.tracer is None:
            await signin.run()
        else:
            async with self.tracer.paused():  # secrets are typed with the trace stopped
                await signin.run()
        await self._on_signed_in()

    async def open_members(self, cached_url: str | None) -> None:
        """End on the member list, signed in, with no listed interruption over it."""
        if cached_url:
            await self.goto(cached_url)
            if await self.sign_in_if_asked() == "members":
                return
            log.info("members.fast_path_missed", url=cached_url)
        else:
            await self.goto(self.settings.base_url + "/")
            if await self.sign_in_if_asked() == "members":
                return
        await self._click("app_user_menu")
        await self._click("app_settings_item")
        state = await self._app_state(("members", "app"))
        if state != "members":
            tab = await resolve(self.page, self.selectors, "settings_members_tab")
            if tab is None:
                # Wait for the settings page itself: the tab may still be rendering.
                await self._wait_visible("settings_members_tab")
            await self._click("settings_members_tab")
            state = await self._app_state(("members",))
        else:
            await self._clear_interruptions()  # the list's own buttons must be clickable
        if state != "members":
            raise await self.not_recognised("the member list did not appear", "members_container")

    def account_from_url(self) -> int | None:
        match = re.search(self.selectors.app.client_id_url_pattern, self.page.url)
        return int(match.group(1)) if match else None

    async def account(self) -> Account:
        client_id = self.account_from_url()
        meta = self.page.locator(self.selectors.app.client_id_meta)
        if client_id is None and await meta.count():
            content = (await meta.first.get_attribute("content")) or ""
            client_id = int(content) if content.isdigit() else None
        if client_id is None:
            raise await self.not_recognised("no account (client) id in the URL or the page")
        company = None
        for css in self.selectors.app.company_name:
            loc = self.page.locator(css)
            if await loc.count():
                text = " ".join(((await loc.first.text_content()) or "").split())
                match = re.search(self.selectors.app.company_name_pattern, text)
                company = match.group(1) if match else None
                break
        return Account(client_id=client_id, company_name=company)

    async def _click(self, name: ElementName) -> None:
        await self._clear_interruptions()
        match = await resolve(self.page, self.selectors, name)
        if match is None:
            await self._wait_visible(name)
            await self._clear_interruptions()
            match = await resolve(self.page, self.selectors, name)
        if match is None:
            raise await self.not_recognised(f"'{name}' not found", name)
        log.debug("ui.click", element=name, matched=match.alternative.describe())
        self.clicked.append(match)  # what `doctor` reports as found
        if not await self._interruptions.make_way(match.locator):
            raise await self.not_recognised(
                f"'{name}' could not be clicked: something the selectors do not list (an unknown "
                "overlay?) covers it; nothing was clicked",
                name,
            )
        await match.locator.click()

    # ---------------------------------------------------------------- interruptions
    def _new_interruptions(self) -> Interruptions:
        return Interruptions(
            self.page, self.selectors, "app", self.settings.timeout_ms, self.not_recognised
        )

    async def _dismiss(self, seen: Seen) -> None:
        name = seen.interruption
        assert name is not None
        if "app" not in self.selectors.interruptions[name].where:
            raise await self.not_recognised(
                f"the {name} interruption showed over an app page, where it is not expected: "
                "nothing was clicked",
                f"interruptions.{name}",
            )
        await self._interruptions.dismiss(seen)

    async def _clear_interruptions(self) -> None:
        """Dismiss any listed app interruption showing now (no waiting: it is already there or
        the next look sees it)."""
        while (seen := await find_interruption(self.page, self.selectors, "app")) is not None:
            await self._interruptions.dismiss(seen)  # bounded: raises when one keeps coming back

    async def _app_state(self, among: tuple[PageState, ...]) -> PageState | None:
        """current_state among these app states, dismissing app interruptions on the way."""
        while True:
            seen = await look(
                self.page,
                self.selectors,
                self.settings.timeout_ms,
                among=("interruption", *among),
                where="app",
            )
            if seen.state != "interruption":
                return seen.state
            await self._interruptions.dismiss(seen)

    async def _wait_visible(self, name: ElementName) -> None:
        try:
            await union(self.page, self.selectors.element(name)).first.wait_for(
                state="visible", timeout=self.settings.timeout_ms
            )
        except PlaywrightTimeout:
            raise await self.not_recognised(f"'{name}' did not appear", name) from None

    async def not_recognised(self, message: str, element: str | None = None) -> PageNotRecognised:
        files = await self.artifacts.capture(self.page, element or "page-not-recognised")
        return PageNotRecognised(
            message, element=element, url=self.page.url.split("?", 1)[0], artifacts=files
        )

    def remembered_members_url(self) -> str | None:
        """The members URL a previous run reached, for this Stitch only: the fast path."""
        try:
            data = json.loads(self.settings.account_cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("base_url") != self.settings.base_url:
            return None
        url = data.get("members_url")
        if not isinstance(url, str):
            return None
        parts = urlsplit(url)
        return url if f"{parts.scheme}://{parts.netloc}" == self.settings.origin else None

    def remember_members_url(self, account: Account) -> None:
        save_members_url(self.settings, self.page.url.split("?", 1)[0], account.client_id)


def save_members_url(settings: Settings, url: str, client_id: int) -> None:
    """Where the member list was, for the next run on this Stitch to go straight there."""
    write_private_json(
        settings.account_cache_path,
        {"base_url": settings.base_url, "client_id": client_id, "members_url": url},
    )

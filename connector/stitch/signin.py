"""Sign-in: identifier first on the app, then password (and maybe a TOTP code) on the login origin.

Rules that keep accounts safe:
- each step is submitted at most once per sign-in: a step that comes back means it was rejected,
  so a wrong password is never retried (the lockout counts failures);
- an SSO redirect is reported at once as needing a human; waiting for it would only time out;
- secrets are typed with tracing off (tracing, when on, starts after sign-in);
- a listed interruption (cookie banner, "Stay signed in?") is dismissed the safe way, each a few
  times at most; anything else covering the form stops the run before anything is clicked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pyotp
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from connector import clock
from connector.artifacts import RunArtifacts
from connector.errors import AuthFailed, HumanNeeded, PageNotRecognised
from connector.logs import get_logger
from connector.selector_set import ElementName, SelectorSet
from connector.settings import Settings
from connector.stitch.locate import resolve
from connector.stitch.pages import Interruptions, PageState, look, nothing_seen

log = get_logger(__name__)

# Called with a label and the page whenever the connector reads a page (the fixture recorder).
Observer = Callable[[str, Page], Awaitable[None]]

_MAX_STEPS = 6  # email, password, code, and the landing page, with room to spare
_SIGNED_IN: tuple[PageState, ...] = ("members", "app")


class SpentTotpWindow:
    """The last TOTP time window a code was sent from, kept in the state dir (not a secret)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def last(self) -> int | None:
        try:
            return int(self.path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def record(self, window: int) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(str(window))


async def fresh_totp_code(secret: str, spent: SpentTotpWindow) -> str:
    """A TOTP code from a 30-second window no earlier run has used: servers refuse a replay
    (RFC 6238 §5.2), and two runs a few seconds apart would otherwise send the same code."""
    totp = pyotp.TOTP(secret)
    wall = clock.current()  # the system's; a test's TestClock lets the time pass at once
    now = wall.time()
    last = spent.last()
    if last is not None and int(now // totp.interval) <= last:
        wait_s = (last + 1) * totp.interval - now + 0.05
        if wait_s > totp.interval * 2:  # a clock step backwards: do not wait for minutes
            wait_s = 0.0
        log.info("signin.totp_wait", seconds=round(wait_s, 1))
        await wall.sleep(wait_s)  # the protocol is clock-based: wait for the next window
        now = wall.time()
    spent.record(int(now // totp.interval))
    return str(totp.at(int(now)))


class SignIn:
    def __init__(
        self,
        page: Page,
        selectors: SelectorSet,
        settings: Settings,
        artifacts: RunArtifacts,
        observer: Observer | None = None,
    ) -> None:
        self.page = page
        self.selectors = selectors
        self.settings = settings
        self.artifacts = artifacts
        self.observer = observer
        self.spent = SpentTotpWindow(settings.state_dir / "totp-last-window")
        # Each listed interruption is dismissed at most a few times per sign-in (per SignIn).
        self.interruptions = Interruptions(
            page, selectors, "signin", settings.timeout_ms, self._fail
        )

    async def run(self) -> None:
        """From a sign-in page to a signed-in app page, or a typed error."""
        email, password = self.settings.require_credentials()
        submitted: set[PageState] = set()
        steps = 0
        while steps < _MAX_STEPS:  # dismissals are not steps: Interruptions bounds those
            seen = await look(self.page, self.selectors, self.settings.timeout_ms, where="signin")
            state = seen.state
            if state is None:
                element, message = nothing_seen(self._safe_url())
                raise await self._not_recognised(message, element=element)
            if state == "interruption":
                await self.interruptions.dismiss(seen)
                continue
            steps += 1
            if state in _SIGNED_IN:
                log.info("signin.done", url=self._safe_url())
                return
            if state == "sso":
                raise HumanNeeded(
                    f"{email} is sent to single sign-on; a machine cannot complete it",
                    hint=(
                        "Use an Administrator with a Stitch password (they keep password login "
                        "under SSO), or sign in by hand and reuse the saved session."
                    ),
                )
            if state in submitted:
                raise await self._rejected(state)
            log.info("signin.step", step=state)
            if self.observer is not None:  # before typing: nothing secret is on the page yet
                await self.observer(f"signin-{state}", self.page)
            if state == "email":
                field = await self._need("signin_email")
                await field.fill(email)
                await self._submit(field, "signin_continue")
            elif state == "password":
                # One-form sign-in shows the email and the password together. Step 2 on the login
                # origin shows the email again, read-only: nothing is typed into that one.
                legacy_email = await resolve(self.page, self.selectors, "signin_email")
                if legacy_email is not None and await legacy_email.locator.is_editable():
                    await self._uncovered(legacy_email.locator, "signin_email")
                    await legacy_email.locator.fill(email)
                field = await self._need("signin_password")
                await field.fill(password.get_secret_value())
                await self._submit(field, "signin_password_submit")
            else:  # totp
                if self.settings.totp_secret is None:
                    raise HumanNeeded(
                        "Stitch asks for a 6-digit code and no TOTP secret is set",
                        hint="Set STITCH_TOTP_SECRET (or _FILE) to the authenticator's seed.",
                    )
                field = await self._need("signin_totp")
                code = await fresh_totp_code(
                    self.settings.totp_secret.get_secret_value(), self.spent
                )
                await field.fill(code)
                await self._submit(field, "signin_totp_submit")
            submitted.add(state)
        raise await self._not_recognised("sign-in did not finish within the expected steps")

    async def _need(self, name: ElementName) -> Locator:
        """The element, visible and not covered by anything (an overlay nobody listed)."""
        match = await resolve(self.page, self.selectors, name)
        if match is None:
            raise await self._not_recognised(f"'{name}' not found", element=name)
        await self._uncovered(match.locator, name)
        return match.locator

    async def _uncovered(self, locator: Locator, name: ElementName) -> None:
        """A trial click: every check a click makes (is it the element that would get the click?),
        without clicking. A listed interruption in the way is dismissed; nothing is typed or
        clicked under something the selectors do not know."""
        if not await self.interruptions.make_way(locator):
            raise await self._covered(name, "nothing was typed or clicked")

    async def _covered(self, name: ElementName, what_happened: str) -> PageNotRecognised:
        return await self._not_recognised(
            f"'{name}' is covered by something the selectors do not list (an unknown "
            f"overlay?): {what_happened}",
            element=name,
        )

    async def _fail(self, message: str, element: str) -> PageNotRecognised:
        return await self._not_recognised(message, element=element)

    async def _submit(self, field: Locator, button: ElementName) -> None:
        handle = await field.element_handle()
        # An interruption may come back between the trial click and this one: dismiss, retry.
        if not await self.interruptions.click(await self._need(button)):
            raise await self._covered(button, "nothing was clicked")
        if handle is None:
            return
        try:
            # The step is over when the field we filled is gone (navigation or re-render).
            await handle.wait_for_element_state("hidden", timeout=self.settings.timeout_ms)
        except PlaywrightTimeout:
            pass  # it stayed: the next look sees the same step again and reports the rejection
        except PlaywrightError:
            pass  # detached or its page navigated away: the step is over
        finally:
            with contextlib.suppress(PlaywrightError):
                await handle.dispose()

    async def _rejected(self, state: PageState) -> AuthFailed:
        error = await resolve(self.page, self.selectors, "signin_error")
        text = " ".join(((await error.locator.text_content()) or "").split()) if error else ""
        if any(p.lower() in text.lower() for p in self.selectors.signin.lockout_patterns):
            return AuthFailed(
                f"Stitch locked this login: {text}",
                hint="Wait for the lockout to end, then check the password before running again.",
            )
        what = {"email": "email address", "password": "password", "totp": "6-digit code"}
        detail = f": {text}" if text else ""
        return AuthFailed(f"Stitch rejected the {what.get(state, state)}{detail}")

    async def _not_recognised(
        self, message: str, *, element: str | None = None
    ) -> PageNotRecognised:
        files = await self.artifacts.capture(self.page, "signin-not-recognised")
        return PageNotRecognised(
            f"sign-in page not recognised: {message}",
            element=element,
            url=self._safe_url(),
            artifacts=files,
        )

    def _safe_url(self) -> str:
        # Query strings on sign-in pages carry one-time codes and state: keep them out of logs.
        return self.page.url.split("?", 1)[0]

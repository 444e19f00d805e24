"""Sign-in when Stitch changes it: ids renamed, buttons relabelled, and things in the way
(a cookie-consent dialog, a "Stay signed in?" page, a "what's new" announcement).

Listed interruptions are dismissed the safe way; anything else covering a page stops the run
with PageNotRecognised before anything in it is clicked.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, Route

from connector import runner
from connector.client import StitchConnector
from connector.errors import PageNotRecognised
from connector.logs import new_run_id
from connector.models import MemberList, Progress
from connector.operations import RunOptions
from connector.selector_set import load_selectors
from connector.settings import Settings
from connector.stitch.locate import resolve
from connector.stitch.pages import current_state
from tests.conftest import MakeSandbox, events, settings_for
from tests.e2e.test_members import assert_matches_truth, scrape

pytestmark = pytest.mark.e2e

ContextHook = Callable[[BrowserContext], Awaitable[None]]

# (mutation, variant): where each applies. Legacy signs in on one form on the app origin.
CASES = [
    ("signin-cookie-consent", "current"),
    ("signin-cookie-consent", "legacy"),
    ("signin-stay-signed-in", "current"),
    ("signin-stay-signed-in", "rbac2022"),
    ("signin-stay-signed-in", "legacy"),
    ("app-whats-new", "current"),
    ("app-whats-new", "legacy"),
    ("signin-ids-renamed", "current"),
    ("signin-ids-renamed", "legacy"),
    ("signin-button-relabelled", "current"),
    ("signin-button-relabelled", "legacy"),
]
DISMISSED = {  # the interruption each mutation shows, and where
    "signin-cookie-consent": ("signin", "cookie_consent"),
    "signin-stay-signed-in": ("signin", "stay_signed_in"),
    "app-whats-new": ("app", "announcement"),
}


def run(
    settings: Settings,
    hook: ContextHook | None = None,
    observer: Callable[[str, Page], Awaitable[None]] | None = None,
) -> MemberList:
    async def go() -> MemberList:
        async with StitchConnector(settings, observer=observer) as stitch:
            if hook is not None:
                await hook(stitch._session.context)
            return await stitch.list_members()

    return runner.run(go)


def cookies(settings: Settings) -> dict[str, dict[str, Any]]:
    state = json.loads(settings.storage_state_path.read_text(encoding="utf-8"))
    return {c["name"]: c for c in state["cookies"]}


@pytest.mark.parametrize(("mutation", "variant"), CASES)
def test_signin_survives_drift(
    make_sandbox: MakeSandbox,
    tmp_path: Path,
    log_capture: io.StringIO,
    mutation: str,
    variant: str,
) -> None:
    box = make_sandbox(
        variant=variant, members=14, mfa="totp", latency_ms=10, mutations=(mutation,)
    )
    settings = settings_for(box, tmp_path)
    assert_matches_truth(run(settings), box)

    lines = events(log_capture)
    dismissed = [(e["event"], e["interruption"]) for e in lines if "interruption" in e]
    if mutation in DISMISSED:
        where, name = DISMISSED[mutation]
        # Once, by name; the cookie choice is per origin, and current signs in on two.
        times = 2 if (mutation, variant) == ("signin-cookie-consent", "current") else 1
        assert dismissed == [(f"{where}.interruption_dismissed", name)] * times
    else:
        assert dismissed == []
    text = log_capture.getvalue()
    assert box.options.admin_password not in text  # nothing typed is logged
    assert box.login_email not in text
    jar = cookies(settings)
    if mutation == "signin-stay-signed-in":  # "No": the session ends with the browser
        session = [c for n, c in jar.items() if n == "stitch_session"]
        assert session and all(c["expires"] == -1 for c in session)
    if mutation == "signin-cookie-consent":  # the optional cookies were refused
        consent = [c["value"] for n, c in jar.items() if n == "st_cookie_consent"]
        assert consent and all("accept" not in v for v in consent), consent


def test_session_ending_mid_read_is_seen_with_ids_renamed(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    """The in-page check for "we were signed out" finds the renamed sign-in form by its
    autocomplete attribute (the app-origin step has no id it knows any more)."""
    box = make_sandbox(
        variant="current", members=120, latency_ms=10, mutations=("signin-ids-renamed",)
    )

    def expire_after_page_1(event: Progress) -> None:
        if event.step == "page" and event.page == 1:
            box.expire_sessions()

    async def go() -> MemberList:
        async with StitchConnector(
            settings_for(box, tmp_path),
            RunOptions(run_id=new_run_id(), on_progress=expire_after_page_1),
        ) as s:
            return await s.list_members()

    roster = runner.run(go)
    assert_matches_truth(roster, box)
    assert roster.pages == 3
    lines = events(log_capture)
    assert [e["event"] for e in lines].count("signin.done") == 2
    assert "session.expired_mid_run" in [e["event"] for e in lines]


def test_password_step_is_not_taken_for_the_email_step(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """Step 2 shows the email again, read-only and labelled "Email": the generic signin_email
    alternatives find it, yet the page is the password step and nothing is typed into it."""
    box = make_sandbox(
        variant="current", members=5, latency_ms=10, mutations=("signin-ids-renamed",)
    )
    selectors = load_selectors()
    seen: list[tuple[str, str | None, str | None, bool]] = []

    async def observe(label: str, page: Page) -> None:
        if label == "signin-password":
            email = await resolve(page, selectors, "signin_email")
            assert email is not None
            seen.append(
                (
                    label,
                    await current_state(page, selectors, 2_000),
                    email.alternative.describe(),
                    await email.locator.is_editable(),
                )
            )

    assert_matches_truth(run(settings_for(box, tmp_path), observer=observe), box)
    assert seen == [("signin-password", "password", "label='Email'", False)]


UNKNOWN_OVERLAY_JS = """
(() => {
  const onApp = () => !!document.querySelector('[aria-label="User menu"]');
  const add = () => {
    if (WHERE === "app" ? !onApp() : onApp()) return;
    const box = document.createElement("div");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "Upgrade your plan");
    box.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.6)";
    box.innerHTML = "<h2>Upgrade your plan</h2>" +
      "<button type=button>Accept all</button><button type=button>Reject all</button>" +
      "<button type=button>No</button><button type=button aria-label=Close>x</button>";
    box.addEventListener("click", (e) => window.overlayClicked(e.target.textContent), true);
    document.body.appendChild(box);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", add);
  else add();
})();
"""


@pytest.mark.parametrize(
    ("where", "variant", "element"),
    [
        ("signin", "current", "signin_email"),
        ("signin", "legacy", "signin_email"),
        ("app", "current", "app_user_menu"),
    ],
)
def test_unknown_overlay_is_loud_and_never_clicked(
    make_sandbox: MakeSandbox, tmp_path: Path, where: str, variant: str, element: str
) -> None:
    box = make_sandbox(variant=variant, members=5, latency_ms=10)
    settings = settings_for(box, tmp_path, timeout_ms=3_000)
    clicks: list[str] = []

    async def hook(context: BrowserContext) -> None:
        await context.expose_binding("overlayClicked", lambda _source, text: clicks.append(text))
        await context.add_init_script(UNKNOWN_OVERLAY_JS.replace("WHERE", json.dumps(where)))

    with pytest.raises(PageNotRecognised) as caught:
        run(settings, hook)
    assert caught.value.element == element
    assert "covers it" in str(caught.value) or "covered by" in str(caught.value)
    assert clicks == []  # not even the safe-looking "Reject all", "No" or Close
    state = box.state()
    assert state["writes"] == []  # type: ignore[index]


STUBBORN_CONSENT_JS = """
(() => {
  const add = () => {
    if (document.querySelector('[aria-label="User menu"]')) return;
    const box = document.createElement("div");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Cookie consent");
    box.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:#fff";
    box.innerHTML = "<button type=button>Accept all</button>" +
      "<button type=button>Reject all</button>";
    box.addEventListener("click", (e) => {
      window.overlayClicked(e.target.textContent);
      box.remove();
      setTimeout(add, 50);  // and back it comes
    }, true);
    document.body.appendChild(box);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", add);
  else add();
})();
"""


def test_an_interruption_that_keeps_coming_back_is_loud(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(variant="current", members=5, latency_ms=10)
    settings = settings_for(box, tmp_path, timeout_ms=3_000)
    clicks: list[str] = []

    async def hook(context: BrowserContext) -> None:
        await context.expose_binding("overlayClicked", lambda _source, text: clicks.append(text))
        await context.add_init_script(STUBBORN_CONSENT_JS)

    with pytest.raises(PageNotRecognised, match="came back after 3 dismissals") as caught:
        run(settings, hook)
    assert caught.value.element == "interruptions.cookie_consent"
    assert clicks == ["Reject all"] * 3  # the safe choice, a bounded number of times


def test_nothing_recognised_names_the_signin_elements(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    box = make_sandbox(variant="current", members=5, latency_ms=10)
    settings = settings_for(box, tmp_path, timeout_ms=2_000)

    async def maintenance(route: Route) -> None:
        await route.fulfill(content_type="text/html", body="<h1>Down for maintenance</h1>")

    async def hook(context: BrowserContext) -> None:
        await context.route("**/session/create*", maintenance)

    with pytest.raises(PageNotRecognised) as caught:
        run(settings, hook)
    assert caught.value.element == "signin_email (and 3 others)"
    message = str(caught.value)
    assert f"signin_email (and 3 others) not found on {box.app_url}/session/create " in message
    assert "signin_password, signin_totp, sso_marker" in message
    assert "?" not in message.split(" not found on ", 1)[1].split(" ")[0]  # no query string


def traced_actions(trace: Path) -> list[tuple[str, str]]:
    """(method, selector) of every action a trace recorded."""
    with zipfile.ZipFile(trace) as z:
        lines = z.read("trace.trace").decode("utf-8", "replace").splitlines()
    actions = []
    for line in lines:
        event = json.loads(line)
        if event.get("type") == "before":
            actions.append((event["method"], str(event.get("params", {}).get("selector", ""))))
    return actions


def test_interruptions_are_handled_with_the_trace_paused(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    box = make_sandbox(
        variant="current", members=5, latency_ms=10, mutations=("signin-stay-signed-in",)
    )
    settings = settings_for(box, tmp_path / "state", trace="on")

    async def go() -> str:
        async with StitchConnector(settings) as stitch:
            await stitch.list_members()
            box.expire_sessions()  # a second sign-in, with its "Stay signed in?", mid-run
            await stitch.list_members()
            return stitch.run_id

    run_id = runner.run(go)
    dismissed = [e["interruption"] for e in events(log_capture) if "interruption" in e]
    assert dismissed == ["stay_signed_in", "stay_signed_in"]  # once per sign-in
    traces = sorted((settings.runs_dir / run_id).glob("trace-*.zip"))
    assert len(traces) == 2, traces  # the second sign-in paused the trace
    for trace in traces:
        actions = traced_actions(trace)
        assert actions  # the trace did record the reading
        assert not [a for a in actions if a[0] in ("fill", "type", "press")]  # nothing typed
        answered = [a for a in actions if a[0] == "click" and re.search(r'name=\\*"No', a[1])]
        assert answered == []  # the "No" was clicked with the trace paused
        with zipfile.ZipFile(trace) as z:
            for name in z.namelist():
                assert box.options.admin_password.encode() not in z.read(name)


# A consent dialog in wording no exact entry lists: recognised by its title's meaning, and
# answered by the button that declines.
PRIVACY_CHOICES = """
window.StitchMutations.register("privacy-choices", {
  signin(ctx) {
    const doc = ctx.document;
    const cover = "position:fixed;inset:0;background:rgba(0,0,0,.4);z-index:9999";
    const back = ctx.el("div", { style: cover });
    const box = ctx.el("div", {
      role: "dialog", "aria-modal": "true", "aria-labelledby": "pc-title",
      style: "background:#fff;margin:10% auto;padding:1em;width:24em",
    });
    box.appendChild(ctx.el("h2", { id: "pc-title" }, "Your privacy choices"));
    box.appendChild(ctx.el("p", null, "We use cookies to improve Stitch."));
    const allow = ctx.el("button", { type: "button" }, "Allow all");
    const reject = ctx.el("button", { type: "button" }, "Reject optional");
    // Accepting wipes the page, so a run that clicked it could not sign in: the test proves
    // the connector declined.
    allow.addEventListener("click", () => { doc.body.textContent = "tracking on"; });
    reject.addEventListener("click", () => { back.remove(); });
    box.appendChild(allow);
    box.appendChild(reject);
    back.appendChild(box);
    doc.body.appendChild(back);
  }
});
"""


def test_an_unlisted_consent_wording_is_recognised_by_meaning_and_declined(
    make_sandbox: MakeSandbox, tmp_path: Path, log_capture: io.StringIO
) -> None:
    release = tmp_path / "release.js"
    release.write_text(PRIVACY_CHOICES, encoding="utf-8")
    box = make_sandbox(variant="current", members=12, latency_ms=10, mutation_script=release)
    roster = scrape(settings_for(box, tmp_path / "state"))
    assert_matches_truth(roster, box)
    assert "signin.interruption_dismissed" in log_capture.getvalue()

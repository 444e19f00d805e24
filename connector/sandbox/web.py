"""What the sandbox's two origins share: paths, cookies, messages, templates and safe responses.

Markup follows docs/sandbox-dom.md (the connector reads it through selectors/stitch.toml).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.templating import Jinja2Templates

from connector.sandbox.options import SandboxOptions
from connector.sandbox.roster import Member
from connector.sandbox.state import SandboxState

# The sign-in forms' texts, shared with the invite form's (re-exported for the origins).
from connector.sandbox.write_answers import MSG_EMAIL_INVALID as MSG_EMAIL_INVALID
from connector.sandbox.write_answers import MSG_EMAIL_REQUIRED as MSG_EMAIL_REQUIRED

SESSION_COOKIE = "stitch_session"
PAGE_SIZE = 50

_HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
TEMPLATES.env.trim_blocks = True  # tidy HTML: block tags leave no blank lines behind
TEMPLATES.env.lstrip_blocks = True
STATIC_DIR = _HERE / "static"

# [P] texts from the research (§4.2) unless the DOM contract says otherwise.
MSG_BAD_CREDENTIALS = "Invalid email or password"
MSG_BAD_CODE = "Invalid code"

# The drift corpus's server-side pieces (docs/sandbox-dom.md "Drift corpus"), all [P].
CONSENT_COOKIE = "st_cookie_consent"  # signin-cookie-consent: set by mutations.js on a choice
WHATS_NEW_COOKIE = "st_whats_new_seen"  # app-whats-new: set by mutations.js on dismissal
REMEMBER_SECONDS = 30 * 24 * 3600  # signin-stay-signed-in "Yes": a persistent session cookie
_SIGNIN_TEMPLATES = frozenset(
    {"signin_email.html", "signin_legacy.html", "login_password.html", "login_mfa.html",
     "login_stay.html"}
)  # fmt: skip
MUTATION_SCRIPT_PATH = "/__sandbox__/mutation-script.js"


def hashed_id(value: str) -> str:
    """signin-ids-renamed: a stable CSS-modules-like replacement for an id."""
    return "f" + hashlib.sha256(f"signin-ids-renamed:{value}".encode()).hexdigest()[:9]


def mutation_context(state: SandboxState, request: Request, template: str) -> dict[str, Any]:
    """What the templates need for the active mutations. With none active (and no user script),
    every page renders byte-identical to a sandbox without the drift corpus."""
    names = state.mutations()
    active = set(names)
    script = state.options.mutation_script is not None
    if template in _SIGNIN_TEMPLATES:
        kind = "signin"
    elif template.startswith("page_"):
        kind = "app"
    else:
        kind = "other"
    renamed = "signin-ids-renamed" in active

    def sid(value: str) -> str:
        return hashed_id(value) if renamed else value

    return {
        "mut": active,
        "mutation_names": " ".join(names),
        "mutations_on": bool(names) or script,
        "mutation_script": MUTATION_SCRIPT_PATH if script else None,
        "page_kind": kind,
        "sid": sid,
        "consent_needed": (
            kind == "signin"
            and "signin-cookie-consent" in active
            and CONSENT_COOKIE not in request.cookies
        ),
        "whats_new_needed": (
            kind == "app" and "app-whats-new" in active and WHATS_NEW_COOKIE not in request.cookies
        ),
    }


async def serve_mutation_script(state: SandboxState) -> Response:
    """The user's --mutation-script, read on every request so edits show on the next reload."""
    path = state.options.mutation_script
    if path is None or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "no-store"})


def stay_signed_in_page(
    render: Callable[[Request, str, dict[str, Any]], Response],
    request: Request,
    token: str,
    action: str,
) -> Response:
    """signin-stay-signed-in [P]: "Stay signed in?" with Yes / No, posting `stay` to `action`."""
    return render(request, "login_stay.html", {"state": token, "action": action})


_SETTINGS_TABS_V2 = ("account", "members", "profile", "notifications")
_SETTINGS_TABS_LEGACY = ("account", "profile", "notifications", "billing")


@dataclasses.dataclass(frozen=True)
class Origins:
    """Absolute base URLs (no trailing slash) of the two origins."""

    app_url: str
    login_url: str


class SafeJSONResponse(JSONResponse):
    """JSON whose strings can never close a <script> or form markup, whatever a name holds."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # These characters only occur inside JSON strings, so escaping them is always safe.
        for raw, escaped in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            text = text.replace(raw, escaped)
        return text.encode("utf-8")


# ---------------------------------------------------------------- paths per variant


@dataclasses.dataclass(frozen=True)
class AppPaths:
    """Every in-app URL of one variant (two URL generations, §1.1)."""

    options: SandboxOptions

    @property
    def _v2(self) -> str:
        return f"/client/{self.options.client_id}/pipeline/v2"

    @property
    def _legacy(self) -> str:
        return f"/v2/client/{self.options.client_id}"

    @property
    def legacy(self) -> bool:
        return self.options.variant == "legacy"

    @property
    def dashboard(self) -> str:
        if self.legacy:
            return f"{self._legacy}/pipeline/connections"  # [S-old]
        return f"{self._v2}/sources"  # [S]

    @property
    def billing(self) -> str:
        return f"{self._legacy}/settings/billing" if self.legacy else f"{self._v2}/billing"

    @property
    def destination(self) -> str:  # [P]
        return f"{self._legacy}/pipeline/destination" if self.legacy else f"{self._v2}/destination"

    @property
    def notifications(self) -> str:  # [P]
        return (
            f"{self._legacy}/pipeline/notifications" if self.legacy else f"{self._v2}/notifications"
        )

    def settings(self, tab: str) -> str:  # [P] routes
        if tab == "billing":
            return self.billing
        return f"{self._legacy}/settings/{tab}" if self.legacy else f"{self._v2}/settings/{tab}"

    @property
    def members(self) -> str:
        """The page the member list is on: its own tab, or (legacy) a section of Account."""
        return self.settings("account") if self.legacy else self.settings("members")

    @property
    def settings_root(self) -> str:
        return f"{self._legacy}/settings" if self.legacy else f"{self._v2}/settings"

    @property
    def members_api(self) -> str:  # [P] internal JSON endpoint
        return f"/api/clients/{self.options.client_id}/members"

    @property
    def invitations_api(self) -> str:  # [P] internal JSON endpoint (cancel, resend)
        return f"/api/clients/{self.options.client_id}/invitations"

    def pages(self) -> dict[str, str]:
        """path -> page key for every signed-in page of this variant."""
        pages = {
            self.dashboard: "dashboard",
            self.billing: "billing",
            self.destination: "destination",
            self.notifications: "notifications",
        }
        tabs = _SETTINGS_TABS_LEGACY if self.legacy else _SETTINGS_TABS_V2
        for tab in tabs:
            if tab != "billing":
                pages[self.settings(tab)] = f"settings_{tab}"
        return pages


def safe_redirect(value: str | None, fallback: str) -> str:
    """Only same-origin paths: never let `redirect=` send the browser elsewhere."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return fallback
    if any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return fallback
    return value


def sign_in_path(target: str | None) -> str:
    if not target:
        return "/session/create"
    return "/session/create?redirect=" + quote(target, safe="")


def initials(member: Member) -> str:
    words = (member.name or "").split()
    if not words:
        return member.email[:1].upper()
    letters = words[0][:1] + (words[-1][:1] if len(words) > 1 else "")
    return letters.upper()

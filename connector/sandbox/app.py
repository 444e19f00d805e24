"""The two Starlette apps: the Stitch app origin and the stand-in for the Talend login origin.

Markup follows docs/sandbox-dom.md (the connector reads it through selectors/stitch.toml). Both apps
share one SandboxState; neither knows the other's port until the sockets are bound, hence `Origins`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from connector.errors import ConfigError
from connector.sandbox.options import SandboxOptions, is_plausible_email
from connector.sandbox.roster import ADMINISTRATOR, Member
from connector.sandbox.state import (
    MSG_NO_SUCH_MEMBER,
    SandboxState,
    WriteAction,
    WriteResult,
)

SESSION_COOKIE = "stitch_session"
PAGE_SIZE = 50

_HERE = Path(__file__).parent
_TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
_TEMPLATES.env.trim_blocks = True  # tidy HTML: block tags leave no blank lines behind
_TEMPLATES.env.lstrip_blocks = True
_STATIC_DIR = _HERE / "static"

# [P] texts from the research (§4.2) unless the DOM contract says otherwise.
MSG_EMAIL_REQUIRED = "Email is required"
MSG_EMAIL_INVALID = "Please enter a valid email address"
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


# ---------------------------------------------------------------- the app origin


class _AppOrigin:
    def __init__(self, state: SandboxState, origins: Origins) -> None:
        self.state = state
        self.origins = origins
        self.options = state.options
        self.paths = AppPaths(state.options)

    # ---------------------------------------------------- helpers

    def _render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        base: dict[str, Any] = {
            "variant": self.options.variant,
            "options": self.options,
            "paths": self.paths,
            "origins": self.origins,
            **mutation_context(self.state, request, template),
        }
        base.update(context)
        return _TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)

    def _viewer(self, request: Request) -> Member | None:
        return self.state.session_member(request.cookies.get(SESSION_COOKIE))

    def _signed_in_response(self, email: str, redirect: str, remember: bool = False) -> Response:
        token = self.state.create_session(email)
        response = RedirectResponse(redirect, status_code=303)
        # remember: "Yes" on the signin-stay-signed-in page [P]; otherwise a browser-session cookie
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=REMEMBER_SECONDS if remember else None,
            httponly=True,
            samesite="lax",
            path="/",
        )
        return response

    def _stay_active(self) -> bool:
        return "signin-stay-signed-in" in self.state.mutations()

    # ---------------------------------------------------- sign-in

    def _sign_in_page(
        self, request: Request, *, redirect: str, email: str = "", error: str | None = None
    ) -> Response:
        template = "signin_legacy.html" if self.paths.legacy else "signin_email.html"
        return self._render(
            request, template, {"redirect": redirect, "email": email, "error": error}
        )

    async def session_create(self, request: Request) -> Response:
        if request.method == "GET":
            redirect = safe_redirect(request.query_params.get("redirect"), "")
            return self._sign_in_page(request, redirect=redirect)

        form = await request.form()
        raw_redirect = str(form.get("redirect") or "")
        redirect = safe_redirect(raw_redirect, "")
        target = redirect or self.paths.dashboard
        email = str(form.get("email") or "").strip()
        if not email:
            return self._sign_in_page(request, redirect=redirect, error=MSG_EMAIL_REQUIRED)
        if not is_plausible_email(email):
            return self._sign_in_page(
                request, redirect=redirect, email=email, error=MSG_EMAIL_INVALID
            )
        if self.state.routes_to_sso(email):
            return RedirectResponse(f"/sso/{self.state.sso_connection}", status_code=303)

        if not self.paths.legacy:
            token = self.state.start_login(email, target, "password")
            return RedirectResponse(
                f"{self.origins.login_url}/login?{urlencode({'state': token})}", status_code=303
            )

        # legacy: one form with the password, on this origin.
        outcome = self.state.check_password(email, str(form.get("password") or ""))
        if outcome != "ok":
            error = self.state.lockout_message() if outcome == "locked" else MSG_BAD_CREDENTIALS
            return self._sign_in_page(request, redirect=redirect, email=email, error=error)
        if self.options.mfa == "totp":
            token = self.state.start_login(email, target, "totp")
            return RedirectResponse(f"/session/mfa?{urlencode({'state': token})}", status_code=303)
        if self._stay_active():
            token = self.state.start_login(email, target, "stay")
            return RedirectResponse(f"/session/stay?{urlencode({'state': token})}", status_code=303)
        return self._signed_in_response(email, target)

    async def session_mfa(self, request: Request) -> Response:
        """Legacy only: the TOTP step on the app origin."""
        if not self.paths.legacy or self.options.mfa != "totp":
            return self._not_found(request)
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.pending_login(token)
            if pending is None or pending.stage != "totp":
                return self._render(
                    request, "login_expired.html", {"restart": "/session/create"}, status_code=400
                )
            return self._render(
                request, "login_mfa.html", {"state": token, "action": "/session/mfa", "error": None}
            )
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.pending_login(token)
        if pending is None or pending.stage != "totp":
            return self._render(
                request, "login_expired.html", {"restart": "/session/create"}, status_code=400
            )
        if not self.state.check_totp(str(form.get("code") or "")):
            return self._render(
                request,
                "login_mfa.html",
                {"state": token, "action": "/session/mfa", "error": MSG_BAD_CODE},
            )
        if self._stay_active():
            self.state.advance_login(token, "stay")
            return RedirectResponse(f"/session/stay?{urlencode({'state': token})}", status_code=303)
        finished = self.state.finish_login(token)
        if finished is None:
            return RedirectResponse("/session/create", status_code=303)
        return self._signed_in_response(finished.email, finished.redirect)

    async def session_stay(self, request: Request) -> Response:
        """Legacy only, signin-stay-signed-in [P]: the "Stay signed in?" page on the app origin."""
        if not self.paths.legacy:
            return self._not_found(request)
        expired = self._render(
            request, "login_expired.html", {"restart": "/session/create"}, status_code=400
        )
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.pending_login(token)
            if pending is None or pending.stage != "stay":
                return expired
            return stay_signed_in_page(self._render, request, token, "/session/stay")
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.pending_login(token)
        if pending is None or pending.stage != "stay":
            return expired
        finished = self.state.finish_login(token)
        if finished is None:
            return RedirectResponse("/session/create", status_code=303)
        remember = str(form.get("stay") or "") == "yes"
        return self._signed_in_response(finished.email, finished.redirect, remember)

    async def session_callback(self, request: Request) -> Response:
        redeemed = self.state.redeem_code(request.query_params.get("code", ""))
        if redeemed is None:
            return RedirectResponse("/session/create", status_code=303)
        email, redirect = redeemed
        remember = request.query_params.get("remember") == "1"  # signin-stay-signed-in "Yes"
        return self._signed_in_response(email, redirect, remember)

    async def session_destroy(self, request: Request) -> Response:
        self.state.end_session(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/session/create", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    async def sso(self, request: Request) -> Response:
        if request.path_params["connection"] != self.state.sso_connection:
            return self._not_found(request)
        return self._render(request, "sso.html", {"connection": self.state.sso_connection})

    async def forgot(self, request: Request) -> Response:
        sent = False
        if request.method == "POST":
            await request.form()
            sent = True  # [P] the same answer for every email: no account enumeration
        return self._render(request, "forgot.html", {"sent": sent})

    async def signup(self, request: Request) -> Response:
        return self._render(request, "signup.html", {})

    async def root(self, request: Request) -> Response:
        if self._viewer(request) is None:
            return RedirectResponse("/session/create", status_code=302)
        return RedirectResponse(self.paths.dashboard, status_code=302)

    # ---------------------------------------------------- signed-in pages

    def _not_found(self, request: Request) -> Response:
        return self._render(request, "not_found.html", {}, status_code=404)

    async def client_page(self, request: Request) -> Response:
        """Every /client/... and /v2/client/... URL: sign-in check first, then the page table."""
        viewer = self._viewer(request)
        if viewer is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(sign_in_path(target), status_code=302)
        path = request.url.path.rstrip("/") or "/"
        if path == self.paths.settings_root:
            return RedirectResponse(self.paths.settings("account"), status_code=302)
        page = self.paths.pages().get(path)
        if page is None:
            return self._not_found(request)
        context: dict[str, Any] = {
            "viewer": viewer,
            "viewer_is_admin": viewer.role == ADMINISTRATOR,
            "initials": initials(viewer),
            "page": page,
            "tabs": self._tabs(),
            "sso_enabled": self.options.sso,
        }
        return self._render(request, f"page_{page}.html", context)

    def _tabs(self) -> list[dict[str, str]]:
        labels = {
            "account": "Account Settings",
            "members": "Members",
            "profile": "Your Profile",
            "notifications": "Notification Settings",
            "billing": "Billing",
        }
        keys = ["account", "profile", "notifications", "billing"]
        if not self.paths.legacy:
            keys.insert(1, "members")
        return [
            {"key": key, "label": labels[key], "href": self.paths.settings(key)} for key in keys
        ]

    # ---------------------------------------------------- member data (JSON)

    async def members_api(self, request: Request) -> Response:
        # The delay comes first so every answer, 401 and 500 included, takes as long.
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        if request.path_params["client_id"] != str(self.options.client_id):
            return SafeJSONResponse({"code": "NotFound"}, status_code=404)
        viewer = self._viewer(request)
        if viewer is None:
            return SafeJSONResponse({"code": "Unauthorized"}, status_code=401)
        raw_page = request.query_params.get("page", "1")
        if not re.fullmatch(r"[0-9]{1,6}", raw_page) or int(raw_page) < 1:
            return SafeJSONResponse(
                {"code": "BadRequest", "message": "page must be a positive integer"},
                status_code=400,
            )
        if self.state.next_request_fails():
            return SafeJSONResponse(
                {"code": "InternalServerError", "message": "Something went wrong."},
                status_code=500,
            )
        members = self.state.visible_members()
        page_count = max(1, math.ceil(len(members) / PAGE_SIZE))
        page = min(int(raw_page), page_count)  # a stale ?page=N shows the last page
        rows = members[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        viewer_key = viewer.email.lower()
        return SafeJSONResponse(
            {
                "page": page,
                "page_size": PAGE_SIZE,
                "page_count": page_count,
                "total": len(members),
                "viewer": {"email": viewer.email, "is_admin": viewer.role == ADMINISTRATOR},
                "members": [
                    {
                        "id": member.id,
                        "email": member.email,
                        "name": member.name,
                        "role": member.role,
                        "status": member.status,
                        "invoice_admin": member.invoice_admin,
                        "is_viewer": member.email.lower() == viewer_key,
                    }
                    for member in rows
                ],
            }
        )

    # ---------------------------------------------------- writes (JSON)

    async def deactivate_api(self, request: Request) -> Response:
        return await self._write(request, "deactivate")

    async def cancel_invitation_api(self, request: Request) -> Response:
        return await self._write(request, "cancel_invitation")

    async def resend_invitation_api(self, request: Request) -> Response:
        return await self._write(request, "resend_invitation")

    async def _write(self, request: Request, action: WriteAction) -> Response:
        """Perform (or refuse, or fail) the write at once, then wait `slow_write_ms` before
        answering: meanwhile the state has changed but the client does not know the outcome."""
        member_id = request.path_params["member_id"]
        late = self.options.slow_write_ms / 1000
        if late and self.options.slow_write_mode == "act":
            await asyncio.sleep(late)  # simulated server latency before acting
            late = 0
        if request.path_params["client_id"] != str(self.options.client_id):
            result = WriteResult.error(404, MSG_NO_SUCH_MEMBER)
            self.state.record_write(action, member_id, result)
        else:
            viewer = self._viewer(request)
            actor = viewer.email if viewer is not None else None
            if action == "deactivate":
                result = self.state.deactivate(member_id, actor)
            elif action == "cancel_invitation":
                result = self.state.cancel_invitation(member_id, actor)
            else:
                result = self.state.resend_invitation(member_id, actor)
        if late:
            await asyncio.sleep(late)
        return SafeJSONResponse(result.body, status_code=result.status)

    # ---------------------------------------------------- control endpoints

    async def control_state(self, request: Request) -> Response:
        return SafeJSONResponse(self.state.snapshot())

    async def control_reset(self, request: Request) -> Response:
        self.state.reset()
        return SafeJSONResponse({"ok": True})

    async def control_expire_sessions(self, request: Request) -> Response:
        self.state.expire_sessions()
        return SafeJSONResponse({"ok": True})

    async def control_mutations(self, request: Request) -> Response:
        """POST /__sandbox__/mutations {"names": [...]}: replace the active drift-corpus set."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        names = body.get("names") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return SafeJSONResponse(
                {"code": "BadRequest", "message": 'a JSON object with "names": a list of strings'},
                status_code=400,
            )
        try:
            active = self.state.set_mutations(names)
        except ConfigError as exc:
            return SafeJSONResponse({"code": "BadRequest", "message": str(exc)}, status_code=400)
        return SafeJSONResponse({"ok": True, "mutations": list(active)})

    async def mutation_script(self, request: Request) -> Response:
        return await serve_mutation_script(self.state)

    async def control_roster(self, request: Request) -> Response:
        """POST /__sandbox__/{add-member,remove-member,accept-invite,set-role} with a JSON body
        naming `email` and the call's other arguments."""
        action = request.url.path.rsplit("/", 1)[-1]
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("email"), str):
            return SafeJSONResponse(
                {"code": "BadRequest", "message": 'a JSON object with "email"'}, status_code=400
            )
        calls: dict[str, Any] = {
            "add-member": self.state.add_member,
            "remove-member": self.state.remove_member,
            "accept-invite": self.state.accept_invite,
            "set-role": self.state.set_role,
        }
        try:
            calls[action](**body)
        except LookupError as exc:
            return SafeJSONResponse({"code": "NotFound", "message": str(exc)}, status_code=404)
        except (TypeError, ValueError) as exc:
            return SafeJSONResponse({"code": "BadRequest", "message": str(exc)}, status_code=400)
        return SafeJSONResponse({"ok": True})

    async def not_found(self, request: Request) -> Response:
        return self._not_found(request)


def create_app_origin(state: SandboxState, origins: Origins) -> Starlette:
    """The stand-in for app.stitchdata.com."""
    app = _AppOrigin(state, origins)
    routes = [
        Route("/", app.root),
        Route("/session/create", app.session_create, methods=["GET", "POST"]),
        Route("/session/mfa", app.session_mfa, methods=["GET", "POST"]),
        Route("/session/stay", app.session_stay, methods=["GET", "POST"]),
        Route("/session/callback", app.session_callback),
        Route("/session/destroy", app.session_destroy, methods=["GET", "POST"]),
        Route("/sso/{connection}", app.sso),
        Route("/forgot", app.forgot, methods=["GET", "POST"]),
        Route("/signup", app.signup),
        Route("/api/clients/{client_id}/members", app.members_api),
        Route(
            "/api/clients/{client_id}/members/{member_id}/deactivate",
            app.deactivate_api,
            methods=["POST"],
        ),
        Route(
            "/api/clients/{client_id}/invitations/{member_id}/cancel",
            app.cancel_invitation_api,
            methods=["POST"],
        ),
        Route(
            "/api/clients/{client_id}/invitations/{member_id}/resend",
            app.resend_invitation_api,
            methods=["POST"],
        ),
        Route("/__sandbox__/state", app.control_state),
        Route("/__sandbox__/reset", app.control_reset, methods=["POST"]),
        Route("/__sandbox__/expire-sessions", app.control_expire_sessions, methods=["POST"]),
        Route("/__sandbox__/mutations", app.control_mutations, methods=["POST"]),
        Route(MUTATION_SCRIPT_PATH, app.mutation_script),
        *(
            Route(f"/__sandbox__/{action}", app.control_roster, methods=["POST"])
            for action in ("add-member", "remove-member", "accept-invite", "set-role")
        ),
        Route("/client/{rest:path}", app.client_page),
        Route("/v2/client/{rest:path}", app.client_page),
        Mount("/static", StaticFiles(directory=str(_STATIC_DIR)), name="static"),
        Route("/{rest:path}", app.not_found),
    ]
    return Starlette(routes=routes)


# ---------------------------------------------------------------- the login origin


class _LoginOrigin:
    def __init__(self, state: SandboxState, origins: Origins) -> None:
        self.state = state
        self.origins = origins
        self.options = state.options

    def _render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        base: dict[str, Any] = {
            "variant": self.options.variant,
            "origins": self.origins,
            **mutation_context(self.state, request, template),
        }
        base.update(context)
        return _TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)

    def _expired(self, request: Request) -> Response:
        restart = f"{self.origins.app_url}/session/create"
        return self._render(request, "login_expired.html", {"restart": restart}, status_code=400)

    def _password_page(
        self, request: Request, token: str, email: str, error: str | None
    ) -> Response:
        back = f"{self.origins.app_url}/session/create"
        return self._render(
            request,
            "login_password.html",
            {"state": token, "email": email, "error": error, "back": back},
        )

    def _finish(self, token: str, remember: bool = False) -> Response:
        finished = self.state.finish_login(token)
        if finished is None:
            return RedirectResponse(f"{self.origins.app_url}/session/create", status_code=303)
        code = self.state.issue_code(finished.email, finished.redirect)
        query = {"code": code, **({"remember": "1"} if remember else {})}
        return RedirectResponse(
            f"{self.origins.app_url}/session/callback?{urlencode(query)}", status_code=303
        )

    def _signed_in(self, token: str) -> Response:
        """The last step passed: the app, or first signin-stay-signed-in's question [P]."""
        if "signin-stay-signed-in" in self.state.mutations():
            self.state.advance_login(token, "stay")
            return RedirectResponse(f"/login/stay?{urlencode({'state': token})}", status_code=303)
        return self._finish(token)

    async def login_stay(self, request: Request) -> Response:
        """signin-stay-signed-in [P]: "Stay signed in?" between the last step and the app."""
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.pending_login(token)
            if pending is None or pending.stage != "stay":
                return self._expired(request)
            return stay_signed_in_page(self._render, request, token, "/login/stay")
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.pending_login(token)
        if pending is None or pending.stage != "stay":
            return self._expired(request)
        return self._finish(token, remember=str(form.get("stay") or "") == "yes")

    async def mutation_script(self, request: Request) -> Response:
        return await serve_mutation_script(self.state)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.pending_login(token)
            if pending is None:
                return self._expired(request)
            if pending.stage == "totp":
                return RedirectResponse(
                    f"/login/mfa?{urlencode({'state': token})}", status_code=303
                )
            if pending.stage == "stay":
                return RedirectResponse(
                    f"/login/stay?{urlencode({'state': token})}", status_code=303
                )
            return self._password_page(request, token, pending.email, None)

        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.pending_login(token)
        if pending is None or pending.stage != "password":
            return self._expired(request)
        outcome = self.state.check_password(pending.email, str(form.get("password") or ""))
        if outcome == "locked":
            return self._password_page(request, token, pending.email, self.state.lockout_message())
        if outcome == "invalid":
            return self._password_page(request, token, pending.email, MSG_BAD_CREDENTIALS)
        if self.options.mfa == "totp":
            self.state.advance_login(token, "totp")
            return RedirectResponse(f"/login/mfa?{urlencode({'state': token})}", status_code=303)
        return self._signed_in(token)

    async def login_mfa(self, request: Request) -> Response:
        if self.options.mfa != "totp":
            return self._expired(request)
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.pending_login(token)
            if pending is None:
                return self._expired(request)
            if pending.stage != "totp":  # no skipping the password
                return RedirectResponse(f"/login?{urlencode({'state': token})}", status_code=303)
            return self._render(
                request, "login_mfa.html", {"state": token, "action": "/login/mfa", "error": None}
            )
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.pending_login(token)
        if pending is None or pending.stage != "totp":
            return self._expired(request)
        if not self.state.check_totp(str(form.get("code") or "")):
            return self._render(
                request,
                "login_mfa.html",
                {"state": token, "action": "/login/mfa", "error": MSG_BAD_CODE},
            )
        return self._signed_in(token)

    async def root(self, request: Request) -> Response:
        return RedirectResponse(f"{self.origins.app_url}/session/create", status_code=302)

    async def not_found(self, request: Request) -> Response:
        return self._render(request, "not_found.html", {"login_origin": True}, status_code=404)


def create_login_origin(state: SandboxState, origins: Origins) -> Starlette:
    """The stand-in for login.us.cloud.talend.com (password and TOTP steps)."""
    app = _LoginOrigin(state, origins)
    routes = [
        Route("/", app.root),
        Route("/login", app.login, methods=["GET", "POST"]),
        Route("/login/mfa", app.login_mfa, methods=["GET", "POST"]),
        Route("/login/stay", app.login_stay, methods=["GET", "POST"]),
        Route(MUTATION_SCRIPT_PATH, app.mutation_script),
        Mount("/static", StaticFiles(directory=str(_STATIC_DIR)), name="static"),
        Route("/{rest:path}", app.not_found),
    ]
    return Starlette(routes=routes)

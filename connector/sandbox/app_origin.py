"""The stand-in for app.stitchdata.com: sign-in, the Members page, its JSON API and writes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connector.sandbox.controls import SandboxControls
from connector.sandbox.members_api import MembersApi
from connector.sandbox.options import is_plausible_email
from connector.sandbox.roster import ADMINISTRATOR, Member
from connector.sandbox.state import SandboxState
from connector.sandbox.web import (
    MSG_BAD_CODE,
    MSG_BAD_CREDENTIALS,
    MSG_EMAIL_INVALID,
    MSG_EMAIL_REQUIRED,
    MUTATION_SCRIPT_PATH,
    REMEMBER_SECONDS,
    SESSION_COOKIE,
    STATIC_DIR,
    TEMPLATES,
    AppPaths,
    Origins,
    initials,
    mutation_context,
    safe_redirect,
    sign_in_path,
    stay_signed_in_page,
)

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
        return TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)

    def _viewer(self, request: Request) -> Member | None:
        return self.state.session_member(request.cookies.get(SESSION_COOKIE))

    def _signed_in_response(self, email: str, redirect: str, remember: bool = False) -> Response:
        token = self.state.tickets.create_session(email)
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
            token = self.state.tickets.start_login(email, target, "password")
            return RedirectResponse(
                f"{self.origins.login_url}/login?{urlencode({'state': token})}", status_code=303
            )

        # legacy: one form with the password, on this origin.
        outcome = self.state.check_password(email, str(form.get("password") or ""))
        if outcome != "ok":
            error = self.state.lockout_message() if outcome == "locked" else MSG_BAD_CREDENTIALS
            return self._sign_in_page(request, redirect=redirect, email=email, error=error)
        if self.options.mfa == "totp":
            token = self.state.tickets.start_login(email, target, "totp")
            return RedirectResponse(f"/session/mfa?{urlencode({'state': token})}", status_code=303)
        if self._stay_active():
            token = self.state.tickets.start_login(email, target, "stay")
            return RedirectResponse(f"/session/stay?{urlencode({'state': token})}", status_code=303)
        return self._signed_in_response(email, target)

    async def session_mfa(self, request: Request) -> Response:
        """Legacy only: the TOTP step on the app origin."""
        if not self.paths.legacy or self.options.mfa != "totp":
            return self._not_found(request)
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.tickets.pending_login(token)
            if pending is None or pending.stage != "totp":
                return self._render(
                    request, "login_expired.html", {"restart": "/session/create"}, status_code=400
                )
            return self._render(
                request, "login_mfa.html", {"state": token, "action": "/session/mfa", "error": None}
            )
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.tickets.pending_login(token)
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
            self.state.tickets.advance_login(token, "stay")
            return RedirectResponse(f"/session/stay?{urlencode({'state': token})}", status_code=303)
        finished = self.state.tickets.finish_login(token)
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
            pending = self.state.tickets.pending_login(token)
            if pending is None or pending.stage != "stay":
                return expired
            return stay_signed_in_page(self._render, request, token, "/session/stay")
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.tickets.pending_login(token)
        if pending is None or pending.stage != "stay":
            return expired
        finished = self.state.tickets.finish_login(token)
        if finished is None:
            return RedirectResponse("/session/create", status_code=303)
        remember = str(form.get("stay") or "") == "yes"
        return self._signed_in_response(finished.email, finished.redirect, remember)

    async def session_callback(self, request: Request) -> Response:
        redeemed = self.state.tickets.redeem_code(request.query_params.get("code", ""))
        if redeemed is None:
            return RedirectResponse("/session/create", status_code=303)
        email, redirect = redeemed
        remember = request.query_params.get("remember") == "1"  # signin-stay-signed-in "Yes"
        return self._signed_in_response(email, redirect, remember)

    async def session_destroy(self, request: Request) -> Response:
        self.state.tickets.end_session(request.cookies.get(SESSION_COOKIE))
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
            "seats": self.state.seats(),
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

    async def not_found(self, request: Request) -> Response:
        return self._not_found(request)


def create_app_origin(state: SandboxState, origins: Origins) -> Starlette:
    """The stand-in for app.stitchdata.com."""
    app = _AppOrigin(state, origins)
    api = MembersApi(state)
    controls = SandboxControls(state)
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
        Route("/api/clients/{client_id}/members", api.members),
        Route(
            "/api/clients/{client_id}/members/{member_id}/deactivate",
            api.deactivate_api,
            methods=["POST"],
        ),
        Route(
            "/api/clients/{client_id}/members/{member_id}/reactivate",
            api.reactivate_api,
            methods=["POST"],
        ),
        Route("/api/clients/{client_id}/members/{member_id}/role", api.role_api, methods=["PUT"]),
        Route("/api/clients/{client_id}/invitations", api.invite_api, methods=["POST"]),
        Route(
            "/api/clients/{client_id}/invitations/{member_id}/cancel",
            api.cancel_invitation_api,
            methods=["POST"],
        ),
        Route(
            "/api/clients/{client_id}/invitations/{member_id}/resend",
            api.resend_invitation_api,
            methods=["POST"],
        ),
        Route("/__sandbox__/state", controls.control_state),
        Route("/__sandbox__/reset", controls.control_reset, methods=["POST"]),
        Route("/__sandbox__/expire-sessions", controls.control_expire_sessions, methods=["POST"]),
        Route("/__sandbox__/mutations", controls.control_mutations, methods=["POST"]),
        Route(MUTATION_SCRIPT_PATH, controls.mutation_script),
        *(
            Route(f"/__sandbox__/{action}", controls.control_roster, methods=["POST"])
            for action in ("add-member", "remove-member", "accept-invite", "set-role")
        ),
        Route("/client/{rest:path}", app.client_page),
        Route("/v2/client/{rest:path}", app.client_page),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
        Route("/{rest:path}", app.not_found),
    ]
    return Starlette(routes=routes)

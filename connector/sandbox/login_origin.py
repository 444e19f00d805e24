"""The stand-in for login.us.cloud.talend.com: the password and TOTP steps."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from connector.sandbox.state import SandboxState
from connector.sandbox.web import (
    MSG_BAD_CODE,
    MSG_BAD_CREDENTIALS,
    MUTATION_SCRIPT_PATH,
    STATIC_DIR,
    TEMPLATES,
    Origins,
    mutation_context,
    serve_mutation_script,
    stay_signed_in_page,
)

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
        return TEMPLATES.TemplateResponse(request, template, base, status_code=status_code)

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
        finished = self.state.tickets.finish_login(token)
        if finished is None:
            return RedirectResponse(f"{self.origins.app_url}/session/create", status_code=303)
        code = self.state.tickets.issue_code(finished.email, finished.redirect)
        query = {"code": code, **({"remember": "1"} if remember else {})}
        return RedirectResponse(
            f"{self.origins.app_url}/session/callback?{urlencode(query)}", status_code=303
        )

    def _signed_in(self, token: str) -> Response:
        """The last step passed: the app, or first signin-stay-signed-in's question [P]."""
        if "signin-stay-signed-in" in self.state.mutations():
            self.state.tickets.advance_login(token, "stay")
            return RedirectResponse(f"/login/stay?{urlencode({'state': token})}", status_code=303)
        return self._finish(token)

    async def login_stay(self, request: Request) -> Response:
        """signin-stay-signed-in [P]: "Stay signed in?" between the last step and the app."""
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.tickets.pending_login(token)
            if pending is None or pending.stage != "stay":
                return self._expired(request)
            return stay_signed_in_page(self._render, request, token, "/login/stay")
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.tickets.pending_login(token)
        if pending is None or pending.stage != "stay":
            return self._expired(request)
        return self._finish(token, remember=str(form.get("stay") or "") == "yes")

    async def mutation_script(self, request: Request) -> Response:
        return await serve_mutation_script(self.state)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.tickets.pending_login(token)
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
        pending = self.state.tickets.pending_login(token)
        if pending is None or pending.stage != "password":
            return self._expired(request)
        outcome = self.state.check_password(pending.email, str(form.get("password") or ""))
        if outcome == "locked":
            return self._password_page(request, token, pending.email, self.state.lockout_message())
        if outcome == "invalid":
            return self._password_page(request, token, pending.email, MSG_BAD_CREDENTIALS)
        if self.options.mfa == "totp":
            self.state.tickets.advance_login(token, "totp")
            return RedirectResponse(f"/login/mfa?{urlencode({'state': token})}", status_code=303)
        return self._signed_in(token)

    async def login_mfa(self, request: Request) -> Response:
        if self.options.mfa != "totp":
            return self._expired(request)
        if request.method == "GET":
            token = request.query_params.get("state", "")
            pending = self.state.tickets.pending_login(token)
            if pending is None:
                return self._expired(request)
            if pending.stage != "totp":  # no skipping the password
                return RedirectResponse(f"/login?{urlencode({'state': token})}", status_code=303)
            return self._render(
                request, "login_mfa.html", {"state": token, "action": "/login/mfa", "error": None}
            )
        form = await request.form()
        token = str(form.get("state") or "")
        pending = self.state.tickets.pending_login(token)
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
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
        Route("/{rest:path}", app.not_found),
    ]
    return Starlette(routes=routes)

"""The sandbox's control endpoints (/__sandbox__/...): tests and the demo set its state through
them; the real Stitch has nothing like them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connector.errors import ConfigError
from connector.sandbox.state import SandboxState
from connector.sandbox.web import (
    SafeJSONResponse,
    serve_mutation_script,
)


class SandboxControls:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

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

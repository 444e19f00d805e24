"""The app origin's JSON API for the member list and its writes (docs/sandbox-dom.md "Members",
"Write flows", "Member lifecycle"): internal endpoints the Stitch front end would call, [P]."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connector.sandbox.grants import WriteRequest
from connector.sandbox.roster import ADMINISTRATOR, Member
from connector.sandbox.state import SandboxState
from connector.sandbox.web import PAGE_SIZE, SESSION_COOKIE, SafeJSONResponse
from connector.sandbox.write_answers import MSG_NO_SUCH_MEMBER, WriteAction, WriteResult


class MembersApi:
    """GET the member list's pages; POST/PUT the writes. Everything is logged in the state."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.options = state.options

    def _viewer(self, request: Request) -> Member | None:
        return self.state.session_member(request.cookies.get(SESSION_COOKIE))

    async def members(self, request: Request) -> Response:
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
        self.state.count_list_read()
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
                "seats": self.state.seats().as_json(),
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

    async def reactivate_api(self, request: Request) -> Response:
        return await self._write(request, "reactivate")

    async def role_api(self, request: Request) -> Response:
        return await self._write(request, "set_role")

    async def invite_api(self, request: Request) -> Response:
        return await self._write(request, "invite")

    async def _write(self, request: Request, action: WriteAction) -> Response:
        """Perform (or refuse, or fail) the write at once, then wait `slow_write_ms` before
        answering: meanwhile the state has changed but the client does not know the outcome."""
        write = await _write_request(request, action)
        late = self.options.slow_write_ms / 1000
        if late and self.options.slow_write_mode == "act":
            await asyncio.sleep(late)  # simulated server latency before acting
            late = 0
        if request.path_params["client_id"] != str(self.options.client_id):
            result = WriteResult.error(404, MSG_NO_SUCH_MEMBER)
            self.state.record_write(write, result)
        else:
            viewer = self._viewer(request)
            result = self.state.write(write, viewer.email if viewer is not None else None)
        if late:
            await asyncio.sleep(late)
        return SafeJSONResponse(result.body, status_code=result.status)


async def _write_request(request: Request, action: WriteAction) -> WriteRequest:
    """The write a request asks for. Invite and role bodies are JSON objects; a missing or
    malformed field reads as absent, so the rules answer it (400)."""
    member_id = request.path_params.get("member_id", "")
    if action not in ("invite", "set_role"):
        return WriteRequest(action, member_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    email, name = fields.get("email"), fields.get("name")
    return WriteRequest(
        action,
        member_id,
        email=email if isinstance(email, str) else "",
        role=fields.get("role", None if action == "invite" else ""),
        name=name if isinstance(name, str) else None,
    )

"""Every request body is bounded (STITCH_MAX_BODY_BYTES, 64 KiB by default), for every route.

A pure ASGI middleware counts the bytes as they arrive, so nothing reads a body whole first:
- a Content-Length over the limit is answered 413 before a byte of the body is read;
- a body without one (chunked) is read only until it passes the limit, then answered 413, and
  the app sees the client gone (it never gets the rest).
The answer closes the connection (`Connection: close`): the rest of the body is never read.
Errors have the route family's shape: a SCIM Error under /scim/v2, the API's elsewhere.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.service.auth import area_of
from connector.service.paths import route_path
from connector.service.scim.errors import error_response


def too_large(path: str, limit: int) -> JSONResponse:
    message = f"the request body is over {limit} bytes"
    headers = {"Connection": "close"}
    if area_of(path) == "scim":
        return error_response(413, message, headers=headers)
    return JSONResponse(  # the API's error shape (api.ErrorBody)
        {
            "error": {
                "kind": "PayloadTooLarge",
                "message": message,
                "hint": "Nothing was changed. Send one request per person, under the limit.",
            }
        },
        status_code=413,
        headers=headers,
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await too_large(route_path(scope), limit)(scope, _nothing, send)  # nothing read
            return

        received = 0
        answered = False  # the 413 went out: what the app sends from now on is dropped
        started = False

        async def counted_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def counted_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # stop here: the rest is never read
                    if not started:
                        await too_large(route_path(scope), limit)(scope, _nothing, send)
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted_receive, counted_send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}

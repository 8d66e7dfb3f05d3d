"""A cap on request bodies for the ASGI application, before Django reads them.

Django's ASGI handler reads a whole body into a temporary file before any view runs, without a limit
(DATA_UPLOAD_MAX_MEMORY_SIZE is checked later, against Content-Length only): a chunked upload without
one could fill the disk. This wrapper answers 413 with the API's JSON error to a body that declares
more than max_bytes, and to one that turns out longer while it streams in (Django then sees the client
as gone and answers nothing, so the 413 is ours to send).
"""

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from api.v1.errors import body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large_message(max_bytes: int) -> str:
    return (
        f"the request body is over the {max_bytes:,}-byte limit (BLUEPLANE_API_INGEST_MAX_MB); "
        "send fewer events per request"
    )


class BodyLimit:
    def __init__(self, app: App, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracked_send)
        if over and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        payload = orjson.dumps(body(413, "too_large", too_large_message(self.max_bytes)))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),  # the rest of the body is not read
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

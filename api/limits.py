"""A cap on request bodies for the ASGI application, before Django reads them.

Django's ASGI handler reads a whole body into a temporary file before any view runs, without a limit
(DATA_UPLOAD_MAX_MEMORY_SIZE is checked later, against Content-Length only): a chunked upload without
one could fill the disk. This wrapper answers 413 with the API's JSON error to a body that declares
more than max_bytes, and to one that turns out longer while it streams in (Django then sees the client
as gone and answers nothing, so the 413 is ours to send).

Before it ends the answer, the wrapper reads and drops the rest of the body, up to DRAIN_FACTOR times
the limit: a client that sends its whole body before it reads (Python's http.client, requests) would
otherwise see the connection reset, not the 413. A client that asked `Expect: 100-continue` sent no body
and is answered at once; past the drain cap the connection is closed all the same.
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

DRAIN_FACTOR = 4


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
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            waits = (_header(scope, b"expect") or b"").lower() == b"100-continue"
            await self._refuse(receive, send, drain=not waits)
            return
        seen = 0
        over = False
        unread = False  # more of the body follows the part that went over
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, over, unread
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    unread = message.get("more_body", False)
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracked_send)
        if over and not started:
            await self._refuse(receive, send, drain=unread)

    async def _refuse(self, receive: Receive, send: Send, *, drain: bool) -> None:
        payload = orjson.dumps(body(413, "too_large", too_large_message(self.max_bytes)))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        # The answer goes out now; it ends (and the connection closes) once the body is dropped.
        await send({"type": "http.response.body", "body": payload, "more_body": drain})
        if drain:
            await self._drain(receive)
            await send({"type": "http.response.body", "body": b""})

    async def _drain(self, receive: Receive) -> None:
        dropped = 0
        while dropped <= DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None

"""The one ASGI application `blueplane up` serves (uvicorn, see `manage.py runweb`).

HTTP requests go to Django's WSGI handler on a pool of threads (a2wsgi), not to its ASGI handler. Every
view, middleware and DRF class here is synchronous, and Django's ASGI handler runs each middleware's
request and response hooks and the view through a thread hop of their own (sync_to_async, about a dozen
per request): measured on this 2-core machine, 3-8 ms of a request that takes 0.5-2 ms as WSGI, and with
8 concurrent clients a third of the throughput. The pool also lets one request's SQLite query (which
releases the GIL) run beside another's Python. The process stays ASGI so that the WebSocket feed to come
shares it: a "websocket" connection goes to the live feed (api/live, Django Channels). /mcp is the MCP
server over streamable HTTP (api/mcp/http.py, an ASGI app of the MCP SDK): lifespan events go to it, so
its session manager starts and stops with the server, and so does the live feed's relay (api/live/relay.py,
which reads the change streams and feeds the WebSocket groups).

Static files (the admin's, Swagger UI's and ReDoc's) are served by Django's staticfiles handler straight
from the installed apps: no collectstatic step, nothing to set up on a fresh machine. They are a few
hundred kilobytes for one local user, not a CDN's load. Streamed responses (exports) pass chunk by chunk
with back-pressure: a2wsgi holds at most a few chunks for a slow client.

Request bodies are capped before Django reads them (api/limits.py)."""

import os
from collections.abc import Awaitable, Callable
from typing import Any

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Requests served at once. More than the 8 concurrent clients bench/api.py measures, so that a few long
# streamed exports do not hold up everything else; each thread holds a database connection only while
# it answers (connections close at the end of each request).
HTTP_THREADS = 16

django_http = WSGIMiddleware(StaticFilesHandler(get_wsgi_application()), workers=HTTP_THREADS)


async def chunked_body_measured(scope: Scope, receive: Receive, send: Send) -> None:
    """A body sent chunked (no Content-Length) is read here and given its length: Django's WSGI request
    reads exactly Content-Length bytes, so it would otherwise see an empty body. BodyLimit, outside,
    bounds what is read: past its limit this sees the client gone and BodyLimit answers 413."""
    headers = dict(scope["headers"])
    if b"content-length" in headers or b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
        await django_http(scope, receive, send)
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    scope = {
        **scope,
        "headers": [
            *((k, v) for k, v in scope["headers"] if k != b"transfer-encoding"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    await django_http(scope, replay, send)


async def protocols(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        # Starts and stops the live feed's relay and the MCP server's session manager.
        await lifespan(scope, receive, send)
    elif scope["type"] == "http" and is_mcp(scope):
        await mcp_http(scope, receive, send)
    elif scope["type"] == "http":
        await chunked_body_measured(scope, receive, send)
    elif scope["type"] == "websocket":
        await live(scope, receive, send)


from api.limits import BodyLimit  # noqa: E402  (imports DRF, which needs the apps loaded)
from api.live.relay import relay_lifespan  # noqa: E402  (the same)
from api.live.routing import websocket_application  # noqa: E402  (the same)
from api.mcp.http import is_mcp, mcp_http  # noqa: E402  (the same)

live = websocket_application()
lifespan = relay_lifespan(mcp_http)

application = BodyLimit(protocols, max_bytes=settings.API_INGEST_MAX_BYTES)

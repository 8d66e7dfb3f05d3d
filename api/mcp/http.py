"""/mcp on the web server: the MCP server over streamable HTTP (the SDK's app), behind the API's access
rule (api/v1/access.py: loopback without a token while API_TRUST_LOOPBACK, anyone else with a valid
Bearer token; not a person's token, docs/team.md) and the host names Django answers to (ALLOWED_HOSTS, which is what keeps a web page that
rebinds its DNS name to 127.0.0.1 from reaching the server). Bodies are capped by BodyLimit around the
whole application (blueplane/asgi.py) and by the SDK's own limit.

The SDK's session manager must run while the server serves: `lifespan` (uvicorn's lifespan messages)
starts it and stops it with the server."""

from typing import Any

import orjson
from anyio import to_thread
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from mcp.server.transport_security import TransportSecuritySettings

from api import tokens
from api.v1.access import Refusal, access_decide
from api.v1.errors import body
from api.viewer import sees

from .server import server_build

PATH = "/mcp"

# Host (and Origin) are checked here against ALLOWED_HOSTS, as for every other URL; the SDK's own check
# knows only a fixed list of loopback names.
_app = server_build().streamable_http_app(
    streamable_http_path=PATH,
    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
)

Scope = dict[str, Any]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def refusal_of(scope: Scope) -> Refusal | None:
    """Why this request may not reach the MCP server, or None (reads the token table: run in a thread)."""
    host, _ = split_domain_port(_header(scope, b"host") or "")
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return Refusal(
            400,
            "bad_request",
            "this server does not answer to the host name the request was sent to; list it in "
            "BLUEPLANE_ALLOWED_HOSTS on the server, or use its address",
        )
    try:
        check = tokens.token_check(_header(scope, b"authorization"))
    finally:
        close_old_connections()
    client = scope.get("client")
    refusal = access_decide(
        address=client[0] if client else None, token=check, trust_loopback=settings.API_TRUST_LOOPBACK
    )
    if refusal is None and sees(check) is not None:
        # The SDK runs each tool in its session's own task, outside this request's context, where the
        # narrowing of telemetry/scope.py would not hold: a person's token is not let in at all.
        return Refusal(
            403,
            "permission_denied",
            "the MCP server over HTTP answers the install's owner and team admins; a person's token reads "
            "its own sessions through the API and the dashboard",
        )
    return refusal


async def mcp_http(scope: Scope, receive: Any, send: Any) -> None:
    """The ASGI app for /mcp and for lifespan events."""
    if scope["type"] == "http":
        refusal = await to_thread.run_sync(refusal_of, scope)
        if refusal is not None:
            payload = orjson.dumps(body(refusal.status, refusal.code, refusal.message))
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            if refusal.status == 401:
                headers.append((b"www-authenticate", b'Bearer realm="blueplane"'))
            await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
    await _app(scope, receive, send)


def is_mcp(scope: Scope) -> bool:
    return scope["path"] == PATH or scope["path"].startswith(PATH + "/")

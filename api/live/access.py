"""Who may open a live feed: the dashboard's rule (api/dashboard/access.py) for a WebSocket handshake.
Loopback is trusted (while API_TRUST_LOOPBACK); anyone else presents a valid token in the
`blueplane_token` cookie (which a browser sends with the handshake once a page set it), `?token=`, or
an Authorization header. A handshake that carries an Origin (a browser's) must come from a page of a
host this server answers to (ALLOWED_HOSTS): browsers do not apply the same-origin rule to WebSockets,
so without this any web site could read a loopback user's feed. A person's token (docs/team.md) is
refused (4403): the feeds are install-wide."""

from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections
from django.http.request import validate_host

from api.dashboard.access import TOKEN_COOKIE, token_presented
from api.v1.access import access_decide
from api.viewer import sees

from .feed import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def origin_allowed(origin: str | None) -> bool:
    """No Origin (not a browser) or a page of a host this server answers to."""
    if origin is None:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


def socket_refusal(scope: Scope, params: dict[str, str]) -> tuple[int, str] | None:
    """None when the connection may go on, else (close code, why). Reads the token table: call it in a
    thread."""
    if not origin_allowed(header(scope, b"origin")):
        return CLOSE_FORBIDDEN, "this live feed answers pages of this server only (the Origin is not allowed)"
    try:
        check = token_presented(
            authorization=header(scope, b"authorization"),
            cookie=_cookie(scope, TOKEN_COOKIE),
            query=params.get("token"),
        )
    finally:
        close_old_connections()
    client = scope.get("client")
    refusal = access_decide(
        address=client[0] if client else None, token=check, trust_loopback=settings.API_TRUST_LOOPBACK
    )
    if refusal is not None:
        return CLOSE_UNAUTHORIZED, refusal.message
    if sees(check) is not None:
        # The feeds are install-wide (every event, figures shared by every connection of a page): a
        # person's token sees only their sessions (docs/team.md), so it gets the pages without the feed.
        return CLOSE_FORBIDDEN, (
            "the live feed shows the whole install; a person's token sees their sessions on the pages "
            "(reload for new data), the owner's or a team admin's token sees the feed"
        )
    return None

"""Who may call the API, /healthz and /metrics (the admin keeps its own login).

The rule, one plain function (access_decide) of the client's address, its credentials and the setting:
- a token that is presented is checked, whoever presents it: a wrong, malformed or revoked token is
  refused even from loopback, so a client learns its token is bad before it moves to another machine;
- with no token, a loopback client (127.0.0.0/8, ::1) is let in while settings.API_TRUST_LOOPBACK is
  on (the default); any other client is refused;
- a valid, unrevoked token lets any client in.
Refusals are 401 with a JSON body saying what to do (RFC 6750's `invalid_token` for revoked tokens is
a 401 too, so a client needs one rule: 401 means fix the credentials).

The client's address is the connection's peer as uvicorn reports it. runweb trusts X-Forwarded-For
only from 127.0.0.1 (a reverse proxy on this machine that sets it gets its clients judged by their
own address); a proxy on this machine that does not set it makes every client look local: turn
BLUEPLANE_API_TRUST_LOOPBACK off behind one.
"""

import ipaddress
import socket
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api import tokens
from api.tokens import TokenCheck, TokenState
from api.viewer import header_only, request_check

HOW_TO_GET_ONE = "create one on the server with `blueplane token create NAME`"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: HTTP status, error code and one sentence for the person reading it."""

    status: int
    code: str
    message: str


def address_is_loopback(address: str | None) -> bool:
    """Whether a client address (as REMOTE_ADDR holds it) is this machine's loopback."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return ip.is_loopback


def access_decide(*, address: str | None, token: TokenCheck, trust_loopback: bool) -> Refusal | None:
    """None when the request may go on, else the Refusal to answer with."""
    state = token.state
    if state is TokenState.VALID:
        return None
    if state is TokenState.MALFORMED:
        return Refusal(
            401,
            "not_authenticated",
            "the Authorization header must be `Bearer <token>` with a token from `blueplane token create`",
        )
    if state is TokenState.UNKNOWN:
        return Refusal(401, "authentication_failed", f"this API token is not known here; {HOW_TO_GET_ONE}")
    if state is TokenState.REVOKED:
        when = f" on {token.revoked_at:%Y-%m-%d %H:%M} UTC" if token.revoked_at else ""
        return Refusal(
            401, "token_revoked", f"the API token {token.name!r} was revoked{when}; {HOW_TO_GET_ONE}"
        )
    if trust_loopback and address_is_loopback(address):
        return None
    return Refusal(
        401,
        "not_authenticated",
        f"requests from {address or 'an unknown address'} need an API token: send `Authorization: Bearer "
        f"<token>`; {HOW_TO_GET_ONE}",
    )


def request_decide(request: HttpRequest) -> tuple[TokenCheck, Refusal | None]:
    """access_decide for a Django request (its token checked once, by api/viewer.py)."""
    check = (
        request_check(request)
        if header_only(request.path)
        else tokens.token_check(request.META.get("HTTP_AUTHORIZATION"))
    )
    address = request.META.get("REMOTE_ADDR")
    return check, access_decide(address=address, token=check, trust_loopback=settings.API_TRUST_LOOPBACK)


def refusal_response(refusal: Refusal) -> JsonResponse:
    """A refusal as the API's JSON error, for the views outside DRF (/healthz, /metrics)."""
    # Imported here: errors imports DRF's views, whose settings import this module's classes.
    from .errors import body

    response = JsonResponse(body(refusal.status, refusal.code, refusal.message), status=refusal.status)
    response["WWW-Authenticate"] = 'Bearer realm="blueplane"'
    return response


class Refused(exceptions.AuthenticationFailed):
    """A Refusal raised inside DRF (the error handler turns it into the JSON error; as an
    AuthenticationFailed it keeps its 401 and gets DRF's WWW-Authenticate header)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message, refusal.code)
        self.status_code = refusal.status
        self.default_code = refusal.code


@dataclass(frozen=True, slots=True)
class TokenClient:
    """request.user of a request that presented a valid token (the API has no user accounts)."""

    token_name: str
    is_authenticated: bool = True


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`. A presented token that is not valid is refused here, wherever
    the request comes from; without one, LoopbackOrToken decides."""

    def authenticate(self, request: Request) -> tuple[TokenClient, TokenCheck] | None:
        check, refusal = request_decide(request._request)
        if check.state is TokenState.VALID:
            return TokenClient(check.name or ""), check
        if check.state is not TokenState.ABSENT and refusal is not None:
            raise Refused(refusal)
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="blueplane"'  # makes DRF answer 401, not 403, to a missing token


class LoopbackOrToken(BasePermission):
    """Loopback clients without a token (while API_TRUST_LOOPBACK), everyone else with a valid one."""

    def has_permission(self, request: Request, view: object) -> bool:
        check = request.auth if isinstance(request.auth, TokenCheck) else TokenCheck(TokenState.ABSENT)
        refusal = access_decide(
            address=request.META.get("REMOTE_ADDR"), token=check, trust_loopback=settings.API_TRUST_LOOPBACK
        )
        if refusal is not None:
            raise Refused(refusal)
        return True


def bind_address_is_loopback(bind: str) -> bool:
    """Whether every address `bind` (an IP or a host name) stands for is loopback."""
    if bind.strip("[]") == "localhost" or address_is_loopback(bind.strip("[]")):
        return True
    try:
        infos = socket.getaddrinfo(bind.strip("[]"), None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(address_is_loopback(str(info[4][0])) for info in infos)


def bind_refusal(bind: str) -> str | None:
    """Why the server must not listen on bind, or None: off loopback every client needs a token, so
    without any live token nobody could use it."""
    if bind_address_is_loopback(bind) or tokens.tokens_exist():
        return None
    return (
        f"refusing to listen on {bind}: clients off this machine need an API token and none exists; "
        f"create one with `blueplane token create NAME`, or listen on loopback (BLUEPLANE_BIND=127.0.0.1)"
    )

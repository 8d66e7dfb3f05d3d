"""Who may see the dashboard: the API's rule (api.v1.access.access_decide), with the token carried the
way a browser can. A page cannot send `Authorization: Bearer`, so a client off this machine opens
`/?token=<token>` once; the token is checked, kept in an HttpOnly cookie (TOKEN_COOKIE, which the
browser also sends with its WebSocket handshakes, see api/live) and taken out of the address bar."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from api.tokens import TokenCheck
from api.v1.access import Refusal, access_decide
from api.viewer import TOKEN_COOKIE, presented_check, request_check

COOKIE_MAX_AGE_S = 30 * 24 * 3600


token_presented = presented_check  # the token a browser presented, by header, query or cookie, checked


def page_decide(request: HttpRequest) -> tuple[TokenCheck, Refusal | None]:
    check = request_check(request)  # by header, query or cookie, checked once (api/viewer.py)
    refusal = access_decide(
        address=request.META.get("REMOTE_ADDR"), token=check, trust_loopback=settings.API_TRUST_LOOPBACK
    )
    return check, refusal


def dashboard_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse (401, a page saying how to get in) or serve; a token given in the query becomes a cookie."""

    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        _, refusal = page_decide(request)
        if refusal is not None:
            body = render_to_string("dashboard/refused.html", {"refusal": refusal}, request=request)
            return HttpResponse(body, status=refusal.status)
        token = request.GET.get("token")
        if token:
            query = request.GET.copy()
            del query["token"]
            target = request.path + (f"?{query.urlencode()}" if query else "")
            response = HttpResponseRedirect(target)
            response.set_cookie(
                TOKEN_COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="Strict",
                secure=request.is_secure(),
            )  # fmt: skip
            return response
        return view(request, *args, **kwargs)

    return checked

"""Who is reading, for every request but the Django admin's (which keeps its own login): the middleware
that narrows every database read of the request to what its caller may see (docs/team.md, "People,
machines and tokens"; the narrowing itself is telemetry/scope.py).

It sits in settings.MIDDLEWARE, so a new view cannot forget it. The caller's token is taken as the
access rule of the path takes it (the API, /healthz and /metrics: the Authorization header only; the
dashboard: the header, then `?token=`, then its cookie) and checked once; the access rules
(api/v1/access.py, api/dashboard/access.py) reuse that check, and still decide whether the request
goes on at all. A streamed response (an export) is read later than the view
returns: its chunks are made inside the same narrowing.
"""

from collections.abc import AsyncIterator, Callable, Iterator

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse, StreamingHttpResponse

from api.tokens import TokenCheck, TokenState, token_check
from telemetry.scope import NOBODY, ScopeRefused, viewing

CHECK_ATTR = "blueplane_token_check"
TOKEN_COOKIE = "blueplane_token"  # api/dashboard/access.py's; here to keep that module out of the API's


def presented_check(*, authorization: str | None, cookie: str | None, query: str | None) -> TokenCheck:
    """The token a client presented, by header, query or cookie (in that order), checked."""
    if authorization:
        return token_check(authorization)
    presented = query or cookie
    return token_check(f"Bearer {presented}" if presented else None)


def header_only(path: str) -> bool:
    """Whether a path's clients authenticate by the Authorization header alone (no cookie: a browser
    would send it with another site's requests too)."""
    return path.startswith("/api/") or path in {"/healthz", "/metrics"}


def request_check(request: HttpRequest) -> TokenCheck:
    """The request's token check, made once per request."""
    check = getattr(request, CHECK_ATTR, None)
    if check is None:
        authorization = request.META.get("HTTP_AUTHORIZATION")
        if header_only(request.path):
            check = token_check(authorization)
        else:
            check = presented_check(
                authorization=authorization,
                cookie=request.COOKIES.get(TOKEN_COOKIE),
                query=request.GET.get("token"),
            )
        setattr(request, CHECK_ATTR, check)
    return check


def sees(check: TokenCheck) -> str | None:
    """The user a caller is narrowed to (None: everything). No token: everything, for whom the access
    rule lets in without one (this machine). A bad token sees nothing (the access rule refuses it)."""
    if check.state is TokenState.ABSENT:
        return None
    if check.state is TokenState.VALID:
        return check.sees_user
    return NOBODY


class ViewerMiddleware:
    """Run each request (and the making of its streamed body) narrowed to its caller's data."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            return self.get_response(request)
        user = sees(request_check(request))
        with viewing(user):
            response = self.get_response(request)
        if isinstance(response, StreamingHttpResponse) and user is not None:
            if response.is_async:
                response.streaming_content = _narrowed_async(response.streaming_content, user)
            else:
                response.streaming_content = _narrowed(response.streaming_content, user)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A read a person's token may not make (telemetry.scope.refuse_if_scoped), outside DRF (whose
        handler answers it itself): 403 saying why."""
        if not isinstance(exception, ScopeRefused):
            return None
        message = str(exception)
        if header_only(request.path):
            return JsonResponse({"status": 403, "error": "permission_denied", "message": message}, status=403)
        return HttpResponseForbidden(message, content_type="text/plain; charset=utf-8")


def _narrowed(chunks: Iterator[bytes], user: str) -> Iterator[bytes]:
    # Each chunk in its own `viewing`: the server may pull every chunk in another thread and context.
    chunks = iter(chunks)
    while True:
        with viewing(user):
            try:
                chunk = next(chunks)
            except StopIteration:
                return
        yield chunk


async def _narrowed_async(chunks: AsyncIterator[bytes], user: str) -> AsyncIterator[bytes]:
    chunks = aiter(chunks)
    while True:
        with viewing(user):
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
        yield chunk

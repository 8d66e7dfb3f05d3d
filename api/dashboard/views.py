"""The dashboard's pages: parse the filters, ask the page's module for its figures, render. Thin."""

from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .access import dashboard_access
from .filters import PERIOD_LABELS, FilterError, filters_parse
from .pages import PAGES
from .pages import session as session_page
from .pages import session_event as session_event_page
from .pages import sessions as sessions_page

TZ_COOKIE = "blueplane_tz"  # the browser's zone, set by the page's first script (base.html)


def _zone_default(request: HttpRequest) -> str:
    # base.html writes the zone URL-encoded (Asia%2FTokyo); Django hands cookies over as they came.
    return unquote(request.COOKIES.get(TZ_COOKIE) or "") or "UTC"


def _bad_request(request: HttpRequest, error: Exception) -> HttpResponse:
    return render(request, "dashboard/bad_request.html", {"message": str(error)}, status=400)


def _not_found(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "dashboard/not_found.html", {"what": what}, status=404)


def _page(request: HttpRequest, name: str, context_extra: dict | None = None, **kwargs) -> HttpResponse:
    try:
        filters = filters_parse(request.GET, tz_default=_zone_default(request))
        figures = PAGES[name](filters, **kwargs)  # a page may refuse its own parameters (FilterError)
    except FilterError as error:
        return _bad_request(request, error)
    if figures is None:
        return _not_found(request, name)
    context = {
        **(context_extra or {}),
        "page": name,
        "filters": filters,
        "figures": figures,
        "args": kwargs,
        "period_choices": PERIOD_LABELS.items(),
    }
    return render(request, f"dashboard/{name}.html", context)


@dashboard_access
def overview(request: HttpRequest) -> HttpResponse:
    return _page(request, "overview", {"choices": sessions_page.people_choices()})


@dashboard_access
def sessions(request: HttpRequest) -> HttpResponse:
    try:
        params = sessions_page.params_parse(request.GET)
    except FilterError as error:
        return _bad_request(request, error)
    context = {"choices": sessions_page.choices(), "orderings": sessions_page.ORDERING_LABELS.items()}
    return _page(request, "sessions", context, **params)


@dashboard_access
def session(request: HttpRequest, session_id: str) -> HttpResponse:
    return _page(request, "session", session_id=session_id)


@dashboard_access
def session_timeline(request: HttpRequest, session_id: str) -> JsonResponse:
    """Earlier items of a session page's timeline (JSON: {"items", "before"}), for its "Show earlier"."""
    try:
        found = session_page.timeline_earlier(
            session_id=session_id,
            platform=request.GET.get("platform") or "",
            before=request.GET.get("before") or "",
        )
    except FilterError as error:
        return JsonResponse({"error": str(error)}, status=400)
    if found is None:
        return JsonResponse({"error": "no such session"}, status=404)
    return JsonResponse(found)


@dashboard_access
def session_event(request: HttpRequest, session_id: str, seq: int | None = None) -> HttpResponse:
    """A session's raw event(s): the one page that shows stored bodies (pages/session_event.py)."""
    try:
        filters = filters_parse(request.GET, tz_default=_zone_default(request))
        found = session_event_page.event_figures(
            session_id=session_id, platform=filters.platform, seq=seq, at=request.GET.get("at") or ""
        )
    except (FilterError, session_event_page.EventError) as error:
        return _bad_request(request, error)
    if found is None:
        return _not_found(request, "session or event")
    context = {"page": "session", "filters": filters, "figures": {}, "period_choices": PERIOD_LABELS.items(),
               "found": found, "body_max": session_event_page.BODY_MAX_BYTES}  # fmt: skip
    return render(request, "dashboard/session_event.html", context)


@dashboard_access
def tools(request: HttpRequest) -> HttpResponse:
    return _page(request, "tools")


@dashboard_access
def projects(request: HttpRequest) -> HttpResponse:
    return _page(request, "projects", {"choices": sessions_page.people_choices()})


@dashboard_access
def pipeline(request: HttpRequest) -> HttpResponse:
    return _page(request, "pipeline")

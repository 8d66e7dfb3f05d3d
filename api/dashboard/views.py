"""The dashboard's pages: parse the filters, ask the page's module for its figures, render. Thin."""

from urllib.parse import unquote

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from .access import dashboard_access
from .filters import PERIOD_LABELS, FilterError, filters_parse
from .pages import PAGES

TZ_COOKIE = "blueplane_tz"  # the browser's zone, set by the page's first script (base.html)


def _page(request: HttpRequest, name: str, **kwargs) -> HttpResponse:
    try:
        # base.html writes the zone URL-encoded (Asia%2FTokyo); Django hands cookies over as they came.
        filters = filters_parse(
            request.GET, tz_default=unquote(request.COOKIES.get(TZ_COOKIE) or "") or "UTC"
        )
    except FilterError as error:
        return render(request, "dashboard/bad_request.html", {"message": str(error)}, status=400)
    figures = PAGES[name](filters, **kwargs)
    if figures is None:
        raise Http404(f"no such {name}")
    context = {
        "page": name,
        "filters": filters,
        "figures": figures,
        "args": kwargs,
        "period_choices": PERIOD_LABELS.items(),
    }
    return render(request, f"dashboard/{name}.html", context)


@dashboard_access
def overview(request: HttpRequest) -> HttpResponse:
    return _page(request, "overview")


@dashboard_access
def sessions(request: HttpRequest) -> HttpResponse:
    return _page(request, "sessions")


@dashboard_access
def session(request: HttpRequest, session_id: str) -> HttpResponse:
    return _page(request, "session", session_id=session_id)


@dashboard_access
def tools(request: HttpRequest) -> HttpResponse:
    return _page(request, "tools")


@dashboard_access
def projects(request: HttpRequest) -> HttpResponse:
    return _page(request, "projects")


@dashboard_access
def pipeline(request: HttpRequest) -> HttpResponse:
    return _page(request, "pipeline")

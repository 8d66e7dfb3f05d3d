"""Operations endpoints outside the versioned API: /healthz and /metrics.

Both answer loopback clients freely and others with a valid token, like the API (api/v1/access.py):
/metrics carries usage and cost: a person's token (docs/team.md) is refused there (403). Prometheus sends one with `authorization: {credentials: <token>}`.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST

from api.v1 import access
from api.v1.errors import body
from telemetry.capture.spool import spool_state
from telemetry.scope import viewer_user
from telemetry.selectors import health

from .metrics import exposition


def spool_read() -> health.SpoolState | None:
    """The capture spool's state for the health report (the selectors do not reach into capture), None
    when it cannot be read. The dashboard's pipeline page reads it here too."""
    try:
        files, waiting, oldest_s = spool_state(str(settings.BLUEPLANE_HOME))
    except OSError:
        return None
    return health.SpoolState(files=files, bytes=waiting, oldest_age_s=oldest_s)


def otlp_endpoint_read() -> str:
    """Where the OTLP receiver listens (the selectors do not reach into capture): for the pipeline page."""
    from telemetry.capture.runtime import otlp_endpoint

    return otlp_endpoint()


def _refused(request: HttpRequest) -> JsonResponse | None:
    if request.method not in {"GET", "HEAD"}:
        message = f"{request.method[:20]} is not allowed here: {request.path} answers GET"
        response = JsonResponse(body(405, "method_not_allowed", message), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    _, refusal = access.request_decide(request)
    return access.refusal_response(refusal) if refusal is not None else None


@csrf_exempt  # nothing here changes state; another method gets a JSON 405, not the CSRF page
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with every check when no check fails, 503 with the failing ones named (telemetry.selectors.
    health says what fails when)."""
    if refused := _refused(request):
        return refused
    report = health.health_report(spool=spool_read())
    response = JsonResponse(report, status=200 if report["healthy"] else 503)
    response["Cache-Control"] = "no-store"
    # A 503 here is an answer, not a server fault: Django would log an ERROR line per probe.
    response._has_been_logged = True
    return response


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (api/metrics.py)."""
    if refused := _refused(request):
        return refused
    if viewer_user() is not None:
        # Install-wide operations figures (usage and cost of everyone): not a person's to read.
        message = "/metrics is the whole install's figures: use the owner's or a team admin's token"
        return JsonResponse(body(403, "permission_denied", message), status=403)
    return HttpResponse(exposition(spool=spool_read), content_type=CONTENT_TYPE_LATEST)

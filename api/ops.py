"""Operations endpoints outside the versioned API: /healthz and /metrics. PLACEHOLDER until the
health and metrics work lands."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from telemetry.selectors import system


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "redis": system.redis_ok()})


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse("", content_type="text/plain")

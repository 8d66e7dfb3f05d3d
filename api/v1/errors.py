"""One error shape for every API failure: JSON with a 4xx status and a message a person understands.

    {"status": 400, "error": "invalid", "message": "tz: unknown time zone 'Mars/Olympus'", "detail": {...}}

`error` is DRF's error code, `message` one sentence, `detail` DRF's field-by-field detail when there is
one. Unknown URLs under /api/ and server errors use the same shape (handler404 / handler500)."""

from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, JsonResponse
from rest_framework import serializers
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from telemetry.scope import ScopeRefused

# A refused value is quoted back at most this long: a megabyte parameter must not make a megabyte error.
_QUOTE_MAX = 200


def clipped(detail: Any) -> Any:
    """detail with every string cut to _QUOTE_MAX characters (DRF quotes invalid values whole)."""
    if isinstance(detail, dict):
        return {clipped(k): clipped(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [clipped(item) for item in detail]
    if isinstance(detail, str) and len(detail) > _QUOTE_MAX:
        return detail[:_QUOTE_MAX] + "..."
    return detail


def message_of(detail: Any) -> str:
    """DRF's detail (a string, a list, or a dict of field -> list) as one line: "field: reason; ..."."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = message_of(value)
            parts.append(text if field in {"non_field_errors", "detail"} else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return "; ".join(message_of(item) for item in detail)
    return str(detail)


def body(status: int, code: str, message: str, detail: Any = None) -> dict:
    out = {"status": status, "error": code, "message": message}
    if detail is not None:
        out["detail"] = detail
    return out


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ScopeRefused):  # install-wide figures asked for with a person's token
        exc = PermissionDenied(str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: a bug, answered by handler500
    code = exc.default_code if isinstance(exc, APIException) else "error"
    data = clipped(response.data)
    detail = data if isinstance(exc, APIException) and isinstance(exc.detail, dict | list) else None
    response.data = body(response.status_code, code, message_of(data), detail)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler404 for /api/: an unknown URL is a JSON 404 like every other API error."""
    message = f"no such endpoint: {request.path} (the API's endpoints are listed at /api/v1/schema/)"
    return JsonResponse(body(404, "not_found", message), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500 for /api/: the same shape, without the internals."""
    return JsonResponse(
        body(500, "server_error", "the server failed to answer; its log says why"), status=500
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler400 for /api/ and the ops endpoints: what Django refuses before any view (a Host header this
    server does not answer to, a malformed request) in the same shape."""
    if isinstance(exception, DisallowedHost):
        message = (
            "this server does not answer to the host name the request was sent to; list it in "
            "BLUEPLANE_ALLOWED_HOSTS on the server, or use its address"
        )
    else:
        message = "the request is malformed"
    return JsonResponse(body(400, "bad_request", message), status=400)


class ErrorSerializer(serializers.Serializer):
    """Every API error, as the schema documents it (the shape `body` writes)."""

    status = serializers.IntegerField(help_text="the HTTP status")
    error = serializers.CharField(help_text="a code, e.g. invalid, not_found, parse_error")
    message = serializers.CharField(help_text="one sentence for a person")
    detail = serializers.JSONField(required=False, help_text="field by field, when there is more than one")

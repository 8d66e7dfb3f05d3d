"""The OpenAPI schema's views (the schema, Swagger UI, ReDoc), and what the schema says about errors: any
operation may answer a 4XX in the one error shape of api/v1/errors.py. drf-spectacular documents only
the successful responses, so without that a client, Swagger UI or the fuzz test (tests/api/test_fuzz.py)
could not tell a refusal from a broken response."""

from types import SimpleNamespace
from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error: a 4xx status with a message a person understands.",
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 499, "description": "the HTTP status"},
        "error": {"type": "string", "description": "a code, e.g. not_found, parse_error, invalid"},
        "message": {"type": "string", "description": "one sentence naming what was wrong"},
        "detail": {"description": "field by field, when the error concerns fields of the request"},
    },
    "required": ["status", "error", "message"],
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def errors_documented(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: the Error component, and a 4XX response of that shape on
    every operation (a status an operation documents itself, e.g. 413, still takes precedence)."""
    # An endpoint's own ErrorSerializer (drf-spectacular names it "Error" too) describes the same shape.
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    error = {
        "description": "The request was refused: unknown id, bad parameter, bad body, missing token...",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method in METHODS:
                operation.setdefault("responses", {}).setdefault("4XX", error)
    return result


SCHEMA_FORMATS = ("json", "yaml")


class FormatParameter(DefaultContentNegotiation):
    """The schema alone takes ?format=json or ?format=yaml, as drf-spectacular documents it: elsewhere
    `format` is a parameter of the reports' own (URL_FORMAT_OVERRIDE is off)."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE="format")

    def select_renderer(self, request, renderers, format_suffix=None):
        chosen = request.query_params.get("format")
        if chosen is not None and chosen not in SCHEMA_FORMATS:
            raise ValidationError({"format": f"{chosen[:80]!r} is not a schema format: use json or yaml"})
        return super().select_renderer(request, renderers, format_suffix)


class JsonErrors:
    """Errors of these views (a method not allowed, a format they cannot give) are JSON like every other
    API error, not rendered by their YAML or HTML renderer."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(JsonErrors, SpectacularAPIView):
    """The OpenAPI schema, YAML unless asked for JSON."""

    content_negotiation_class = FormatParameter


class SwaggerView(JsonErrors, SpectacularSwaggerView):
    pass


class RedocView(JsonErrors, SpectacularRedocView):
    template_name = "api/redoc.html"  # without Google Fonts: the machine may be offline

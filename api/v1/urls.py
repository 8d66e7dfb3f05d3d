"""/api/v1/: each subject's package lists its own routes; the schema and its two viewers are here."""

from types import SimpleNamespace

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

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


from .index import index

app_name = "v1"

urlpatterns = [
    path("", index, name="index"),
    path("", include("api.v1.resources.urls")),
    path("", include("api.v1.reports.urls")),
    path("", include("api.v1.ingest.urls")),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="v1:schema"), name="swagger"),
    path("redoc/", RedocView.as_view(url_name="v1:schema"), name="redoc"),
]

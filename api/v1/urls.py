"""/api/v1/: each subject's package lists its own routes; the schema and its two viewers are here."""

from django.urls import include, path

from .index import index
from .schema import RedocView, SchemaView, SwaggerView

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

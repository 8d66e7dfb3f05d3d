"""/api/v1/: each subject's package lists its own routes; the schema and its two viewers are here."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .index import index

app_name = "v1"

urlpatterns = [
    path("", index, name="index"),
    path("", include("api.v1.resources.urls")),
    path("", include("api.v1.reports.urls")),
    path("", include("api.v1.ingest.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="v1:schema"), name="swagger"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="v1:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
]

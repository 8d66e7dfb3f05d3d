from django.contrib import admin
from django.urls import include, path

from api import ops
from api.v1 import errors

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.v1.urls")),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics, name="metrics"),
    path("", include("api.dashboard.urls")),
]


def _json_errors(request) -> bool:
    return request.path.startswith("/api/") or request.path in {"/healthz", "/metrics"}


def handler400(request, exception=None):
    if _json_errors(request):
        return errors.bad_request(request, exception)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return errors.not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return errors.server_error(request)
    from django.views.defaults import server_error

    return server_error(request)

"""Layer 3 HTTP views. The REST resources arrive with the interfaces issue; health is here from the start."""

from django.db import connection
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.selectors import system


@api_view(["GET"])
def health(request: Request) -> Response:
    """Liveness of the database and Redis, for `blueplane status` and load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Response({"status": "ok", "redis": system.redis_ok()})

"""GET /api/v1/: where things are, so a person (or a script) starting from the root finds every endpoint."""

import re

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


def _routes(patterns: list, prefix: str = "") -> list[str]:
    out = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            out += _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            out.append(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))  # as the schema writes parameters
    return out


@extend_schema(
    summary="The API's endpoints",
    responses=inline_serializer(
        "Index",
        {
            "version": serializers.CharField(),
            "schema": serializers.CharField(help_text="the OpenAPI 3 schema"),
            "docs": serializers.CharField(help_text="Swagger UI"),
            "redoc": serializers.CharField(help_text="ReDoc"),
            "endpoints": serializers.ListField(child=serializers.CharField()),
        },
    ),
)
@api_view(["GET"])
def index(request: Request) -> Response:
    # The module that lists this view, by name: an import of it would be a cycle (tests/test_layers.py).
    urls = get_resolver("api.v1.urls")
    base = "/api/v1/"
    return Response(
        {
            "version": "1",
            "schema": base + "schema/",
            "docs": base + "docs/",
            "redoc": base + "redoc/",
            "endpoints": sorted({base + r for r in _routes(urls.url_patterns)}),
        }
    )

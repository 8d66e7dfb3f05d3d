"""The OpenAPI 3 schema drf-spectacular generates for /api/v1/ validates and is generated without a
warning: a warning means an endpoint whose parameters or responses the schema guesses (and so Swagger UI,
ReDoc, client generators and the fuzz test would get wrong)."""

from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.urls import path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.management.commands.spectacular import SchemaGenerationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from drf_spectacular.validation import validate_schema
from rest_framework.response import Response
from rest_framework.views import APIView


@pytest.fixture
def stats():
    GENERATOR_STATS.reset()
    yield GENERATOR_STATS
    GENERATOR_STATS.reset()


def test_the_schema_validates_and_is_generated_without_warnings(stats, tmp_path, capsys) -> None:
    out = tmp_path / "schema.yml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    except SchemaGenerationError as exc:
        pytest.fail(f"{exc}\n{capsys.readouterr().err}")
    assert out.read_text().startswith("openapi: 3.")


class Guessed(APIView):
    """A view whose responses the schema can only guess: what the check above must catch."""

    def get(self, request):
        return Response({})


urlpatterns = [path("api/v1/guessed/", Guessed.as_view())]


def test_a_view_the_schema_cannot_describe_fails_the_check(stats, settings, tmp_path) -> None:
    settings.ROOT_URLCONF = __name__
    with pytest.raises(SchemaGenerationError, match="warnings"):
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))


def test_every_operation_is_under_api_v1_and_named_once(stats) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    operations = [
        (path, method, operation["operationId"])
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert all(path.startswith("/api/v1/") for path, _, _ in operations), operations
    ids = [operation_id for _, _, operation_id in operations]
    assert len(ids) == len(set(ids))


class Described(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT})
    def post(self, request):
        return Response({})


def test_every_operation_documents_the_error_shape_as_its_4xx(stats, settings) -> None:
    settings.ROOT_URLCONF = SimpleNamespace(urlpatterns=[path("api/v1/described/", Described.as_view())])
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    responses = schema["paths"]["/api/v1/described/"]["post"]["responses"]
    assert responses["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert set(responses) == {"200", "413", "4XX"}  # a status the view documents itself stays
    assert schema["components"]["schemas"]["Error"]["required"] == ["status", "error", "message"]

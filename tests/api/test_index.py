"""GET /api/v1/ names every endpoint the schema documents, and the schema and its viewers."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_the_root_lists_every_documented_endpoint(client) -> None:
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    schema_paths = set(SchemaGenerator().get_schema(request=None, public=True)["paths"])
    assert schema_paths <= set(body["endpoints"])
    assert {body["schema"], body["docs"], body["redoc"]} <= set(body["endpoints"])
    for viewer in (body["schema"], body["docs"], body["redoc"]):
        assert client.get(viewer).status_code == 200, viewer

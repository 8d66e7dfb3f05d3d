"""Shared fixtures: a real Redis (the embedded server, or BLUEPLANE_REDIS_URL) and clean keys per test."""

from collections.abc import Iterator

import pytest
import redis as redis_py
from django.conf import settings

from blueplane.redis_server import EmbeddedRedis
from telemetry.connections import redis_client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The Redis URL every test uses; the embedded server is started once per run and stopped after."""
    if settings.BLUEPLANE_REDIS_URL:
        yield settings.BLUEPLANE_REDIS_URL
        return
    server = EmbeddedRedis(settings.BLUEPLANE_HOME)
    started = server.start()
    yield server.url
    if started:
        server.stop()


@pytest.fixture
def redis(redis_server: str) -> Iterator[redis_py.Redis]:
    """The project's Redis client, on an empty database."""
    client = redis_client()
    client.flushdb()
    yield client
    client.flushdb()

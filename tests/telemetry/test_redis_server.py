"""The embedded Redis keeps queued events across a restart."""

import tempfile
from pathlib import Path

import redis as redis_py

from blueplane.redis_server import EmbeddedRedis


def test_restart_of_embedded_redis_loses_no_queued_event():
    home = Path(tempfile.mkdtemp(prefix="bp-r-"))
    server = EmbeddedRedis(home)
    assert server.start() is True
    try:
        assert server.start() is False  # already running: reused, not started twice
        client = redis_py.Redis.from_url(server.url)
        ids = [client.xadd("telemetry:events", {"event": f"e{i}"}) for i in range(500)]
        client.close()
        assert server.stop() is True
        assert not server.ping()

        assert server.start() is True
        client = redis_py.Redis.from_url(server.url)
        assert [sid for sid, _ in client.xrange("telemetry:events")] == ids
        client.close()
    finally:
        server.stop()


def test_embedded_redis_listens_on_no_tcp_port():
    home = Path(tempfile.mkdtemp(prefix="bp-r-"))
    server = EmbeddedRedis(home)
    server.start()
    try:
        client = redis_py.Redis.from_url(server.url)
        assert client.config_get("port")["port"] == "0"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
    finally:
        server.stop()

"""The live feed across a Redis restart: a Redis of the test's own (EmbeddedRedis, as an install runs
it) under the running web server is stopped and started again on the same socket. The relay logs the
outage once, comes back by itself, and a new client (and one connected throughout) gets events again."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis as redis_py
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from blueplane.redis_server import EmbeddedRedis
from tests.factories import envelope
from tests.live.test_server import WAIT_S, events_until, receive, stored, ws
from tests.support.web import Web, server_env, web_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]


def log_says(web: Web, text: str) -> None:
    for _ in range(WAIT_S * 10):  # a bound on a hang, not a timing
        if text in web.log_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"the server never logged {text!r}: {web.log_text()}")


@contextmanager
def opened_again(web: Web, path: str) -> Iterator[tuple[ClientConnection, dict]]:
    """A client connecting as the page's script does: again (after a short pause) while the server
    answers 1013 (Redis not reachable yet)."""
    for _ in range(WAIT_S * 4):
        with ws(web, path) as socket:
            first = receive(socket)
            if first["type"] == "snapshot":
                yield socket, first
                return
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=WAIT_S)
            assert socket.close_code == 1013, first
        time.sleep(0.25)
    raise AssertionError("the live feed never came back")


def test_the_feed_comes_back_after_redis_restarts(tmp_path, redis_server) -> None:
    home = Path(tempfile.mkdtemp(prefix="bp-live-"))  # short: a unix socket path has a 107-byte bound
    server = EmbeddedRedis(home)
    server.start()
    try:
        client = redis_py.Redis.from_url(server.url, socket_timeout=10)
        with web_server(log=tmp_path / "web.log", env=server_env(server.url)) as web:
            with ws(web, "/ws/events") as throughout:
                assert receive(throughout)["type"] == "snapshot"
                stored(client, [envelope(session_id="r", event_id="before-1")])
                events_until(throughout, {"before-1"})

                server.stop()
                log_says(web, "live feed: Redis unreachable")
                server.start()
                log_says(web, "live feed: Redis is back")

                with opened_again(web, "/ws/events") as (after, first):
                    assert "before-1" in [e["event_id"] for e in first["events"]]  # kept in its file
                    stored(client, [envelope(session_id="r", event_id="after-1")])
                    events_until(after, {"after-1"})  # relayed again
                events_until(throughout, {"after-1"})
                while receive(throughout)["type"] != "snapshot":  # told to resync: it may have missed some
                    pass
            assert web.log_text().count("live feed: Redis unreachable") == 1  # once per outage
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)

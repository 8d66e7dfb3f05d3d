"""The live feed in the running web server (runweb: uvicorn, the relay started by the ASGI lifespan),
over the test database and Redis, with real WebSocket clients: events stored by the real fast path
arrive on /ws/events, and the slow path's change brings fresh figures on /ws/metrics."""

import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from telemetry import tasks
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.support.web import Web, server_env, web_server
from tests.telemetry.test_consumer import drain, make_consumer, publish

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]

WAIT_S = 30  # a bound on a hang, not a timing assertion


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, redis_server, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    with web_server(log=tmp_path_factory.mktemp("live-web") / "web.log", env=env) as server:
        yield server


def ws(web: Web, path: str) -> ClientConnection:
    return connect(web.url.replace("http://", "ws://") + path, open_timeout=WAIT_S, max_size=None)


def receive(socket: ClientConnection) -> dict:
    return json.loads(socket.recv(timeout=WAIT_S))


def events_until(socket: ClientConnection, wanted: set[str]) -> list[dict]:
    """The "events" messages received until every wanted event id came (a snapshot may come between)."""
    seen: set[str] = set()
    messages = []
    while not wanted <= seen:
        message = receive(socket)
        messages.append(message)
        seen.update(e["event_id"] for e in message.get("events", []))
    return messages


def stored(redis, events: list[dict]) -> None:
    publish(redis, events)
    drain(make_consumer(redis))


def test_events_stored_by_the_fast_path_are_pushed_on_ws_events(web: Web, redis) -> None:
    with ws(web, "/ws/events") as everything, ws(web, "/ws/events?session=live-b") as only_b:
        assert receive(everything)["type"] == receive(only_b)["type"] == "snapshot"
        events = [
            envelope(session_id="live-a", event_id="a-1"),
            envelope(session_id="live-b", event_id="b-1"),
        ]
        stored(redis, events)
        got = events_until(everything, {"a-1", "b-1"})
        assert {m["type"] for m in got} <= {"events", "snapshot"}
        mine = events_until(only_b, {"b-1"})
        assert all(e["session_id"] == "live-b" for m in mine for e in m["events"])
    assert "Traceback" not in web.log_text()


def test_the_slow_paths_change_pushes_figures_on_ws_metrics(web: Web, redis) -> None:
    with ws(web, "/ws/metrics?page=overview&tz=UTC") as socket:
        first = receive(socket)
        assert first["type"] == "snapshot" and first["page"] == "overview"
        stored(redis, [envelope(session_id="live-m")])
        tasks.sessions_catch_up()  # commits, then writes its change record on cdc:derived
        message = receive(socket)
        while message["type"] != "figures":
            message = receive(socket)
        assert message["page"] == "overview"
        assert ["claude_code", "live-m"] in message["changed"]["sessions"]


def test_through_real_processes_events_then_figures(web: Web, redis) -> None:
    """XADD to telemetry:events as capture does; `runfastpath` and a Celery worker as subprocesses; the
    web server's relay pushes the stored events, then the figures the worker's commit changed."""
    from tests.test_slowpath_e2e import fastpath, running, worker

    with (
        ws(web, "/ws/events?session=real-1") as events,
        ws(web, "/ws/metrics?page=overview&period=all") as metrics,
        running(worker("live"), fastpath()),
    ):
        assert receive(events)["type"] == receive(metrics)["type"] == "snapshot"
        ids = {f"real-1-{i}" for i in range(3)}
        for event_id in sorted(ids):
            redis.xadd(EVENTS_STREAM, entry(envelope(session_id="real-1", event_id=event_id)))
        events_until(events, ids)
        message = receive(metrics)
        while message["type"] != "figures" or ["claude_code", "real-1"] not in message["changed"]["sessions"]:
            message = receive(metrics)
        assert message["page"] == "overview"


@pytest.mark.parametrize(
    "query, named",
    [
        ("limit=" + "9" * 30, "limit"),  # past 64 bits
        ("session=" + "s" * 7000, "session"),
    ],
)
def test_edge_values_get_a_close_with_a_message(web: Web, query: str, named: str) -> None:
    with ws(web, "/ws/events?" + query) as socket:
        message = receive(socket)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=WAIT_S)
    assert message["type"] == "error" and named in message["message"]
    assert socket.close_code == 4400


def test_a_megabyte_url_is_refused_at_the_handshake_not_with_a_server_error(web: Web) -> None:
    # The WebSocket handshake takes a request line of at most 8 KB (websockets' bound): 414 before the
    # feed sees it. (The feed's own bound on a query, for other servers, is tested in test_consumers.)
    with pytest.raises(InvalidStatus) as refused:
        ws(web, "/ws/events?session=" + "s" * 1_000_000)
    assert 400 <= refused.value.response.status_code < 500

"""The consumers through Channels' WebsocketCommunicator, over the test database and the real Redis (the
channel layer's pub/sub, the change streams): snapshots, filters, live messages relayed by the real
relay, error closes, and the access rule for a client off this machine."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from api import tokens
from api.dashboard.pages import PAGES
from api.live.consumers import EventsConsumer
from api.live.relay import Relay
from api.live.routing import websocket_application
from telemetry import tasks
from telemetry.wire import CDC_STREAM, DERIVED_STREAM
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer, publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

WAIT_S = 20  # how long a test waits for a message (a bound on a hang, not a timing assertion)
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.5", 50000)  # TEST-NET-3: never a real peer, only a scope's address
PROJECT = {"hash": "f00d" * 4, "name": "demo"}


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def communicator(path: str, *, client=LOOPBACK, headers=None) -> WebsocketCommunicator:
    c = WebsocketCommunicator(websocket_application(), path, headers=headers or [])
    c.scope["client"] = client
    return c


async def opened(path: str, **kw) -> tuple[WebsocketCommunicator, dict]:
    """Connected, and its first message (a snapshot) read."""
    c = communicator(path, **kw)
    accepted, _ = await c.connect(timeout=WAIT_S)
    assert accepted
    return c, await c.receive_json_from(timeout=WAIT_S)


async def refused(path: str, **kw) -> tuple[str, int]:
    """(the error message, the close code) of a connection the server refuses after accepting."""
    c = communicator(path, **kw)
    accepted, _ = await c.connect(timeout=WAIT_S)
    assert accepted  # accepted first, so that a browser sees the code
    message = await c.receive_json_from(timeout=WAIT_S)
    closed = await c.receive_output(timeout=WAIT_S)
    assert message["type"] == "error" and closed["type"] == "websocket.close"
    return message["message"], closed["code"]


def stored(redis, events: list[dict]) -> None:
    """Through the real fast path: XADD to telemetry:events, one pass (commit, cdc:events)."""
    publish(redis, events)
    drain(make_consumer(redis))


def test_events_snapshot_holds_the_newest_matching_events_oldest_first(redis):
    stored(redis, [envelope(session_id="s1", event_id=f"s1-{i}") for i in range(5)])
    stored(redis, [envelope(session_id="s2", event_id=f"s2-{i}") for i in range(3)])

    async def scenario():
        everything, first = await opened("/ws/events?limit=4")
        only_s1, second = await opened("/ws/events?session=s1&limit=10")
        cursor, third = await opened("/ws/events?platform=cursor")
        for c in (everything, only_s1, cursor):
            await c.disconnect()
        return first, second, third

    first, second, third = run(scenario)
    assert first["type"] == "snapshot"
    assert [e["event_id"] for e in first["events"]] == ["s1-4", "s2-0", "s2-1", "s2-2"]
    assert [e["event_id"] for e in second["events"]] == [f"s1-{i}" for i in range(5)]
    assert third == {"type": "snapshot", "events": []}
    event = first["events"][-1]
    assert set(event) == {
        "event_id",
        "platform",
        "session_id",
        "project",
        "event_type",
        "timestamp",
        "stored_at",
    }
    assert event["project"] is None  # not derived yet


def test_new_events_are_relayed_to_the_connections_that_match(redis):
    async def scenario():
        relay = Relay(block_ms=100)
        await relay.groups_ensure(relay._client(), start="$")
        everything, _ = await opened("/ws/events")
        only_s2, _ = await opened("/ws/events?session=s2")
        both = [envelope(session_id="s1", event_id="new-1"), envelope(session_id="s2", event_id="new-2")]
        await asyncio.to_thread(stored, redis, both)
        client = relay._client()
        while not await relay.read_once(client):
            pass
        got = (
            await everything.receive_json_from(timeout=WAIT_S),
            await only_s2.receive_json_from(timeout=WAIT_S),
        )
        assert await only_s2.receive_nothing(timeout=0.2)  # s1's event was not for it
        for c in (everything, only_s2):
            await c.disconnect()
        await client.aclose()
        return got

    everything, only_s2 = run(scenario)
    assert everything["type"] == "events"
    assert [e["event_id"] for e in everything["events"]] == ["new-1", "new-2"]
    assert [e["event_id"] for e in only_s2["events"]] == ["new-2"]


def test_a_project_filter_matches_sessions_once_derived(redis):
    stored(redis, [envelope(session_id="p1", event_id="p1-0", metadata={"project": PROJECT})])
    stored(redis, [envelope(session_id="other", event_id="o-0")])
    tasks.sessions_catch_up()  # the slow path: sessions and their projects

    async def scenario():
        by_name, first = await opened("/ws/events?project=demo")
        by_key, second = await opened(f"/ws/events?project={PROJECT['hash']}")
        for c in (by_name, by_key):
            await c.disconnect()
        return first, second

    first, second = run(scenario)
    assert [e["event_id"] for e in first["events"]] == ["p1-0"] == [e["event_id"] for e in second["events"]]
    assert first["events"][0]["project"] == PROJECT["hash"]


def test_metrics_snapshot_then_figures_after_the_slow_path_publishes(redis):
    async def scenario():
        relay = Relay(block_ms=100)
        await relay.groups_ensure(relay._client(), start="$")
        a, snap_a = await opened("/ws/metrics?page=overview&period=30d&tz=UTC")
        b, snap_b = await opened("/ws/metrics?page=overview&tz=UTC&period=30d")
        await asyncio.to_thread(stored, redis, [envelope(session_id="m1")])
        await asyncio.to_thread(tasks.sessions_catch_up)  # commits, then publishes on cdc:derived
        assert redis.xlen(DERIVED_STREAM) == 1
        client = relay._client()
        while not await relay.read_once(client):
            pass
        got = [await a.receive_json_from(timeout=WAIT_S), await b.receive_json_from(timeout=WAIT_S)]
        for c in (a, b):
            await c.disconnect()
        await client.aclose()
        return snap_a, snap_b, got

    snap_a, snap_b, got = run(scenario)
    assert snap_a["type"] == snap_b["type"] == "snapshot" and snap_a["page"] == "overview"
    assert [m["type"] for m in got] == ["figures", "figures"]
    assert got[0]["changed"]["sessions"] == [["claude_code", "m1"]]
    assert got[0]["changed"]["hours"]  # the hour of the event


def test_a_session_page_of_an_unknown_session_is_closed_with_4404(redis, monkeypatch):
    monkeypatch.setitem(PAGES, "session", lambda filters, *, session_id: None)  # the page's "no such"
    message, code = run(lambda: refused("/ws/metrics?page=session&session=nope"))
    assert code == 4404 and "nope" in message


@pytest.mark.parametrize(
    "path, named",
    [
        ("/ws/events?limit=100000000000000000000000", "limit"),
        ("/ws/events?platform=emacs", "platform"),
        ("/ws/events?session=" + "x" * 5000, "session"),
        ("/ws/metrics?page=overview&since=0001-01-01&until=99999-01-01", "until"),
        ("/ws/metrics?page=overview&tz=Nowhere/Else", "tz"),
        ("/ws/metrics?page=admin", "page"),
        ("/ws/metrics", "page"),
        ("/ws/events?x=" + "y" * 10_000, "query"),
    ],
)
def test_bad_filters_get_an_error_and_close_4400(redis, path, named):
    message, code = run(lambda: refused(path))
    assert code == 4400 and named in message


def test_an_unknown_path_is_refused_with_4404_not_a_server_error(redis):
    message, code = run(lambda: refused("/live/"))
    assert code == 4404 and "/live/" in message


def test_a_client_off_this_machine_needs_a_token(redis):
    token = tokens.token_create(name="phone")

    async def scenario():
        refusal = await refused("/ws/events", client=ELSEWHERE)
        bad = await refused("/ws/events?token=bp_wrong", client=ELSEWHERE)
        by_query, _ = await opened(f"/ws/metrics?page=overview&token={token}", client=ELSEWHERE)
        cookie = [(b"cookie", f"blueplane_token={token}".encode())]
        by_cookie, _ = await opened("/ws/events", client=ELSEWHERE, headers=cookie)
        by_header, _ = await opened(
            "/ws/events", client=ELSEWHERE, headers=[(b"authorization", f"Bearer {token}".encode())]
        )
        for c in (by_query, by_cookie, by_header):
            await c.disconnect()
        return refusal, bad

    (message, code), (bad_message, bad_code) = run(scenario)
    assert code == bad_code == 4401
    assert "203.0.113.5" in message and "token" in bad_message


def test_a_page_of_another_site_is_refused_with_4403(redis):
    message, code = run(lambda: refused("/ws/events", headers=[(b"origin", b"https://evil.example")]))
    assert code == 4403 and "Origin" in message
    same_site = [(b"origin", b"http://127.0.0.1:8000")]

    async def allowed():
        c, first = await opened("/ws/events", headers=same_site)
        await c.disconnect()
        return first

    assert run(allowed)["type"] == "snapshot"


def test_a_connection_that_falls_behind_gets_a_fresh_snapshot(redis, settings, monkeypatch):
    """Its writer is held (as a socket that does not drain holds it) while more batches arrive than its
    outbox holds: the backlog is dropped, and once the writer moves again it sends a fresh snapshot."""
    settings.LIVE_OUTBOX_SIZE = 2
    stored(redis, [envelope(session_id="b1", event_id="b1-0")])
    held = asyncio.Event
    gate: dict = {}
    consumers: list[EventsConsumer] = []
    send = EventsConsumer.send
    subscribed = EventsConsumer.subscribed

    async def held_send(self, text_data=None, **kw):
        if '"type":"events"' in (text_data or ""):
            await gate["open"].wait()  # a client that does not read
        return await send(self, text_data=text_data, **kw)

    async def recorded(self):
        consumers.append(self)
        return await subscribed(self)

    monkeypatch.setattr(EventsConsumer, "send", held_send)
    monkeypatch.setattr(EventsConsumer, "subscribed", recorded)

    async def scenario():
        gate["open"] = held()
        c, _ = await opened("/ws/events")
        layer = get_channel_layer()
        for i in range(5):
            text = orjson.dumps({"type": "events", "events": [{"event_id": f"x{i}"}]}).decode()
            await layer.group_send("live.events", {"type": "live.events", "events": [], "text": text})
        outbox = consumers[0].outbox
        for _ in range(WAIT_S * 100):  # until the consumer has heard all five (a bound, not a timing)
            if outbox.dropped >= 4:
                break
            await asyncio.sleep(0.01)
        dropped = outbox.dropped
        gate["open"].set()
        messages = [await c.receive_json_from(timeout=WAIT_S), await c.receive_json_from(timeout=WAIT_S)]
        await c.disconnect()
        return dropped, messages

    dropped, messages = run(scenario)
    assert dropped == 4  # x1 and x2 queued, x3 overflowed (the three dropped), x4 dropped: behind
    assert [m["type"] for m in messages] == ["events", "snapshot"]
    assert messages[0]["events"] == [{"event_id": "x0"}]  # the one the writer held
    assert [e["event_id"] for e in messages[1]["events"]] == ["b1-0"]


def test_a_read_of_more_events_than_a_message_carries_becomes_a_fresh_snapshot(redis):
    async def scenario():
        relay = Relay(block_ms=100, max_events=5)
        await relay.groups_ensure(relay._client(), start="$")
        c, _ = await opened("/ws/events?limit=3")
        many = [envelope(session_id="bulk", event_id=f"bulk-{i}") for i in range(10)]
        await asyncio.to_thread(stored, redis, many)
        client = relay._client()
        while not await relay.read_once(client):
            pass
        message = await c.receive_json_from(timeout=WAIT_S)
        await c.disconnect()
        await client.aclose()
        return message

    message = run(scenario)
    assert message["type"] == "snapshot"
    assert [e["event_id"] for e in message["events"]] == ["bulk-7", "bulk-8", "bulk-9"]


def test_a_page_whose_figures_fail_is_closed_with_1011_and_logged(redis, monkeypatch, caplog):
    def broken(filters):
        raise ZeroDivisionError("a page's bug")

    monkeypatch.setitem(PAGES, "tools", broken)
    message, code = run(lambda: refused("/ws/metrics?page=tools"))
    assert code == 1011 and "could not be computed" in message
    assert "ZeroDivisionError" in caplog.text


def test_without_redis_a_connection_is_closed_with_1013_not_a_server_error(redis, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["unix:///nonexistent/redis.sock"], "prefix": "gone:"},
        }
    }
    message, code = run(lambda: refused("/ws/events"))
    assert code == 1013 and "Redis" in message


def test_the_relay_follows_a_change_stream_that_was_deleted(redis, caplog):
    async def scenario():
        relay = Relay(block_ms=100)
        relay.start()
        try:
            for _ in range(WAIT_S * 100):  # until the relay made its group (a bound, not a timing)
                if await asyncio.to_thread(
                    lambda: redis.exists(CDC_STREAM) and redis.xinfo_groups(CDC_STREAM)
                ):
                    break
                await asyncio.sleep(0.01)
            c, _ = await opened("/ws/events")
            await asyncio.to_thread(redis.delete, CDC_STREAM)  # its group with it
            await asyncio.to_thread(stored, redis, [envelope(session_id="d", event_id="after-delete")])
            message = await c.receive_json_from(timeout=WAIT_S)
            await c.disconnect()
            return message
        finally:
            await relay.stop()

    caplog.set_level("INFO", logger="api.live.relay")
    message = run(scenario)
    assert [e["event_id"] for e in message["events"]] == ["after-delete"]
    assert "following it again" in caplog.text

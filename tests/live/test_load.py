"""The live feed under load, in the running server: a client that never reads does not stop a fast one
getting every update (and itself gets a fresh snapshot once it reads again), and 200 clients of each
endpoint all get an update. No timing is asserted: every wait is a bound on a hang."""

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect as connect_async
from websockets.sync.client import connect

from telemetry import tasks
from tests.factories import envelope
from tests.live.test_server import WAIT_S, events_until, receive, stored, ws
from tests.support.web import Web, server_env, web_server
from tests.telemetry.test_consumer import drain, make_consumer, publish

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]

OUTBOX = 4  # messages a client may fall behind by (BLUEPLANE_LIVE_OUTBOX_SIZE): small, to overflow soon
CLIENTS = 200


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, redis_server, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        env = server_env(redis_server, BLUEPLANE_LIVE_OUTBOX_SIZE=str(OUTBOX))
    with web_server(log=tmp_path_factory.mktemp("live-load") / "web.log", env=env) as server:
        yield server


def test_a_client_that_never_reads_does_not_hold_up_a_fast_one(web: Web, redis) -> None:
    host, port = web.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its kernel buffer fills at once
    sock.connect((host, int(port)))
    # max_queue=1: the client's reading thread stops taking frames off the socket once one waits unread,
    # as a browser tab that is frozen; no compression, so the bytes pile up as sent.
    slow = connect(f"ws://{host}:{port}/ws/events", sock=sock, compression=None, max_queue=1, max_size=None)
    # Batches of 1000 events of ~600 bytes each (ids near their 256-character bound): 16 messages of
    # ~600 KB, more than the server's socket buffers hold (tcp_wmem's maximum is 4 MB here).
    batches, session = 16, "load-" + "s" * 240
    with slow, ws(web, "/ws/events") as fast:
        assert receive(slow)["type"] == receive(fast)["type"] == "snapshot"
        for n in range(batches):
            ids = {f"{n:03d}-{i:04d}-" + "x" * 240 for i in range(1000)}
            publish(redis, [envelope(session_id=session, event_id=event_id) for event_id in sorted(ids)])
            drain(make_consumer(redis, batch_size=1000))
            got = events_until(fast, ids)  # every batch reaches the fast client, one after another
            assert all(m["type"] == "events" for m in got)
        messages = []
        while True:  # the slow client reads at last: what was kept for it, then a fresh snapshot
            message = json.loads(slow.recv(timeout=WAIT_S))
            messages.append(message["type"])
            if message["type"] == "snapshot":
                break
    assert messages.count("events") < batches  # its backlog was dropped, not kept
    assert "Traceback" not in web.log_text()


def test_two_hundred_clients_of_each_endpoint_all_get_the_update(web: Web, redis) -> None:
    base = web.url.replace("http://", "ws://")

    async def one(path: str, wanted, opened: asyncio.Barrier) -> dict:
        async with connect_async(base + path, open_timeout=WAIT_S, max_size=None) as client:
            first = json.loads(await asyncio.wait_for(client.recv(), WAIT_S))
            assert first["type"] == "snapshot"
            await opened.wait()
            async with asyncio.timeout(WAIT_S * 2):
                while True:
                    message = json.loads(await client.recv())
                    if wanted(message):
                        return message

    def has_event(message: dict) -> bool:
        return any(e["event_id"] == "storm-1" for e in message.get("events", []))

    def has_change(message: dict) -> bool:
        return message["type"] == "snapshot" or ["claude_code", "storm"] in message["changed"]["sessions"]

    async def scenario() -> list:
        opened = asyncio.Barrier(2 * CLIENTS + 1)
        clients = [asyncio.create_task(one("/ws/events", has_event, opened)) for _ in range(CLIENTS)]
        clients += [
            asyncio.create_task(one("/ws/metrics?page=overview&period=all", has_change, opened))
            for _ in range(CLIENTS)
        ]
        await opened.wait()  # all 400 connected and past their snapshot
        await asyncio.to_thread(stored, redis, [envelope(session_id="storm", event_id="storm-1")])
        await asyncio.to_thread(tasks.sessions_catch_up)  # the slow path's commit and change record
        return await asyncio.gather(*clients)

    got = asyncio.run(scenario())
    assert len(got) == 2 * CLIENTS
    assert sum(m["type"] in ("events", "snapshot") for m in got[:CLIENTS]) == CLIENTS
    assert all(m["type"] in ("figures", "snapshot") for m in got[CLIENTS:])
    assert "Traceback" not in web.log_text()

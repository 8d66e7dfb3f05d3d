"""The relay: inside the web process, from the change streams to the live feed's Channels groups.

It reads the fast path's `cdc:events` and the slow path's `cdc:derived` with XREADGROUP on a consumer
group of its own (RELAY_GROUP, created at the streams' end: history is the snapshots' business), NOACK
(best effort: nothing is kept pending), blocking about a second, and sends ONE message per read to each
group that has news: the read's events to EVENTS_GROUP (consumers filter them per connection), and
what the slow path changed, merged, to METRICS_GROUP (consumers recompute their page's figures). With
several web processes each entry is read by one of them and published once to every process through
the channel layer (Redis pub/sub).

Projects: the change records name sessions, not projects (the fast path does no reads). The relay
resolves session -> project key through a selector (telemetry.selectors.changes.session_project_keys)
with a small cache. A session the slow path has not derived yet has no project: its events go out with
"project": null, and a /ws/events connection filtered by project does not get them live (it gets them
in a later snapshot, once the session is derived). That is usually the first second of a new session.

Redis going away: the relay retries with backoff (RETRY_FIRST_S doubling to RETRY_MAX_S), logs once per
outage and once when it is back, recreates its group if the stream was lost, and then tells every
connection to take a fresh snapshot (what changed meanwhile was not relayed), and again RESYNC_AGAIN_S
later for connections whose channel-layer subscription came back after the first. Entries older than
STALE_S when read (a backlog after the web server was down) are dropped, not relayed.

Started and stopped with the server by the ASGI lifespan (relay_lifespan, blueplane/asgi.py).
"""

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings

from telemetry.selectors.changes import (
    ChangedEvent,
    change_entry_events,
    derived_changes_merge,
    derived_entry_decode,
    entry_ms,
    session_project_keys,
)
from telemetry.wire import CDC_STREAM, DERIVED_STREAM

from .consumers import EVENTS_GROUP, METRICS_GROUP
from .feed import events_message
from .figures import in_thread

logger = logging.getLogger(__name__)

RELAY_GROUP = "live"
BLOCK_MS = 1000
READ_COUNT = 200  # entries per read: one message per group per read
# More events than this in one read (an import) go out as a "take a snapshot" notice, not as a message
# of every event through pub/sub to every connection.
MAX_EVENTS = 2000  # ~600 KB of JSON at most: within a connection's outbox (outbox.py)
STALE_S = 30
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
PROJECT_CACHE_SIZE = 10_000
UNKNOWN_PROJECT_TTL_S = 2.0
RESYNC_AGAIN_S = 3.0  # a session not derived yet is asked about again after this long

SessionKey = tuple[str, str]


class ProjectCache:
    """session -> project key, bounded (least recently used out). A known project is kept; "not derived
    yet" (None) is kept UNKNOWN_PROJECT_TTL_S, so a busy new session costs a query per interval, not
    per batch."""

    def __init__(self, size: int = PROJECT_CACHE_SIZE) -> None:
        self.size = size
        self._known: OrderedDict[SessionKey, str] = OrderedDict()
        self._unknown: dict[SessionKey, float] = {}

    def missing(self, sessions: set[SessionKey], now: float) -> set[SessionKey]:
        """The sessions to ask the database about."""
        unknown = self._unknown
        return {
            s
            for s in sessions
            if s not in self._known and (s not in unknown or unknown[s] + UNKNOWN_PROJECT_TTL_S <= now)
        }

    def update(self, found: dict[SessionKey, str | None], now: float) -> None:
        for session, key in found.items():
            if key is None:
                self._unknown[session] = now
                continue
            self._unknown.pop(session, None)
            self._known[session] = key
            self._known.move_to_end(session)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        if len(self._unknown) > self.size:
            self._unknown.clear()

    def get(self, session: SessionKey) -> str | None:
        key = self._known.get(session)
        if key is not None:
            self._known.move_to_end(session)
        return key


def entries_split(
    streams: list, *, now_ms: int, stale_ms: int = STALE_S * 1000
) -> tuple[list[ChangedEvent], list[dict], str | None]:
    """An XREADGROUP reply as (events of cdc:events, records of cdc:derived, the newest derived entry
    id), dropping entries older than stale_ms and entries of neither shape."""
    events: list[ChangedEvent] = []
    derived: list[dict] = []
    derived_id = None
    for stream, entries in streams or []:
        name = stream.decode() if isinstance(stream, bytes) else stream
        for entry_id, fields in entries:
            if fields is None or now_ms - entry_ms(entry_id) > stale_ms:
                continue
            if name == CDC_STREAM:
                events.extend(change_entry_events(entry_id, fields))
            elif name == DERIVED_STREAM:
                record = derived_entry_decode(fields)
                if record is not None:
                    derived.append(record)
                    derived_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return events, derived, derived_id


STOP_RETRY_S = 0.5  # how long stop() waits before cancelling the relay again


class Relay:
    def __init__(
        self,
        *,
        url: str | None = None,
        layer: Any = None,
        block_ms: int = BLOCK_MS,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.url = url or settings.REDIS_URL
        self.max_events = max_events
        self.layer = layer
        self.block_ms = block_ms
        self.consumer = f"web-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.projects = ProjectCache()
        self.task: asyncio.Task | None = None
        self.later: asyncio.Task | None = None
        self.relayed = 0  # messages sent to the groups, for tests
        self.outages = 0

    def _client(self) -> aioredis.Redis:
        # The socket timeout must exceed the read's block, or every idle read times out.
        return aioredis.Redis.from_url(
            self.url, socket_timeout=self.block_ms / 1000 + 5, socket_connect_timeout=5
        )

    async def groups_ensure(self, client: aioredis.Redis, *, start: str) -> None:
        for stream in (CDC_STREAM, DERIVED_STREAM):
            try:
                await client.xgroup_create(stream, RELAY_GROUP, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self) -> None:
        """Relay until cancelled; survives Redis faults."""
        self.layer = self.layer or get_channel_layer()
        client = self._client()
        delay = RETRY_FIRST_S
        down_since: float | None = None
        start = "$"  # first start: from now on; after a lost stream, whatever it holds (STALE_S bounds it)
        try:
            while True:
                try:
                    await self.groups_ensure(client, start=start)
                    start = "0"
                    if down_since is not None:
                        logger.warning("live feed: Redis is back after %.1fs", time.monotonic() - down_since)
                        down_since, delay = None, RETRY_FIRST_S
                        await self._resync()
                        self._resync_later()
                    while True:
                        await self.read_once(client)
                except asyncio.CancelledError:
                    raise
                except (redis.RedisError, OSError) as exc:
                    if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                        # The stream was deleted (a flush, a Redis without its file): follow it again.
                        logger.info("live feed: a change stream was lost; following it again")
                        continue
                    # Unreachable, or refusing (LOADING, MISCONF, OOM): an outage either way.
                    if down_since is None:
                        down_since = time.monotonic()
                        self.outages += 1
                        logger.warning("live feed: Redis unreachable (%s); retrying until it is back", exc)
                    await asyncio.sleep(delay * (0.75 + random.random() / 2))
                    delay = min(delay * 2, RETRY_MAX_S)
                except Exception:
                    # Not Redis (the database behind the project look-up, a bug): the feed must go on.
                    logger.exception("live feed: the relay failed a read; going on")
                    await asyncio.sleep(RETRY_MAX_S)
        finally:
            await self._leave(client)

    async def read_once(self, client: aioredis.Redis) -> int:
        """One read and its messages; returns how many messages were sent."""
        reply = await client.xreadgroup(
            RELAY_GROUP, self.consumer, {CDC_STREAM: ">", DERIVED_STREAM: ">"},
            count=READ_COUNT, block=self.block_ms, noack=True,
        )  # fmt: skip
        events, derived, derived_id = entries_split(reply, now_ms=int(time.time() * 1000))
        self.layer = self.layer or get_channel_layer()
        sent = 0
        if len(events) > self.max_events:
            # More than a client could use (a bulk import): a fresh snapshot of the newest instead.
            await self.layer.group_send(EVENTS_GROUP, {"type": "live.resync"})
            sent += 1
        elif events:
            await self._projects_resolve(events)
            await self.layer.group_send(
                EVENTS_GROUP,
                {"type": "live.events", "events": events, "text": events_message("events", events)},
            )
            sent += 1
        if derived:
            change = derived_changes_merge(derived)
            await self.layer.group_send(
                METRICS_GROUP, {"type": "live.changed", "id": derived_id, "changed": change}
            )
            sent += 1
        self.relayed += sent
        return sent

    async def _projects_resolve(self, events: list[ChangedEvent]) -> None:
        now = time.monotonic()
        missing = self.projects.missing({(e["platform"], e["session_id"]) for e in events}, now)
        if missing:
            self.projects.update(await in_thread(session_project_keys, sessions=missing), now)
        for e in events:
            e["project"] = self.projects.get((e["platform"], e["session_id"]))

    async def _resync(self) -> None:
        for group in (EVENTS_GROUP, METRICS_GROUP):
            await self.layer.group_send(group, {"type": "live.resync"})

    def _resync_later(self) -> None:
        # The channel layer's subscriptions come back on their own retry (channels_redis tries again
        # each second): a connection whose subscription was not back yet missed the first resync.
        async def again() -> None:
            await asyncio.sleep(RESYNC_AGAIN_S)
            with contextlib.suppress(redis.RedisError, OSError):
                await self._resync()

        self.later = asyncio.create_task(again())

    async def _leave(self, client: aioredis.Redis) -> None:
        try:
            async with asyncio.timeout(2):
                for stream in (CDC_STREAM, DERIVED_STREAM):
                    await client.xgroup_delconsumer(stream, RELAY_GROUP, self.consumer)
        except (redis.RedisError, OSError, TimeoutError):
            pass  # best effort: a leftover consumer name holds nothing (NOACK keeps no pending entries)
        finally:
            await client.aclose()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Cancel the relay and wait for it. Cancelled again until it ends: redis-py can swallow a
        cancellation that lands while it connects (seen: the relay then read on, and the server's
        shutdown, e.g. after a failed bind, waited forever)."""
        task, self.task = self.task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RETRY_S)
        with contextlib.suppress(asyncio.CancelledError):
            task.result()


App = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def relay_lifespan(app: App) -> App:
    """`app`'s lifespan with the relay started before it starts and stopped after it stops."""
    relay = Relay()

    async def lifespan(scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        async def received() -> dict:
            message = await receive()
            if message["type"] == "lifespan.startup":
                relay.start()
            elif message["type"] == "lifespan.shutdown":
                await relay.stop()
            return message

        await app(scope, received, send)

    lifespan.relay = relay  # type: ignore[attr-defined]
    return lifespan

"""The consumers of /ws/events and /ws/metrics (protocol: api/live/__init__.py). They check access and
filters, subscribe, filter and forward: what they send is read through telemetry.selectors (events) or
computed by api.dashboard.pages (figures, shared per page: figures.py).

Guarantees: best effort. A client gets a snapshot on connect, then what changed while it is connected;
one that falls behind (its outbox overflowed, outbox.py) or was connected while the relay lost Redis
gets a fresh snapshot instead of the backlog. After a snapshot an event may come again in an "events"
message (it was queued before the snapshot was read): clients key events by event_id. A client that
disconnects reconnects and gets a snapshot: nothing is replayed.
"""

import asyncio
import logging
from functools import cache
from typing import Any

import redis
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from api.dashboard.filters import FilterError
from telemetry.connections import redis_client
from telemetry.selectors.changes import events_recent
from telemetry.selectors.sessions import project_keys_named

from .access import socket_refusal
from .feed import (
    CLOSE_BAD_REQUEST,
    CLOSE_NOT_FOUND,
    CLOSE_SERVER_ERROR,
    CLOSE_TRY_AGAIN,
    EventFilters,
    MetricsRequest,
    dumps,
    error_message,
    event_filters_parse,
    event_matches,
    events_message,
    metrics_request_parse,
    query_params,
)
from .figures import hub_for_loop, in_thread
from .outbox import BEHIND, Outbox

logger = logging.getLogger(__name__)

EVENTS_GROUP = "live.events"  # the relay sends {"type": "live.events", "events", "text"} per batch
METRICS_GROUP = "live.metrics"  # and {"type": "live.changed", "id", "changed"} per slow-path change
# Either group: {"type": "live.resync"} after the relay lost Redis (changes may have been missed).


@cache
def _redis() -> redis.Redis:
    """One client (and connection pool) for every snapshot of the process: redis-py's is thread-safe."""
    return redis_client()


class LiveConsumer(AsyncWebsocketConsumer):
    """Access, a bounded outbox and its writer task; subclasses parse their query and make snapshots."""

    groups: list[str] = []

    async def connect(self) -> None:
        self.outbox = Outbox(settings.LIVE_OUTBOX_SIZE)
        self.writer: asyncio.Task | None = None
        self.listening = False
        try:
            params = query_params(self.scope.get("query_string", b""))
        except FilterError as error:
            await self.refuse(CLOSE_BAD_REQUEST, str(error))
            return
        refusal = await in_thread(socket_refusal, self.scope, params)
        if refusal is not None:
            await self.refuse(*refusal)
            return
        try:
            self.parse(params)
        except FilterError as error:
            await self.refuse(CLOSE_BAD_REQUEST, str(error))
            return
        await self.accept()
        # Hear changes before reading the snapshot, so that none falls between the two (one may come
        # twice: after the snapshot, as a change).
        self.listening = True
        await self.subscribed()
        try:
            first = await self.snapshot()
        except LookupError as error:
            await self.refuse(CLOSE_NOT_FOUND, str(error), accepted=True)
            return
        except (redis.RedisError, OSError):
            raise  # Redis: redis_guarded closes with 1013 (try again); a client that left: nothing to do
        except Exception:
            logger.exception("a live snapshot could not be made")
            await self.refuse(
                CLOSE_SERVER_ERROR, "the figures could not be computed (see the server's log)", accepted=True
            )
            return
        await self.send(text_data=first)
        self.writer = asyncio.create_task(self.write())

    async def refuse(self, code: int, message: str, *, accepted: bool = False) -> None:
        """Accept (so that a browser sees the code), say why, close."""
        if not accepted:
            await self.accept()
        await self.send(text_data=error_message(message))
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "writer", None) is not None:
            self.writer.cancel()
        await self.unsubscribed()

    async def write(self) -> None:
        """Send what the outbox holds, at the client's pace (a send waits while its socket is full)."""
        while True:
            item = await self.outbox.take()
            try:
                text = await self.snapshot() if item is BEHIND else item
            except redis.RedisError:
                await self.close(code=CLOSE_TRY_AGAIN)  # the client reconnects, and gets a snapshot then
                return
            except Exception:
                logger.exception("a live snapshot could not be made; the client reconnects for one")
                await self.close(code=CLOSE_SERVER_ERROR)
                return
            try:
                await self.send(text_data=text)
            except OSError:  # the client left (uvicorn's ClientDisconnected): disconnect() follows
                return

    def parse(self, params: dict[str, str]) -> None:
        raise NotImplementedError

    async def snapshot(self) -> str:
        """The snapshot message (LookupError: nothing to show, e.g. no such session)."""
        raise NotImplementedError

    async def subscribed(self) -> None:
        """Connected and the first snapshot sent: start hearing changes."""

    async def unsubscribed(self) -> None:
        """Gone: stop hearing changes."""

    async def live_resync(self, message: dict) -> None:
        if self.listening:
            self.outbox.behind()


class EventsConsumer(LiveConsumer):
    """/ws/events: new events as the fast path commits them, filtered by session, project, platform."""

    groups = [EVENTS_GROUP]  # joined before connect(): nothing is missed between snapshot and stream

    def parse(self, params: dict[str, str]) -> None:
        self.filters: EventFilters = event_filters_parse(params)
        self.project_keys: frozenset[str] | None = None

    async def snapshot(self) -> str:
        if self.filters.project and self.project_keys is None:
            named = await in_thread(project_keys_named, project=self.filters.project)
            self.project_keys = frozenset(named) or frozenset([self.filters.project])
        events = await in_thread(
            events_recent,
            client=_redis(),
            limit=self.filters.limit,
            session=self.filters.session,
            platform=self.filters.platform,
            project_keys=self.project_keys,
        )
        return events_message("snapshot", events)

    async def live_events(self, message: dict) -> None:
        if not self.listening:
            return
        if self.filters.unfiltered:
            self.outbox.put(message["text"])
            return
        matched = [e for e in message["events"] if event_matches(e, self.filters, self.project_keys)]
        if matched:
            self.outbox.put(events_message("events", matched))


class MetricsConsumer(LiveConsumer):
    """/ws/metrics: a page's figures, again after each slow-path change that concerns them."""

    groups = [METRICS_GROUP]

    def parse(self, params: dict[str, str]) -> None:
        self.request: MetricsRequest = metrics_request_parse(params)
        self.hub = hub_for_loop()

    async def snapshot(self) -> str:
        figures = await self.hub.snapshot(self.request)
        if figures is None:
            raise LookupError(f"no such {self.request.page}: {self.request.session_id[:80]!r}")
        return dumps({"type": "snapshot", "page": self.request.page, "figures": figures})

    async def subscribed(self) -> None:
        self.hub.subscribe(self.request, self.outbox.put)

    async def unsubscribed(self) -> None:
        if hasattr(self, "request"):
            self.hub.unsubscribe(self.request, self.outbox.put)

    async def live_changed(self, message: dict) -> None:
        if self.listening:
            self.hub.changed(self.request, message["id"], message["changed"])


class RefusedConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: a clean refusal (close 4404 with a message), not a routing error."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data=error_message(f"no live feed at {self.scope.get('path', '')[:200]}"))
        await self.close(code=CLOSE_NOT_FOUND)


def redis_guarded(app: Any) -> Any:
    """A consumer's ASGI app whose Redis faults (the channel layer's subscription, a snapshot's read:
    Redis is down or restarting) close the connection with 1013 "try again later" and a message instead
    of a server error: the client reconnects with backoff and gets a snapshot once Redis is back."""

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        state = {"accepted": False, "closed": False}

        async def tracked(message: dict) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await app(scope, receive, tracked)
        except redis.RedisError as exc:  # (a client that left is the server's business: not caught)
            logger.warning("live feed: a connection was closed for a Redis fault (%s)", exc)
            if state["closed"]:
                return
            try:
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.send", "text": error_message("Redis is not reachable; try again")}
                )
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
            except Exception:  # the client went meanwhile: nothing to tell it
                return

    return guarded

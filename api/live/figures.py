"""Figures for /ws/metrics, computed once per process for every connection that shows the same page with
the same filters (a topic), not once per connection: 200 clients on the overview cost one query per
change.

- A snapshot (on connect, or for a client that fell behind) joins the topic's computation in flight if
  there is one, else starts one.
- A change (the slow path's record, relayed; every connection of the topic hears the same one, so it is
  taken once per change id) starts a computation that begins after the change. While one runs, further
  changes only mark the topic dirty, and one more run follows: changes arriving faster than the query
  runs coalesce instead of queueing. Runs for changes start at least FIGURES_MIN_INTERVAL_S apart (per page).
- The pipeline page's figures are Redis and health state that move without slow-path commits: its
  topics are also recomputed every PIPELINE_EVERY_S while anyone watches.

Each result goes to the topic's subscribers as one text (serialized once), into their outboxes.
Figures are computed in a worker thread (a database query), never on the event loop.
"""

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection

from api.dashboard.pages import PAGES

from .feed import MetricsRequest, change_concerns, dumps

logger = logging.getLogger(__name__)

PIPELINE_EVERY_S = 1.5
# A topic's figures are computed again at most this often, however fast changes come: at 100 events/s
# over 20 sessions each session page changed ~5 times a second, and computing them all took most of a
# core that the hooks and the slow path needed (bench/live.py). A session's page (its timeline, turns,
# tools and errors) costs several times the overview's. At most this much is added to a figure's
# delay, and only while changes come faster.
FIGURES_MIN_INTERVAL_S = {"session": 0.5}
FIGURES_MIN_INTERVAL_DEFAULT_S = 0.25
COMPUTATIONS_AT_ONCE = 2

Deliver = Callable[[str], object]


def _connected(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # A worker thread keeps its database connection from one call to the next: opening one per call
    # (SQLite's PRAGMAs included) was an eighth of the web server's time under a live load of 100
    # events/s (bench/live.py). A connection that broke is closed; the next call opens a fresh one.
    try:
        return fn(*args, **kwargs)
    except DatabaseError:
        connection.close()
        raise


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) in a worker thread (not the one thread Django's sync_to_async uses by default:
    figures of different pages compute side by side)."""
    return await sync_to_async(_connected, thread_sensitive=False)(fn, *args, **kwargs)


def figures_compute(request: MetricsRequest) -> dict | None:
    """The page's figures (None: a session page's session does not exist)."""
    return PAGES[request.page](request.filters, **request.kwargs())


@dataclass(eq=False)
class Topic:
    request: MetricsRequest
    subscribers: set[Deliver] = field(default_factory=set)
    inflight: asyncio.Future | None = None
    runner: asyncio.Task | None = None
    ticker: asyncio.Task | None = None
    dirty: bool = False
    # Change ids taken lately: every subscriber hears each change, each at its own pace, so one may hear
    # change 1 after another already heard change 2.
    seen: deque = field(default_factory=lambda: deque(maxlen=64))
    changed: dict = field(default_factory=dict)
    runs: int = 0  # computations started, for tests
    started: float = float("-inf")  # time.monotonic() when the last run for a change started


class FiguresHub:
    """The topics of one event loop (hub_for_loop)."""

    def __init__(self, compute: Callable[[MetricsRequest], dict | None] = figures_compute) -> None:
        self.compute = compute
        self.topics: dict[tuple, Topic] = {}
        # At most COMPUTATIONS_AT_ONCE at a time (one per core: SQLite runs a query without the GIL, the
        # Python around it holds it). More side by side only slowed each other and the event loop that
        # sends every push; under load a topic's changes coalesce while it waits its turn.
        self.running = asyncio.Semaphore(COMPUTATIONS_AT_ONCE)

    def subscribe(self, request: MetricsRequest, deliver: Deliver) -> Topic:
        topic = self.topics.get(request.key)
        if topic is None:
            topic = self.topics[request.key] = Topic(request)
        topic.subscribers.add(deliver)
        if request.page == "pipeline" and topic.ticker is None:
            topic.ticker = asyncio.create_task(self._tick(topic))
        return topic

    def unsubscribe(self, request: MetricsRequest, deliver: Deliver) -> None:
        topic = self.topics.get(request.key)
        if topic is None:
            return
        topic.subscribers.discard(deliver)
        if not topic.subscribers:
            del self.topics[request.key]
            if topic.ticker is not None:
                topic.ticker.cancel()

    async def snapshot(self, request: MetricsRequest) -> dict | None:
        """The page's figures now: the computation in flight for the same page and filters, or a new one.
        Raises what the computation raised."""
        topic = self.topics.get(request.key) or Topic(request)
        return await asyncio.shield(self._computation(topic))

    def changed(self, request: MetricsRequest, change_id: str, changed: dict) -> None:
        """A change heard by a subscriber of the topic (each subscriber hears it: taken once per id)."""
        topic = self.topics.get(request.key)
        if topic is None or change_id in topic.seen or not change_concerns(request, changed):
            return
        topic.seen.append(change_id)
        topic.changed = changed
        if topic.runner is not None:
            topic.dirty = True
        else:
            topic.runner = asyncio.create_task(self._run(topic))

    def _computation(self, topic: Topic) -> asyncio.Future:
        if topic.inflight is None or topic.inflight.done():
            topic.runs += 1
            topic.inflight = asyncio.ensure_future(self._compute(topic.request))
        return topic.inflight

    async def _compute(self, request: MetricsRequest) -> dict | None:
        async with self.running:
            return await in_thread(self.compute, request)

    async def _run(self, topic: Topic) -> None:
        try:
            while True:
                topic.dirty = False
                if topic.inflight is not None and not topic.inflight.done():
                    # Started before the change: it may not include it. Let it finish, then start afresh.
                    await asyncio.wait([topic.inflight])
                interval = FIGURES_MIN_INTERVAL_S.get(topic.request.page, FIGURES_MIN_INTERVAL_DEFAULT_S)
                wait = topic.started + interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # changes meanwhile coalesce into this run
                    topic.dirty = False
                topic.started = time.monotonic()
                try:
                    figures = await self._computation(topic)
                except Exception:
                    logger.exception("live figures of %s could not be computed", topic.request.page)
                    figures = None
                if figures is not None:
                    text = dumps(
                        {"type": "figures", "page": topic.request.page, "figures": figures,
                         "changed": topic.changed}
                    )  # fmt: skip
                    for deliver in list(topic.subscribers):
                        deliver(text)
                if not topic.dirty or not topic.subscribers:
                    break
        finally:
            topic.runner = None

    async def _tick(self, topic: Topic) -> None:
        n = 0
        while topic.subscribers:
            await asyncio.sleep(PIPELINE_EVERY_S)
            n += 1
            self.changed(topic.request, f"tick:{id(topic)}:{n}", {"timer": True})


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FiguresHub]" = weakref.WeakKeyDictionary()


def hub_for_loop() -> FiguresHub:
    """The hub of the running event loop (one per process in the server; one per test's loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = FiguresHub()
    return hub

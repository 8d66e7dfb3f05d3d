"""The state of the system itself: database, Redis and the event stream."""

from typing import TypedDict

import redis
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ..connections import redis_client
from ..wire import DLQ_STREAM, EVENTS_STREAM, GROUP


def database_ready() -> bool:
    """Whether the database has every migration applied (`blueplane up` applies them)."""
    executor = MigrationExecutor(connection)
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


def redis_ok() -> bool:
    try:
        return bool(redis_client().ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


class StreamState(TypedDict):
    events: int  # entries in telemetry:events (acknowledged ones are trimmed away)
    pending: int  # read by the fast path, not yet acknowledged
    dead_letters: int  # entries in telemetry:dlq


def stream_state() -> StreamState:
    """Length of the event stream, entries read but not yet acknowledged, and dead letters."""
    client = redis_client()
    try:
        pending = client.xpending(EVENTS_STREAM, GROUP)["pending"]
    except redis.ResponseError:  # no stream or group yet
        pending = 0
    return StreamState(
        events=client.xlen(EVENTS_STREAM), pending=pending, dead_letters=client.xlen(DLQ_STREAM)
    )

"""Reads shared by the API, admin, MCP server and CLI. Interfaces call these, never their own queries."""

import redis
from django.db.models import QuerySet

from .connections import redis_client
from .ingest import rawstore
from .ingest.envelope import session_key
from .models import RAW_TRACE_MODELS, RawTrace


def redis_ok() -> bool:
    try:
        return bool(redis_client().ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def trace_list(*, platform: str, session_id: str | None = None, event_type: str | None = None) -> QuerySet:
    """Index rows of raw traces, newest first; never loads the compressed events."""
    qs = RAW_TRACE_MODELS[platform].objects.order_by("-seq")
    if session_id:
        qs = qs.filter(session_key=session_key(session_id))
    if event_type:
        qs = qs.filter(event_type=event_type)
    return qs


def trace_event(*, trace: RawTrace) -> dict | None:
    """The decompressed event of one raw trace row."""
    return rawstore.event_load(platform=trace.PLATFORM, seq=trace.seq)

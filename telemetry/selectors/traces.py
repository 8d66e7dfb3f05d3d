"""Raw events and their compressed units: index rows as QuerySets, decompressed events one at a time."""

from collections.abc import Sequence

import orjson
from django.db.models import Model, QuerySet

from ..models import RAW_TRACE_MODELS, RawChunk, RawTrace
from ..store import units
from ..store.keys import event_key, event_key_bounds, session_key, timestamp_ms

RAW_PLATFORMS = tuple(RAW_TRACE_MODELS)
STORED_BATCH = 500  # keys per `event_key IN (...)`: well under SQLite's 32,766 bound variables


def trace_list(*, platform: str, session_id: str | None = None, event_type: str | None = None) -> QuerySet:
    """Index rows of raw traces, newest first; never loads the compressed events."""
    qs = RAW_TRACE_MODELS[platform].objects.order_by("-seq")
    if session_id:
        qs = qs.filter(session_key=session_key(session_id))
    if event_type:
        qs = qs.filter(event_type=event_type)
    return qs


def traces_stored(*, platform: str, events: Sequence[tuple[str, str]]) -> list[bool]:
    """Whether each (event_id, timestamp) is stored as a raw trace, in the order given: the unique
    event_key index, looked up in batches. A timestamp the fast path would refuse counts as not stored."""
    keys: list[bytes | None] = []
    for event_id, timestamp in events:
        try:
            keys.append(event_key(event_id, timestamp_ms(timestamp)))
        except ValueError:
            keys.append(None)
    wanted = [key for key in keys if key is not None]
    found: set[bytes] = set()
    rows = RAW_TRACE_MODELS[platform].objects
    for start in range(0, len(wanted), STORED_BATCH):
        batch = wanted[start : start + STORED_BATCH]
        found.update(bytes(k) for k in rows.filter(event_key__in=batch).values_list("event_key", flat=True))
    return [key in found for key in keys]


def trace_event(*, trace: RawTrace) -> dict | None:
    """The decompressed event of one raw trace row."""
    return units.event_load(platform=trace.PLATFORM, seq=trace.seq)


def trace_list_with_units(*, platform: str) -> QuerySet:
    """trace_list joined to each row's unit in the same query (for the session id, which index rows
    store only as a digest); the unit's compressed body is left out."""
    return trace_list(platform=platform).select_related("chunk").defer("chunk__body")


def chunk_list() -> QuerySet:
    """Compressed units, newest first, without their bodies (or the codec's dictionary)."""
    return RawChunk.objects.select_related("codec").defer("body", "codec__dictionary").order_by("-id")


def chunk_events_load(*, chunk_id: int) -> list[bytes] | None:
    """The decompressed events of one unit in stored order, or None if the unit is gone."""
    row = RawChunk.objects.filter(id=chunk_id).values_list("codec_id", "body").first()
    return None if row is None else units.chunk_events(chunk_id, row[0], row[1])


def row_id_span(*, model: type[Model]) -> tuple[int, int] | None:
    """Lowest and highest primary key of a table, or None if it is empty. Two LIMIT 1 reads of the
    primary-key index: cheap on any size, unlike COUNT(*), and SQLite would scan the whole table for
    MIN() and MAX() in one SELECT. hi - lo + 1 bounds the row count from above."""
    ids = model._default_manager.order_by("pk").values_list("pk", flat=True)
    lo = ids.first()
    return None if lo is None else (lo, ids.order_by("-pk").first())


def session_events_page(
    *, platform: str, session_id: str, limit: int, after_seq: int | None = None, before_seq: int | None = None
) -> tuple[list[tuple[int, dict]], bool]:
    """A page of one session's raw events as stored (decoded JSON), in stored (seq) order: the first
    `limit` after `after_seq`, or the last `limit` before `before_seq`. Returns (seq, event) pairs and
    whether more lie beyond them in the direction read. Each unit on the page is read and decompressed
    once, whatever the number of its events on the page: a fixed number of queries per page.

    The one read of raw blobs an interface makes; events archived to Parquet are not in it."""
    if before_seq is not None:
        earlier = list(
            trace_list(platform=platform, session_id=session_id)
            .filter(seq__lt=before_seq)
            .values_list("seq", flat=True)[: limit + 1]
        )
        more = len(earlier) > limit
        if not earlier:
            return [], False
        rows = units.session_events(
            platform=platform, session_id=session_id, after_seq=earlier[limit] if more else 0, limit=limit
        )
        return [(seq, orjson.loads(raw)) for seq, raw in rows if seq < before_seq], more
    rows = units.session_events(
        platform=platform, session_id=session_id, after_seq=after_seq or 0, limit=limit + 1
    )
    return [(seq, orjson.loads(raw)) for seq, raw in rows[:limit]], len(rows) > limit


def session_has_traces(*, platform: str, session_id: str) -> bool:
    """Whether any raw event of this session is stored on `platform` (derived or not): one index probe."""
    return trace_list(platform=platform, session_id=session_id).exists()


def session_trace(*, platform: str, session_id: str, seq: int) -> RawTrace | None:
    """The index row of raw event `seq` if it is one of this session's, else None (a seq from another
    session, or none at all). Never loads the compressed event."""
    if not -(2**63) <= seq < 2**63:
        return None  # no row has it, and SQLite refuses a bound past 64 bits
    model = RAW_TRACE_MODELS[platform]
    return model.objects.filter(seq=seq, session_key=session_key(session_id)).first()


def session_traces_between(
    *, platform: str, session_id: str, start_ms: int, end_ms: int, limit: int
) -> list[RawTrace]:
    """Index rows of the session's raw events with start_ms <= time < end_ms, in time order, at most
    `limit`: a range of the unique event_key index (time first), then the session's digest."""
    lo, hi = event_key_bounds(start_ms, end_ms)
    qs = RAW_TRACE_MODELS[platform].objects.filter(
        event_key__gte=lo, event_key__lt=hi, session_key=session_key(session_id)
    )
    return list(qs.order_by("event_key")[:limit])


def trace_bytes(*, trace: RawTrace) -> bytes | None:
    """The stored bytes (JSON) of one raw trace row, undecoded: a page may show a megabyte event cut
    short without parsing all of it."""
    return units.event_raw(platform=trace.PLATFORM, seq=trace.seq)

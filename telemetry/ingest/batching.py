"""Pure batching logic of the fast path: decide when a batch is due, then decode its entries, group them
into per-session units, compress those, and lay out the index rows and change records, so that
committing the batch is only I/O. No Redis, no database: every rule here is testable on plain values.
"""

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter

import orjson

from ..store.codec import Codec
from ..store.layout import StoredUnit
from .envelope import Event, InvalidEvent, event_decode

EVENT_FIELD = b"event"


@dataclass(slots=True)
class DeadLetter:
    """An entry that will never store: it goes to the dead-letter stream with this reason."""

    stream_id: bytes
    raw: bytes
    reason: str


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)  # every entry's stream id, good or dead


def entries_decode(entries: list[tuple[bytes, dict[bytes, bytes]]], *, max_bytes: int) -> Decoded:
    """Validate stream entries; invalid ones become dead letters, the rest events."""
    out = Decoded()
    for stream_id, fields in entries:
        out.ids.append(stream_id)
        raw = fields.get(EVENT_FIELD) if fields else None
        if raw is None:
            names = sorted(k.decode(errors="replace") for k in fields) if fields else []
            out.dead.append(DeadLetter(stream_id, b"", f"entry has no 'event' field (fields: {names})"))
            continue
        try:
            out.events.append(event_decode(raw, max_bytes=max_bytes))
        except InvalidEvent as exc:
            out.dead.append(DeadLetter(stream_id, raw, str(exc)))
    return out


@dataclass(slots=True)
class Unit:
    """Events of one session in one batch, stored together as one compressed unit."""

    platform: str
    session_id: str
    events: list[Event] = field(default_factory=list)


def units_group(events: list[Event]) -> list[Unit]:
    """Group events by (platform, session) in arrival order, dropping repeats of an event id."""
    units: dict[tuple[str, str], Unit] = {}
    seen: set[bytes] = set()
    for event in events:
        if event.event_key in seen:
            continue
        seen.add(event.event_key)
        key = (event.platform, event.session_id)
        unit = units.get(key)
        if unit is None:
            unit = units[key] = Unit(event.platform, event.session_id)
        unit.events.append(event)
    return list(units.values())


class BatchClock:
    """When to flush: at max_events, or flush_ms after the first entry of the batch arrived."""

    def __init__(self, *, max_events: int, flush_ms: int) -> None:
        self.max_events = max_events
        self.flush_ms = flush_ms
        self.count = 0
        self.started_ms: float | None = None

    def add(self, n: int, now_ms: float) -> None:
        if n and self.started_ms is None:
            self.started_ms = now_ms
        self.count += n

    def room(self) -> int:
        return self.max_events - self.count

    def wait_ms(self, now_ms: float) -> int:
        """How long to block for more entries; 0 means flush now."""
        if self.count >= self.max_events:
            return 0
        if self.started_ms is None:
            return self.flush_ms
        return max(0, int(self.started_ms + self.flush_ms - now_ms))


def index_row(e: Event) -> tuple:
    """An event's index columns, in store.layout.INDEX_COLUMNS order."""
    return (
        e.event_key,
        e.session_key,
        e.source,
        e.event_type,
        e.ts_ms,
        e.model,
        e.tool_name,
        e.input_tokens,
        e.output_tokens,
        e.cache_write_tokens,
        e.cache_read_tokens,
        e.duration_ms,
        e.lines_added,
        e.lines_removed,
        len(e.raw),
    )


@dataclass(slots=True)
class WriteBatch:
    """A batch with its CPU work done: what the commit stores, publishes and acknowledges. Plain values
    only, so that a reader process can hand it to the writing one (reader.py)."""

    entries: int
    ack_ids: list[bytes]  # every entry but the dead letters, which are acknowledged with their XADD
    dead: list[DeadLetter]
    codec_id: int
    units: list[StoredUnit]
    sessions: list[tuple[str, str]]  # (platform, session_id) of each unit
    changes: bytes  # the change records for cdc:events (changes_encode)
    arrived: float  # time.monotonic() when the entries were read (the same clock in every process)
    prepared: float = 0.0  # time.monotonic() when this batch was ready to commit
    # (platform, source, events) of the batch, for the fast path's counters (/metrics)
    sources: list[tuple[str, str, int]] = field(default_factory=list)


def changes_encode(units: list[Unit]) -> bytes:
    """The batch's change records, as published on cdc:events: per session, its new events as
    [event_id, event_type, timestamp] (docs/wire-format.md)."""
    return orjson.dumps(
        [
            {
                "platform": u.platform,
                "session_id": u.session_id,
                "events": [[e.event_id, e.event_type, e.timestamp] for e in u.events],
            }
            for u in units
        ]
    )


_source = attrgetter("source")


def sources_count(units: list[Unit]) -> list[tuple[str, str, int]]:
    """Events per (platform, source), for the fast path's counters."""
    counts: dict[tuple[str, str], int] = {}
    for unit in units:
        # A unit's events nearly always share one source: checked in C (map, list.count), not per event.
        sources = list(map(_source, unit.events))
        if sources.count(sources[0]) == len(sources):
            pairs = [(sources[0], len(sources))]
        else:
            pairs = list(Counter(sources).items())
        for source, n in pairs:
            key = (unit.platform, source)
            counts[key] = counts.get(key, 0) + n
    return [(platform, source, n) for (platform, source), n in counts.items()]


def units_compress(units: list[Unit], codec: Codec) -> list[bytes]:
    return [codec.pack([e.raw for e in unit.events]) for unit in units]


def batch_prepare(
    entries: list[tuple[bytes, dict[bytes, bytes]]], *, codec: Codec, max_bytes: int, arrived: float
) -> WriteBatch:
    """Everything a batch needs before its transaction: validate, group, compress, lay out."""
    decoded = entries_decode(entries, max_bytes=max_bytes)
    units = units_group(decoded.events)
    blobs = units_compress(units, codec)
    dead_ids = {d.stream_id for d in decoded.dead}
    return WriteBatch(
        entries=len(entries),
        ack_ids=[sid for sid in decoded.ids if sid not in dead_ids] if dead_ids else decoded.ids,
        dead=decoded.dead,
        codec_id=codec.id,
        units=[
            StoredUnit(
                u.platform,
                u.session_id,
                sum(len(e.raw) for e in u.events),
                blob,
                [index_row(e) for e in u.events],
            )
            for u, blob in zip(units, blobs, strict=True)
        ],
        sessions=[(u.platform, u.session_id) for u in units],
        changes=changes_encode(units) if units else b"",
        arrived=arrived,
        sources=sources_count(units),
    )

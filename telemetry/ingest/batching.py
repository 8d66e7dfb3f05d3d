"""Pure batching logic of the fast path: decode entries, group them into per-session units, and decide
when a batch is due. No Redis, no database: every rule here is testable on plain values.
"""

from dataclasses import dataclass, field

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

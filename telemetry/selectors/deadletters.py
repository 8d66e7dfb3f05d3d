"""Dead letters: the entries of `telemetry:dlq`, what each was and why it is there.

The fast path writes them (telemetry/ingest/deadletters.py says what a dead letter keeps); `blueplane
dlq` lists, shows, replays and purges them. Reads Redis only.
"""

from datetime import UTC, datetime
from typing import Any, TypedDict

import orjson
import redis

from ..connections import redis_client
from ..wire import DLQ_STREAM


class DeadLetterSummary(TypedDict):
    id: str  # the dead letter's id in telemetry:dlq
    failed_at: datetime | None
    reason: str
    stream_id: str  # the entry's id in telemetry:events when it failed
    consumer: str
    event_bytes: int
    cut: bool  # only the first bytes of the event were kept (it was over the size limit)
    deliveries: int | None  # how often the fast path had been given the entry
    replays: int  # how often it was replayed before (and came back)


class DeadLetter(DeadLetterSummary):
    last_delivered_at: datetime | None
    replay_of: str | None  # the dead letter it was replayed from, if any
    event_sha256: str | None  # when cut
    event: Any  # the event decoded from JSON, or its text if it is not JSON
    event_is_json: bool


def _text(fields: dict[bytes, bytes], name: str) -> str:
    return fields.get(name.encode(), b"").decode(errors="replace")


def _int(fields: dict[bytes, bytes], name: str) -> int | None:
    value = fields.get(name.encode())
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _summary(dead_letter_id: bytes, fields: dict[bytes, bytes]) -> DeadLetterSummary:
    try:
        failed_at = datetime.strptime(_text(fields, "failed_at"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        failed_at = None
    cut = b"event" not in fields and b"event_head" in fields
    return DeadLetterSummary(
        id=dead_letter_id.decode(),
        failed_at=failed_at,
        reason=_text(fields, "reason"),
        stream_id=_text(fields, "stream_id"),
        consumer=_text(fields, "consumer"),
        event_bytes=(_int(fields, "event_bytes") or 0) if cut else len(fields.get(b"event", b"")),
        cut=cut,
        deliveries=_int(fields, "deliveries"),
        replays=_int(fields, "replays") or 0,
    )


def dead_letter_count() -> int:
    return redis_client().xlen(DLQ_STREAM)


def dead_letter_list(*, limit: int = 50) -> list[DeadLetterSummary]:
    """The newest dead letters first, up to limit."""
    return [_summary(sid, fields) for sid, fields in redis_client().xrevrange(DLQ_STREAM, count=limit)]


def dead_letter_get(*, dead_letter_id: str) -> DeadLetter | None:
    """One dead letter with its event (decoded when it is JSON); None if there is no such id. Raises
    ValueError for a string that is not a stream id."""
    try:
        found = redis_client().xrange(DLQ_STREAM, min=dead_letter_id, max=dead_letter_id)
    except redis.ResponseError as exc:
        raise ValueError(f"not a dead-letter id: {dead_letter_id}") from exc
    if not found:
        return None
    sid, fields = found[0]
    raw = fields.get(b"event", fields.get(b"event_head", b""))
    try:
        event, is_json = orjson.loads(raw), True
    except orjson.JSONDecodeError:
        event, is_json = raw.decode(errors="replace"), False
    last_ms = _int(fields, "last_delivered_ms")
    summary = _summary(sid, fields)
    return DeadLetter(
        **summary,
        last_delivered_at=datetime.fromtimestamp(last_ms / 1000, UTC) if last_ms else None,
        replay_of=_text(fields, "replay_of") or None,
        event_sha256=_text(fields, "event_sha256") or None,
        event=event,
        event_is_json=is_json,
    )

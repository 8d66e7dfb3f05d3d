"""Dead letters: the entries of `telemetry:dlq`, what each was and why it is there.

The fast path writes them (telemetry/ingest/deadletters.py says what a dead letter keeps); `blueplane
dlq` lists, shows, replays and purges them. Reads Redis only.
"""

import re
from datetime import UTC, datetime
from typing import Any, TypedDict

import orjson
import redis

from ..connections import redis_client
from ..scope import refuse_if_scoped
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


_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
_U64_MAX = 2**64 - 1


def is_dead_letter_id(text: str) -> bool:
    """Whether text is a stream id (<ms>-<n>, each a 64-bit unsigned number), as dead letters have."""
    refuse_if_scoped("the dead letters")
    return bool(_STREAM_ID.fullmatch(text)) and all(int(part) <= _U64_MAX for part in text.split("-"))


def dead_letter_list(*, limit: int = 50, before: str | None = None) -> list[DeadLetterSummary]:
    """The newest dead letters first, up to limit; with `before` (a dead letter's id), those older than
    it (the next page). Raises ValueError for a `before` that is not a stream id."""
    refuse_if_scoped("the dead letters")
    newest = "+"
    if before is not None:
        if not is_dead_letter_id(before):
            raise ValueError(f"not a dead-letter id: {before[:80]!r} (ids look like 1764066283123-0)")
        ms, seq = (int(part) for part in before.split("-"))
        if ms == seq == 0:
            return []  # nothing is older than the first id (and Redis refuses an exclusive range there)
        newest = f"({ms}-{seq}"
    found = redis_client().xrevrange(DLQ_STREAM, max=newest, count=limit)
    return [_summary(sid, fields) for sid, fields in found]


def reason_kind(reason: str) -> str:
    """A dead letter's reason without the particulars of its event, so reasons can be counted: the text
    before its first ':', '(' or ';', numbers as N ("event is 2000000 bytes, over the 1048576-byte
    limit" -> "event is N bytes, over the N-byte limit")."""
    head = re.split(r"[:(;]", reason, maxsplit=1)[0].strip()
    return re.sub(r"\d+", "N", head)[:200] or "(no reason)"


# Dead letters whose reasons are counted, newest first: past this the counts are of the newest ones
# only (`exact` False). Each is read in Redis by a script that returns its reason alone, so the events
# (up to a megabyte each) never cross the connection.
REASONS_SCAN_MAX = 20_000
_REASONS_PAGE = 200
_REASONS = """
local found = redis.call('XREVRANGE', KEYS[1], ARGV[1], '-', 'COUNT', ARGV[2])
local out = {}
for _, entry in ipairs(found) do
  local f, reason = entry[2], ''
  for k = 1, #f, 2 do
    if f[k] == 'reason' then reason = f[k + 1] break end
  end
  out[#out + 1] = entry[1]
  out[#out + 1] = reason
end
return out
"""


class ReasonCount(TypedDict):
    reason: str  # reason_kind of the reasons counted here
    count: int
    example: str  # the newest reason of this kind, whole
    newest_at: datetime | None  # when the newest of them failed


class DeadLetterCounts(TypedDict):
    total: int  # dead letters in the stream
    counted: int  # the newest ones whose reasons were read (all of them when `exact`)
    exact: bool
    reasons: list[ReasonCount]  # most frequent first


def dead_letter_counts(*, scan_max: int = REASONS_SCAN_MAX) -> DeadLetterCounts:
    """How many dead letters there are and, for the newest scan_max, how many per reason kind."""
    refuse_if_scoped("the dead letters")
    client = redis_client()
    total = client.xlen(DLQ_STREAM)
    script = client.register_script(_REASONS)
    reasons: dict[str, ReasonCount] = {}
    counted, newest = 0, "+"
    while counted < scan_max:
        page = script(keys=[DLQ_STREAM], args=[newest, min(_REASONS_PAGE, scan_max - counted)])
        for sid, text in zip(page[::2], page[1::2], strict=True):
            reason = text.decode(errors="replace")
            kind = reason_kind(reason)
            if kind not in reasons:
                reasons[kind] = ReasonCount(reason=kind, count=0, example=reason, newest_at=_id_time(sid))
            reasons[kind]["count"] += 1
        counted += len(page) // 2
        if len(page) // 2 < _REASONS_PAGE:
            break
        newest = b"(" + page[-2]
    return DeadLetterCounts(
        total=total, counted=counted, exact=counted >= total,
        reasons=sorted(reasons.values(), key=lambda r: (-r["count"], r["reason"])),
    )  # fmt: skip


def _id_time(stream_id: bytes) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(stream_id.split(b"-")[0]) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def dead_letter_get(*, dead_letter_id: str) -> DeadLetter | None:
    """One dead letter with its event (decoded when it is JSON); None if there is no such id. Raises
    ValueError for a string that is not a stream id."""
    refuse_if_scoped("the dead letters")
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

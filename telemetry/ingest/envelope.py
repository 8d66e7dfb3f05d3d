"""The wire contract (docs/wire-format.md): validate one stream entry and extract its index columns.

Pure: no Redis, no database. An entry that breaks the contract raises InvalidEvent with a reason a
person can act on; the consumer dead-letters it and carries on.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..store.keys import event_key, session_key

PLATFORMS = frozenset({"claude_code", "cursor"})
SOURCES = frozenset({"hook", "transcript", "database", "otel", "http"})
MAX_ID_CHARS = 256
MAX_EVENT_TYPE_CHARS = 128
# Who and where (docs/team.md): optional, and as long as Session.user / Session.machine can hold.
MAX_USER_CHARS = 150
MACHINE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_machine_ok = MACHINE_ID.fullmatch


class InvalidEvent(ValueError):
    """The entry breaks the wire contract; str(exc) is the reason stored in the dead-letter stream."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~2x, per event
class Event:
    """One validated event: the bytes to store and the columns to index it by."""

    raw: bytes
    event_id: str
    event_key: bytes
    platform: str
    source: str
    event_type: str
    session_id: str
    session_key: int
    ts_ms: int
    timestamp: str
    model: str | None
    tool_name: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_write_tokens: int | None
    cache_read_tokens: int | None
    duration_ms: int | None
    lines_added: int | None
    lines_removed: int | None


# Required text fields and their length limits, in the order event_decode unpacks them.
_TEXT_FIELDS = (
    ("event_id", MAX_ID_CHARS),
    ("platform", 32),
    ("source", 32),
    ("event_type", MAX_EVENT_TYPE_CHARS),
    ("session_id", MAX_ID_CHARS),
    ("timestamp", 64),
)


def _text_problem(name: str, value: Any, limit: int) -> str:
    if value is None:
        return f"missing field {name!r}"
    if not isinstance(value, str):
        return f"field {name!r} must be a string, got {type(value).__name__}"
    return f"field {name!r} must be 1-{limit} characters, got {len(value)}"


def _envelope_problem(envelope: dict) -> str:
    """Why an envelope that failed event_decode's combined check is invalid: the first broken rule."""
    for name, limit in _TEXT_FIELDS:
        value = envelope.get(name)
        if type(value) is not str or not 0 < len(value) <= limit:
            return _text_problem(name, value, limit)
    if envelope["platform"] not in PLATFORMS:
        return f"unknown platform {envelope['platform']!r}; expected one of {sorted(PLATFORMS)}"
    if envelope["source"] not in SOURCES:
        return f"unknown source {envelope['source']!r}; expected one of {sorted(SOURCES)}"
    payload = envelope.get("payload")
    if type(payload) is not dict:
        return "field 'payload' must be an object" if payload is not None else "missing field 'payload'"
    hook_type = envelope.get("hook_type")
    if hook_type is not None and type(hook_type) is not str:
        return "field 'hook_type' must be a string or null"
    user_id = envelope.get("user_id")
    if user_id is not None and (type(user_id) is not str or not 0 < len(user_id) <= MAX_USER_CHARS):
        if type(user_id) is not str:
            return f"field 'user_id' must be a string or null, got {type(user_id).__name__}"
        return f"field 'user_id' must be 1-{MAX_USER_CHARS} characters, got {len(user_id)}"
    machine_id = envelope.get("machine_id")
    if machine_id is not None and (type(machine_id) is not str or _machine_ok(machine_id) is None):
        if type(machine_id) is not str:
            return f"field 'machine_id' must be a string or null, got {type(machine_id).__name__}"
        return f"field 'machine_id' must be 1-64 of A-Z a-z 0-9 . _ -, got {machine_id[:80]!r}"
    return "field 'metadata' must be an object or null"


def _timestamp_ms(value: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"field 'timestamp' is not ISO 8601: {value[:64]!r}") from None
    if moment.tzinfo is None:
        raise InvalidEvent(f"field 'timestamp' has no time zone: {value[:64]!r}")
    return int(moment.timestamp() * 1000)


def event_decode(raw: bytes, *, max_bytes: int) -> Event:
    """Validate one entry's `event` field. Raises InvalidEvent with the reason."""
    if len(raw) > max_bytes:
        raise InvalidEvent(f"event is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if type(envelope) is not dict:
        raise InvalidEvent(f"envelope must be a JSON object, got {type(envelope).__name__}")

    # One combined check for the common, valid case (this runs for every event on the fast path);
    # _envelope_problem finds the reason when it fails.
    get = envelope.get
    event_id, platform, source = get("event_id"), get("platform"), get("source")
    event_type, session_id, timestamp = get("event_type"), get("session_id"), get("timestamp")
    payload, hook_type, metadata = get("payload"), get("hook_type"), get("metadata")
    user_id, machine_id = get("user_id"), get("machine_id")
    if not (
        type(event_id) is str
        and 0 < len(event_id) <= MAX_ID_CHARS
        and type(platform) is str
        and platform in PLATFORMS
        and type(source) is str
        and source in SOURCES
        and type(event_type) is str
        and 0 < len(event_type) <= MAX_EVENT_TYPE_CHARS
        and type(session_id) is str
        and 0 < len(session_id) <= MAX_ID_CHARS
        and type(timestamp) is str
        and 0 < len(timestamp) <= 64
        and type(payload) is dict
        and (hook_type is None or type(hook_type) is str)
        and (metadata is None or type(metadata) is dict)
        and (user_id is None or (type(user_id) is str and 0 < len(user_id) <= MAX_USER_CHARS))
        and (machine_id is None or (type(machine_id) is str and _machine_ok(machine_id) is not None))
    ):
        raise InvalidEvent(_envelope_problem(envelope))
    ts_ms = _timestamp_ms(timestamp)
    return Event(
        raw,
        event_id,
        event_key(event_id, ts_ms),
        platform,
        source,
        event_type,
        session_id,
        session_key(session_id),
        ts_ms,
        timestamp,
        *_index_columns(payload, metadata),
    )


# The integer index columns are IntegerFields, 32-bit on PostgreSQL: a number outside that range leaves
# its column empty (the event is stored all the same, its bytes keep the number) instead of making the
# database refuse the row. No real count or duration comes near it (2^31 ms is 24 days).
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _count(value: Any) -> int | None:
    # bool is an int subclass; a true/false is not a count.
    return value if type(value) is int and _INT_MIN <= value <= _INT_MAX else None


# The model and tool_name columns hold up to 128 characters (PostgreSQL enforces it): a longer value
# leaves its column empty, like a number out of range, and the event is stored all the same.
MAX_LABEL_CHARS = 128


def _label(value: Any) -> str | None:
    return value if type(value) is str and len(value) <= MAX_LABEL_CHARS else None


def _milliseconds(value: Any) -> int | None:
    if type(value) is float:
        return int(value) if _INT_MIN <= value <= _INT_MAX else None  # NaN fails both bounds
    return _count(value)


def _index_columns(payload: dict, metadata: dict | None) -> tuple:
    """The columns raw-trace queries filter and sum on, from the few places producers put them:
    (model, tool_name, input, output, cache write, cache read tokens, duration_ms, lines +, lines -)."""
    message = payload.get("message")
    if type(message) is dict:
        model, usage, content = message.get("model"), message.get("usage"), message.get("content")
    else:
        model, usage, content = payload.get("model"), payload.get("usage"), None
    tool_name = payload.get("tool_name")
    if tool_name is None and type(content) is list:
        for block in content:
            if type(block) is dict and block.get("type") == "tool_use":
                tool_name = block.get("name")
                break
    if type(usage) is dict:
        tokens = (
            _count(usage.get("input_tokens")),
            _count(usage.get("output_tokens")),
            _count(usage.get("cache_creation_input_tokens")),
            _count(usage.get("cache_read_input_tokens")),
        )
    else:
        tokens = (None, None, None, None)
    duration = payload.get("duration_ms")
    if duration is None:
        duration = payload.get("durationMs", payload.get("duration"))
    lines = (
        (_count(metadata.get("lines_added")), _count(metadata.get("lines_removed")))
        if metadata
        else (None, None)
    )
    return (
        _label(model),
        _label(tool_name),
        *tokens,
        _milliseconds(duration),
        *lines,
    )

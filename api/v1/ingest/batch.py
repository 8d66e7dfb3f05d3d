"""A batch of envelopes posted over HTTP: parsed, checked whole by the fast path's own rules, queued at once.

Guarantee: all or nothing. Every envelope is validated the way the fast path will validate it
(telemetry.ingest.envelope.event_decode on the exact bytes that will be queued) before anything is
sent; one bad envelope refuses the batch with its index and reason. The good batch is queued in one
MULTI/EXEC, so Redis applies every XADD or none. Posting a batch again queues it again, and the store
keeps each event id once (the fast path's INSERT OR IGNORE): retrying is always safe.

What is queued is each envelope re-serialised compactly (orjson), with `source` set to "http" when the
envelope has none (docs/wire-format.md). JSON numbers must fit in 64 bits: orjson, which the fast path
parses with, would silently round a larger one to a float, so such an envelope is refused instead.
"""

import json
import re
from typing import Any

import orjson
import redis

from telemetry.ingest.envelope import InvalidEvent, event_decode
from telemetry.wire import EVENTS_STREAM

DEFAULT_SOURCE = "http"
# What orjson parses exactly: signed and unsigned 64-bit integers.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
# A JSON integer outside that range has 20+ digits, or 19 after a minus sign. A body without such a run
# needs no second look (the common case costs one regex scan); one with it (it may just be a long id
# inside a string) is parsed again by the standard library, which keeps every number as written.
_MAYBE_WIDE = re.compile(rb"\d{20}|-\d{19}")
MACHINE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class BatchRefused(ValueError):
    """The batch is refused whole: status (400 or 413), error code, one sentence, and the index of the
    offending envelope when one is at fault."""

    def __init__(self, status: int, code: str, message: str, *, index: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.index = index
        self.reason = reason


class _Unstorable:
    """A number in the body that the store could not keep exactly. A plain class, not a dataclass:
    orjson serialises dataclasses, and this must make orjson.dumps fail."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _int_checked(text: str) -> int | _Unstorable:
    if len(text) > 21:  # also spares int() a megabyte of digits
        return _Unstorable(text)
    value = int(text)
    return value if _INT_MIN <= value <= _INT_MAX else _Unstorable(text)


def _float_checked(text: str) -> float | _Unstorable:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else _Unstorable(text)


def _constant_refused(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _parse(body: bytes) -> Any:
    """The body's JSON. Numbers the store cannot keep exactly come back as _Unstorable."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # maybe only a number orjson refuses (1e400): the standard library tells
    else:
        if not _MAYBE_WIDE.search(body):
            return value
    try:
        return json.loads(
            body.decode("utf-8"),
            parse_int=_int_checked,
            parse_float=_float_checked,
            parse_constant=_constant_refused,
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise BatchRefused(400, "malformed_json", f"the body is not valid JSON: {reason}") from None


def _unstorable_path(value: Any, path: str = "") -> str | None:
    """Where in an envelope the first _Unstorable number is, as `payload.usage.input_tokens`."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _Unstorable):
            return where or "(the envelope)"
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(node))))
    return None


def _refuse_envelope(index: int, reason: str, *, status: int = 400, code: str = "invalid_envelope"):
    return BatchRefused(
        status, code, f"event {index}: {reason}; nothing was queued", index=index, reason=reason
    )


def machine_id_valid(value: object) -> bool:
    """A forwarding machine's id (docs/team.md): 1-64 of [A-Za-z0-9._-]."""
    return isinstance(value, str) and MACHINE_ID_RE.fullmatch(value) is not None


def batch_check(
    body: bytes, *, max_events: int, max_event_bytes: int, user: str | None = None
) -> list[bytes]:
    """The envelopes of a request body, each as the bytes to queue, in order. Raises BatchRefused.

    With `user` (the token's person, docs/team.md) every envelope's `user_id` becomes it, whatever the
    client sent: set before the envelope is serialised, so the bytes checked are the bytes queued."""
    items = _parse(body)
    if not isinstance(items, list):
        kind = "an object" if isinstance(items, dict) else f"a JSON {type(items).__name__}"
        raise BatchRefused(400, "invalid_batch", f"the body must be a JSON array of envelopes, got {kind}")
    if len(items) > max_events:
        raise BatchRefused(
            413,
            "too_many_events",
            f"the batch has {len(items):,} events, over the limit of {max_events:,} a request "
            "(BLUEPLANE_API_INGEST_MAX_EVENTS); send it in smaller batches",
        )
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _refuse_envelope(index, f"an envelope must be a JSON object, got {_json_kind(item)}")
        if "source" not in item:
            item["source"] = DEFAULT_SOURCE
        if user:
            item["user_id"] = user
        if "machine_id" in item and not machine_id_valid(item["machine_id"]):
            raise _refuse_envelope(index, "field 'machine_id' must be 1-64 letters, digits, '.', '_' or '-'")
        try:
            raw = orjson.dumps(item)
        except orjson.JSONEncodeError as exc:
            where = _unstorable_path(item)
            reason = (
                f"the number at {where} does not fit in 64 bits and would not be stored exactly; "
                "send it as a string"
                if where
                else f"cannot be stored as JSON: {exc}"
            )
            raise _refuse_envelope(index, reason) from None
        if len(raw) > max_event_bytes:
            raise _refuse_envelope(
                index,
                f"the envelope is {len(raw):,} bytes, over the {max_event_bytes:,}-byte limit per event "
                "(BLUEPLANE_MAX_EVENT_BYTES)",
                status=413,
                code="event_too_large",
            )
        try:
            event_decode(raw, max_bytes=max_event_bytes)
        except InvalidEvent as exc:
            raise _refuse_envelope(index, str(exc)) from None
        out.append(raw)
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def batch_queue(client: redis.Redis, events: list[bytes]) -> int:
    """XADD every event to telemetry:events in one MULTI/EXEC: all are queued or none. Returns how many.
    Raises redis.RedisError / OSError when Redis fails (then nothing was queued, or, if only the reply
    was lost, all were: posting again is safe either way)."""
    if not events:
        return 0
    pipe = client.pipeline(transaction=True)
    for raw in events:
        pipe.xadd(EVENTS_STREAM, {"event": raw})
    pipe.execute()
    return len(events)

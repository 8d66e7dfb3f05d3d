"""Envelopes (docs/wire-format.md, "OpenTelemetry events") from Claude Code's OTLP exports.

One envelope per log record, span and metric data point, from an export already decoded into the
OTLP/JSON shape (`resourceLogs` / `resourceMetrics` / `resourceSpans`; the receiver turns protobuf into
the same shape). Pure and deterministic: the same record always gives the same id and timestamp, so a
re-sent export is stored once. Content is privacy-filtered here, before anything reaches Redis.

What cannot become an envelope (another service's records, a record without `session.id` or without a
time) is refused record by record, with the reason, for the OTLP response's `partialSuccess`; the rest
of the export is taken.
"""

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256

from .claude_events import MAX_ID_CHARS, MAX_TYPE_CHARS, iso_from_ns, timestamp_valid
from .privacy import Privacy, identifier

PLATFORM = "claude_code"
SOURCE = "otel"
SERVICE = "claude-code"
SIGNALS = ("logs", "metrics", "traces")

# Attributes that carry what the user typed, the model wrote, or a tool's input (OTEL_LOG_USER_PROMPTS,
# OTEL_LOG_TOOL_DETAILS): summarised unless content is kept, whatever they look like.
CONTENT_KEYS = frozenset(
    {
        "prompt",
        "prompt_text",
        "response",
        "user_prompt",
        "tool_input",
        "tool_parameters",
        "full_command",
        "bash_command",
        "file_path",
        "hook_matcher",
        "command_args",
        "error",
        "description",
        "old_string",
        "new_string",
        "content",
    }
)
# Who the user is: kept as salted hashes only.
PERSON_KEYS = frozenset({"user.id", "user.email", "user.account_uuid", "user.account_id", "organization.id"})
# Free text that names a category, not anyone's content: kept as it is.
LABEL_KEYS = frozenset({"language"})
# Claude Code's own redaction marker: says the content switch was off, and is kept as it is.
REDACTED = "<REDACTED>"
_INT = re.compile(r"-?\d{1,19}")
_FLOAT = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class Conversion:
    """What one export became: envelopes, and the records refused, with one message per reason."""

    envelopes: list[dict] = field(default_factory=list)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def message(self) -> str:
        """The `errorMessage` of a partial success: each reason with its count."""
        return "; ".join(f"{n} {reason}" for reason, n in sorted(self.reasons.items()))


def otlp_envelopes(doc: object, *, signal: str, privacy: Privacy, capture_ns: int) -> Conversion:
    """The envelopes of one export of `signal` (`logs`, `metrics` or `traces`). Raises ValueError when
    the document is not an export of that signal at all (the receiver answers 400)."""
    top = {"logs": "resourceLogs", "metrics": "resourceMetrics", "traces": "resourceSpans"}[signal]
    if not isinstance(doc, dict) or not isinstance(doc.get(top, []), list):
        raise ValueError(f"not an OTLP {signal} export: expected an object with a list `{top}`")
    out = Conversion()
    capture_ts = iso_from_ns(capture_ns)
    for resource_block in doc.get(top) or []:
        if not isinstance(resource_block, dict):
            raise ValueError(f"`{top}` holds a {type(resource_block).__name__}, not an object")
        resource = attributes_read((resource_block.get("resource") or {}).get("attributes"))
        records = list(_records(resource_block, signal))
        if resource.get("service.name") != SERVICE:
            for _ in records:
                out.refuse(f"not from {SERVICE} (service.name {str(resource.get('service.name'))[:40]!r})")
            continue
        metadata = {
            "capture": SOURCE,
            "capture_ts": capture_ts,
            "resource": _filtered(resource, privacy),
            "content_kept": privacy.store_content,
        }
        for scope, record in records:
            try:
                envelope = _envelope(signal, record, privacy)
            except (_Refused, NestingError) as refused:
                out.refuse(str(refused))
                continue
            envelope["metadata"] = {**metadata, "scope": scope}
            out.envelopes.append(envelope)
    return out


class _Refused(Exception):
    """A record that cannot become an envelope; its message is the reason."""


def _records(block: dict, signal: str) -> Iterator[tuple[dict, dict]]:
    """(scope, record) of one resource block: log records, spans, or metric data points (each point
    paired with its metric, as {"metric": ..., "point": ..., "kind": sum/gauge/...})."""
    scopes_key, items_key = {
        "logs": ("scopeLogs", "logRecords"),
        "traces": ("scopeSpans", "spans"),
        "metrics": ("scopeMetrics", "metrics"),
    }[signal]
    for scope_block in _list(block.get(scopes_key), scopes_key):
        scope_raw = scope_block.get("scope") if isinstance(scope_block.get("scope"), dict) else {}
        scope = {"name": _short(scope_raw.get("name")), "version": _short(scope_raw.get("version"))}
        for item in _list(scope_block.get(items_key), items_key):
            if signal != "metrics":
                yield scope, item
                continue
            for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                if isinstance(item.get(kind), dict):
                    for point in _list(item[kind].get("dataPoints"), "dataPoints"):
                        yield scope, {"metric": item, "kind": kind, "data": item[kind], "point": point}
                    break


def _list(value: object, name: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"`{name}` must be a list of objects")
    return value


def _envelope(signal: str, record: dict, privacy: Privacy) -> dict:
    if signal == "logs":
        return _log(record, privacy)
    if signal == "traces":
        return _span(record, privacy)
    return _point(record, privacy)


def _log(record: dict, privacy: Privacy) -> dict:
    attributes = attributes_read(record.get("attributes"))
    session = _session(attributes)
    body = value_read(record.get("body"))
    name = attributes.get("event.name")
    if not isinstance(name, str) or not name:
        name = body.removeprefix("claude_code.") if isinstance(body, str) and body else "log"
    sequence = attributes.get("event.sequence")
    sequence = sequence if isinstance(sequence, int) else None
    event_time = attributes.get("event.timestamp")
    ns = _ns(record.get("timeUnixNano")) or _ns(record.get("observedTimeUnixNano"))
    timestamp = event_time if timestamp_valid(event_time) else (iso_from_ns(ns) if ns else None)
    if timestamp is None:
        raise _Refused("log records without a time")
    if sequence is not None and timestamp_valid(event_time):
        natural = f"cc:o:log:{session}:{event_time}:{sequence}"
    else:
        natural = ""
    payload = {
        "signal": "log",
        "name": name,
        "sequence": sequence,
        "attributes": _filtered(attributes, privacy),
        "time_unix_nano": ns,
    }
    return _make(natural, "cc:o:log:", record, name, session, timestamp, payload, privacy)


def _span(record: dict, privacy: Privacy) -> dict:
    attributes = attributes_read(record.get("attributes"))
    session = _session(attributes)
    name = _short(record.get("name")) or "span"
    start, end = _ns(record.get("startTimeUnixNano")), _ns(record.get("endTimeUnixNano"))
    if not start:
        raise _Refused("spans without a start time")
    trace, span = _hex(record.get("traceId")), _hex(record.get("spanId"))
    status = record.get("status") if isinstance(record.get("status"), dict) else {}
    events = [
        {
            "name": _short(e.get("name")),
            "time_unix_nano": _ns(e.get("timeUnixNano")),
            "attributes": _filtered(attributes_read(e.get("attributes")), privacy),
        }
        for e in _list(record.get("events"), "events")
    ]
    payload = {
        "signal": "span",
        "name": name,
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": _hex(record.get("parentSpanId")),
        "start_unix_nano": start,
        "end_unix_nano": end,
        "status_code": status.get("code") if isinstance(status.get("code"), int) else 0,
        "attributes": _filtered(attributes, privacy),
        "events": events,
    }
    natural = f"cc:o:span:{trace}:{span}" if trace and span else ""
    return _make(natural, "cc:o:span:", record, name, session, iso_from_ns(start), payload, privacy)


_TEMPORALITY = {1: "delta", 2: "cumulative"}


def _point(record: dict, privacy: Privacy) -> dict:
    metric, data, point, kind = record["metric"], record["data"], record["point"], record["kind"]
    name = _short(metric.get("name")) or "metric"
    if kind not in ("sum", "gauge"):
        raise _Refused(f"{kind} data points (not read)")
    attributes = attributes_read(point.get("attributes"))
    session = _session(attributes)
    time_ns, start_ns = _ns(point.get("timeUnixNano")), _ns(point.get("startTimeUnixNano"))
    if not time_ns:
        raise _Refused("metric points without a time")
    value = _number(point["asDouble"] if point.get("asDouble") is not None else point.get("asInt"))
    if value is None:
        raise _Refused("metric points without a finite value")
    temporality = "gauge" if kind == "gauge" else _TEMPORALITY.get(data.get("aggregationTemporality"))
    if temporality is None:
        raise _Refused("sums without a temporality")
    payload = {
        "signal": "metric",
        "name": name,
        "unit": _short(metric.get("unit")),
        "temporality": temporality,
        "monotonic": data.get("isMonotonic") is True,
        "start_unix_nano": start_ns,
        "time_unix_nano": time_ns,
        "value": value,
        "attributes": _filtered(attributes, privacy),
    }
    identity = dumps_canonical([name, sorted(attributes.items()), start_ns, time_ns])
    natural = f"cc:o:metric:{_salted(identity, privacy)}"
    return _make(natural, "cc:o:metric:", record, name, session, iso_from_ns(time_ns), payload, privacy)


def _make(
    natural: str, prefix: str, record: dict, name: str, session: str, timestamp: str, payload: dict, privacy
) -> dict:
    if not natural or len(natural) > MAX_ID_CHARS:
        natural = prefix + _salted(dumps_canonical(record), privacy)
    return {
        "event_id": natural,
        "platform": PLATFORM,
        "source": SOURCE,
        "event_type": name[:MAX_TYPE_CHARS],
        "session_id": session,
        "timestamp": timestamp,
        "payload": payload,
        "hook_type": None,
    }


def _session(attributes: dict) -> str:
    session = attributes.get("session.id")
    if not isinstance(session, str) or not session or len(session) > MAX_ID_CHARS:
        raise _Refused("records without a usable session.id")
    return session


def dumps_canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _salted(text: str, privacy: Privacy) -> str:
    return sha256(privacy._key + b"\0" + text.encode("utf-8", "surrogatepass")).hexdigest()


# --- OTLP values ------------------------------------------------------------------------------------


# How deep array and key-value list values may nest. Claude Code's are flat; a deeper one could not be
# stored (the store's JSON encoder stops at 255 levels), so its record is refused rather than crash.
NESTING_MAX = 32


class NestingError(ValueError):
    """An attribute value nested deeper than NESTING_MAX."""


def attributes_read(raw: object, _depth: int = 0) -> dict:
    """OTLP `attributes` ([{key, value: AnyValue}]) as a plain object, values unwrapped and coerced."""
    out: dict = {}
    if not isinstance(raw, list):
        return out
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _coerced(item["key"], value_read(item.get("value"), _depth))
    return out


def value_read(raw: object, _depth: int = 0) -> object:
    """An OTLP AnyValue as a plain value. int64 arrives as a JSON string or number; one past 64 bits is
    kept as its text (the store's JSON holds 64-bit integers only). NestingError past NESTING_MAX."""
    if _depth > NESTING_MAX:
        raise NestingError(f"attribute values nested deeper than {NESTING_MAX} levels")
    if not isinstance(raw, dict):
        return None
    if "stringValue" in raw:
        return raw["stringValue"] if isinstance(raw["stringValue"], str) else str(raw["stringValue"])
    if "boolValue" in raw:
        return raw["boolValue"] is True
    if "intValue" in raw:
        return _int(raw["intValue"])
    if "doubleValue" in raw:
        return _number(raw["doubleValue"])
    if "arrayValue" in raw:
        values = (raw["arrayValue"] or {}).get("values") if isinstance(raw["arrayValue"], dict) else None
        return [value_read(v, _depth + 1) for v in values] if isinstance(values, list) else []
    if "kvlistValue" in raw:
        values = (raw["kvlistValue"] or {}).get("values") if isinstance(raw["kvlistValue"], dict) else None
        return attributes_read(values, _depth + 1)
    if "bytesValue" in raw:
        return str(raw["bytesValue"])
    return None


def _int(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        number = int(value)
        return number if _INT64[0] <= number <= _INT64[1] else value
    return value if isinstance(value, str) else None


def _number(value: object) -> int | float | None:
    """A finite number from an OTLP double or int (JSON may spell either as a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if _INT.fullmatch(text):
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _coerced(key: str, value: object) -> object:
    """Claude Code sends some numbers and flags as strings (`"duration_ms": "21"`, `"success": "true"`):
    as their types, except in ids (an all-digit id stays text)."""
    if not isinstance(value, str) or key.endswith(("id", ".id", "_id")) or key in CONTENT_KEYS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if _INT.fullmatch(value):
        number = int(value)
        return number if _INT64[0] <= number <= _INT64[1] else value
    if _FLOAT.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else value
    return value


def _filtered(attributes: dict, privacy: Privacy) -> dict:
    """The attributes as they may be stored: people hashed, content summarised unless kept, paths
    hashed, long or free text summarised."""
    out = {}
    for key, value in attributes.items():
        if key in PERSON_KEYS and value is not None:
            out[key] = privacy.digest(str(value))
        elif privacy.store_content or value is None or value == REDACTED:
            out[key] = value
        elif key in CONTENT_KEYS:
            out[key] = privacy.content(value)
        elif isinstance(value, str):
            if value.startswith(("/", "~", "\\")) or value[1:3] == ":\\":
                out[key] = privacy.path(value)
            else:
                keep = identifier(value) or (key in LABEL_KEYS and len(value) <= 64)
                out[key] = value if keep else privacy.content(value)
        elif isinstance(value, dict | list):
            out[key] = _filtered(value, privacy) if isinstance(value, dict) else privacy.content(value)
        else:
            out[key] = value
    return out


def _ns(value: object) -> int | None:
    """Nanoseconds since the epoch (fixed64: a JSON string or number); None for 0 (unset), or past what
    64 signed bits hold (year 2262)."""
    number = _int(value)
    if not isinstance(number, int) or number <= 0:
        return None
    return number


def _hex(value: object) -> str:
    """A trace or span id as lower-case hex (OTLP/JSON spells them in hex)."""
    return value.lower()[:64] if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{1,64}", value) else ""


def _short(value: object) -> str:
    return value[:MAX_TYPE_CHARS] if isinstance(value, str) else ""

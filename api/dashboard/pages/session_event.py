"""A session's raw-event view: the one dashboard page that shows a raw event's stored body (the envelope
as capture stored it, decompressed through telemetry.selectors.traces). Either one event by its stored
seq, or the events stored around a moment of the session (what a timeline row links to: a derived row
keeps no pointer to the events it came from, but it has their time).

A body is shown up to BODY_MAX_BYTES, then cut with a note: a megabyte event must not hang the page."""

import contextlib
from datetime import UTC, datetime

import orjson

from telemetry.selectors.sessions import session_stored_platforms
from telemetry.selectors.traces import (
    RAW_PLATFORMS,
    session_has_traces,
    session_trace,
    session_traces_between,
    trace_bytes,
)

from .session import session_resolve

BODY_MAX_BYTES = 64 * 1024
AROUND_MS = 1000  # a timeline row's events: those stored within a second of its time
AROUND_MAX = 50  # index rows listed around a moment (their bodies are not loaded)
BODIES_MAX = 5  # bodies shown around a moment: the events at that very millisecond, else the nearest


class EventError(ValueError):
    """A parameter of the raw-event view it cannot use (a 400)."""


def _body(raw: bytes) -> dict:
    """The event's JSON, indented, cut at BODY_MAX_BYTES. An event far past that is shown as stored
    (one line), not parsed and indented whole only to be cut."""
    text = None
    if len(raw) <= 4 * BODY_MAX_BYTES:
        with contextlib.suppress(orjson.JSONDecodeError):  # not JSON: shown as stored
            text = orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode()
    encoded = raw if text is None else text.encode()
    cut = len(encoded) > BODY_MAX_BYTES
    shown = encoded[:BODY_MAX_BYTES].decode("utf-8", errors="ignore" if cut else "replace")
    return {"text": shown, "bytes": len(raw), "truncated": cut}


def _event(trace: object, *, at_ms: int | None = None, body: bool = True) -> dict:
    raw = trace_bytes(trace=trace) if body else None
    return {
        "seq": trace.seq,
        "platform": trace.PLATFORM,
        "source": trace.source,
        "event_type": trace.event_type,
        "timestamp": datetime.fromtimestamp(trace.ts_ms / 1000, UTC),
        "exact": at_ms is not None and trace.ts_ms == at_ms,
        "body": None if raw is None else _body(raw),
        "loaded": body,
    }


def at_parse(value: str) -> int:
    """Epoch ms of ?at= (ISO 8601 with a zone, as the page's timeline writes it); EventError if not."""
    try:
        moment = datetime.fromisoformat(value[:64])
        if moment.tzinfo is None:
            raise ValueError
        return int(moment.timestamp() * 1000)  # as the store computes an event's ts_ms
    except (ValueError, OverflowError):
        raise EventError(f"at: {value[:40]!r} is not a time with its zone (ISO 8601)") from None


def event_figures(
    *, session_id: str, platform: str = "", seq: int | None = None, at: str = ""
) -> dict | None:
    """The session and its raw event `seq`, or its events around `at`: the bodies of those at that very
    millisecond (else of the nearest few) and, as `nearby`, the others within AROUND_MS (index rows, no
    body). None if there is no such session or event."""
    session = session_resolve(session_id=session_id, platform=platform)
    if session is not None:
        session_id, platforms = session.session_id, [session.platform]
    else:  # not derived (yet, or ever): its raw events are there all the same
        platforms = session_stored_platforms(session_id=session_id, platform=platform or None) or [
            p
            for p in RAW_PLATFORMS
            if (not platform or p == platform) and session_has_traces(platform=p, session_id=session_id)
        ]
    if not platforms:
        return None
    out = {
        "session_id": session_id,
        "platform": platforms[0],
        "seq": seq,
        "at": at,
        "events": [],
        "nearby": [],
    }
    if seq is not None:
        trace = session_trace(platform=platforms[0], session_id=session_id, seq=seq)
        if trace is None:
            return None
        out["events"] = [_event(trace)]
        return out
    if at:
        at_ms = at_parse(at)
        traces = session_traces_between(
            platform=platforms[0], session_id=session_id, start_ms=at_ms - AROUND_MS, end_ms=at_ms + AROUND_MS + 1,
            limit=AROUND_MAX,
        )  # fmt: skip
        exact = [t for t in traces if t.ts_ms == at_ms]
        shown = {t.seq for t in (exact or sorted(traces, key=lambda t: abs(t.ts_ms - at_ms)))[:BODIES_MAX]}
        out["events"] = [_event(t, at_ms=at_ms) for t in traces if t.seq in shown]
        out["nearby"] = [_event(t, at_ms=at_ms, body=False) for t in traces if t.seq not in shown]
    return out

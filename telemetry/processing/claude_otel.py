"""Claude Code's OpenTelemetry records (docs/wire-format.md, "OpenTelemetry events") -> derived facts.

Pure, like claude.py, which dispatches here for `source == "otel"`. OTel is joined to hooks and
transcripts on the keys Claude Code gives (docs/metrics.md, "one ledger with provenance"):
- an API call: `request_id` = the transcript's `requestId`: the turn `:<request_id>` (an error
  `api_error::<request_id>`), whichever source saw it;
- a tool call: `tool_use_id`;
- a prompt: `prompt.id` = the hook's `prompt_id` and the transcript's `promptId`.

The rule is that OTel never changes what a transcript or hook says: its token counts travel apart
(`TurnFact.otel_usage`) and count only for a call nothing else saw; its turn times are `weak` and its
tool call times and error type sit in the `otel_*` fields of ToolFact, used only for calls nothing
else saw. Metric points become MetricFacts (MetricPoint rows), and every log record's `event.sequence`
a SequenceFact, from which recompute.py counts possibly lost records.

Records that say nothing the derived tables keep (Claude Code's configuration and hook bookkeeping,
the session counter) make no fact at all, so they make no session either: `--continue` sends them
under a throwaway session id.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from hashlib import blake2b
from typing import Any

import orjson

from .bounds import TOKENS_MAX
from .facts import (
    Fact,
    IssueFact,
    IssueKind,
    MetricFact,
    SequenceFact,
    SessionFact,
    ToolFact,
    TurnFact,
)
from .pricing import price_apply, price_find, price_table_load

# Log events and metrics stored raw but never derived (docs/metrics.md, "What is not derived").
LOGS_IGNORED = frozenset(
    {"hook_registered", "plugin_loaded", "managed_settings_resolved", "hook_execution_start",
     "hook_execution_complete"}
)  # fmt: skip
METRICS_IGNORED = frozenset({"claude_code.session.count"})

# Metric attributes that are not kept in MetricPoint.attributes: the session and the person (columns
# or hashes of their own), and those that become the `model` and `kind` columns.
_METRIC_DROPPED = frozenset(
    {"session.id", "user.id", "user.email", "user.account_uuid", "user.account_id", "organization.id",
     "model", "type", "decision"}
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION_MAX_MS = 365 * 24 * 3600 * 1000
_NS_MAX = 253_402_214_400 * 10**9  # 9999-12-30: later times are no column's (bounds.TIME_MAX)
_METRIC_PLACES = Decimal("0.000000001")  # MetricPoint.value's precision
_METRIC_BIG = Decimal(10) ** 21  # past MetricPoint.value's digits: not quantized, bounds.py clamps it
_DETAIL_TEXT_MAX = 200
_COST_TEXT_PLACES = Decimal("1e-10")


def otel_facts(
    *, seq: int, session: str, ts: datetime, event_id: str, payload: Mapping[str, Any]
) -> list[Fact]:
    """The facts of one OTel envelope (session, time and payload already read by claude_facts)."""
    signal = payload.get("signal")
    attributes = payload.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    name = _str(payload.get("name"))
    if signal == "log":
        facts: list[Fact] = []
        sequence = payload.get("sequence")
        if type(sequence) is int:
            facts.append(SequenceFact(session, ts, sequence))
        if name in LOGS_IGNORED:
            return facts
        facts.extend(_log_facts(seq, session, ts, name, attributes))
    elif signal == "span":
        facts = _span_facts(session, ts, name, payload, attributes)
    elif signal == "metric":
        if name in METRICS_IGNORED:
            return []
        facts = _metric_facts(seq, session, ts, event_id, name, payload, attributes)
    else:
        return [IssueFact(session, seq, IssueKind.UNKNOWN_RECORD, f"otel signal {_str(signal)[:80]!r}")]
    facts.append(SessionFact(session, ts))
    return facts


# --- log events -------------------------------------------------------------------------------------


def _log_facts(seq: int, session: str, ts: datetime, name: str, a: Mapping) -> list[Fact]:
    if name == "api_request":
        return _api_request(seq, session, ts, a)
    if name == "api_error":
        request = _str(a.get("request_id"))
        key = f"api_error::{request}" if request else f"api_error:seq:{seq}"
        detail: dict = {"sources": ["otel"]}
        for field in ("status_code", "attempt"):
            if _is_int(a.get(field)):
                detail[field] = a[field]
        error = _error_hash(a.get("error"))
        if error:
            detail["error_hash"] = error
        return [TurnFact(session, key, "api_error", ts, agent_id=_str(a.get("agent_id")),
                         request_id=request, weak=True, detail=detail)]  # fmt: skip
    if name == "user_prompt":
        prompt_id = _str(a.get("prompt.id"))
        # A slash command (/compact, /model) has no message.uuid: it is not a prompt, as in transcripts.
        if not prompt_id or not _str(a.get("message.uuid")):
            return []
        detail = {"sources": ["otel"]}
        if _is_int(a.get("prompt_length")):
            detail["prompt_length"] = a["prompt_length"]
        return [TurnFact(session, f"prompt:{prompt_id}", "user_prompt", ts, weak=True, detail=detail)]
    if name in ("tool_decision", "tool_result"):
        return _tool_event(seq, session, ts, name, a)
    return []  # assistant_response, compaction, subagent_completed: what they say, other rows hold


def _api_request(seq: int, session: str, ts: datetime, a: Mapping) -> list[Fact]:
    request = _str(a.get("request_id"))
    if not request:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "api_request without request_id")]
    model = _str(a.get("model"))
    inp, out, read = (
        _tokens(a.get("input_tokens")),
        _tokens(a.get("output_tokens")),
        _tokens(a.get("cache_read_tokens")),
    )
    write_1h = _tokens(a.get("cache_creation_1h_tokens"))
    write = a.get("cache_creation_tokens")
    if write is None:
        write_5m = _tokens(a.get("cache_creation_5m_tokens"))
        write = write_5m + write_1h if _is_int(write_5m) and _is_int(write_1h) else write_5m
    else:
        write = _tokens(write)
    table = price_table_load()
    price = price_find(table=table, model=model)
    cost = None
    counts = (inp, out, read, write, write_1h)
    # Counts of another type or out of range are fitted by bounds.py (with a data issue): no price then.
    if price is not None and all(_is_int(c) and 0 <= c <= TOKENS_MAX for c in counts) and write >= write_1h:
        cost = price_apply(price=price, input_tokens=inp, output_tokens=out, cache_write_5m_tokens=write - write_1h,
                           cache_write_1h_tokens=write_1h, cache_read_tokens=read)  # fmt: skip
    reading = (inp, out, read, write, write_1h, _decimal_text(a.get("cost_usd")))
    return [
        TurnFact(session, f":{request}", "assistant_response", ts, model=model, input_tokens=inp,
                 output_tokens=out, cache_write_tokens=write, cache_write_1h_tokens=write_1h,
                 cache_read_tokens=read, cost_usd=cost, price_table=table.version,
                 agent_id=_str(a.get("agent_id")), request_id=request, otel_usage=reading, weak=True)
    ]  # fmt: skip


def _tool_event(seq: int, session: str, ts: datetime, name: str, a: Mapping) -> list[Fact]:
    tool_id = _str(a.get("tool_use_id"))
    if not tool_id:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, f"{name} without tool_use_id")]
    request = _str(a.get("request_id"))
    common = {
        "tool_name": _str(a.get("tool_name")),
        "message_key": f":{request}" if request else "",
        "agent_id": _str(a.get("agent_id")),
        "seen_in_otel": True,
    }
    if name == "tool_decision":
        decision, source = _str(a.get("decision"))[:16], _str(a.get("source"))[:32]
        rejected = decision == "reject"
        verdict = ("user_rejected" if source.startswith("user") else "permission_denied") if rejected else ""
        return [ToolFact(session, tool_id, status="rejected" if rejected else "pending", decision=decision,
                         decision_source=source, otel_started_at=ts, otel_error_type=verdict, **common)]  # fmt: skip
    duration = a.get("duration_ms")
    duration = duration if _is_int(duration) and 0 <= duration <= _DURATION_MAX_MS else None
    failed = a.get("success") is False
    return [
        ToolFact(session, tool_id, status="failure" if failed else "success",
                 otel_error_type=_str(a.get("error_type"))[:128] if failed else "",
                 otel_duration_ms=duration, otel_finished_at=ts,
                 otel_started_at=ts - timedelta(milliseconds=duration) if duration is not None else None,
                 **common)
    ]  # fmt: skip


# --- spans ------------------------------------------------------------------------------------------


def _span_facts(session: str, ts: datetime, name: str, p: Mapping, a: Mapping) -> list[Fact]:
    end = _time_ns(p.get("end_unix_nano"))
    if name == "claude_code.llm_request":
        return _llm_request(session, ts, end, p, a)
    tool_id = _str(a.get("tool_use_id")) or _str(a.get("gen_ai.tool.call.id"))
    if not tool_id:
        return []  # the interaction span, and tool.blocked_on_user (tool_decision says the same)
    if name == "claude_code.tool":
        return [ToolFact(session, tool_id, _str(a.get("tool_name")), seen_in_otel=True,
                         otel_started_at=ts, otel_finished_at=end)]  # fmt: skip
    if name == "claude_code.tool.execution":
        duration = a.get("duration_ms")
        duration = duration if _is_int(duration) and 0 <= duration <= _DURATION_MAX_MS else None
        failed = a.get("success") is False or p.get("status_code") == 2
        # Its times too, so the fact has an hour to count in even when it is the call's first news.
        return [ToolFact(session, tool_id, status="failure" if failed else "success", seen_in_otel=True,
                         otel_duration_ms=duration, otel_started_at=ts, otel_finished_at=end)]  # fmt: skip
    return []


def _llm_request(session: str, ts: datetime, end: datetime | None, p: Mapping, a: Mapping) -> list[Fact]:
    """A request's attempts, on its turn: only when it failed or was retried (a span alone, like the
    `/model` probe's, is no API call of the ledger)."""
    request = _str(a.get("request_id")) or _str(a.get("gen_ai.response.id"))
    attempts = a.get("attempt") if _is_int(a.get("attempt")) else 1
    events = [
        e for e in p.get("events") or () if isinstance(e, dict) and e.get("name") == "gen_ai.request.attempt"
    ]
    numbered = [e["attributes"].get("attempt") for e in events if isinstance(e.get("attributes"), dict)]
    attempts = max([attempts, len(events), *(n for n in numbered if _is_int(n))])
    failed = a.get("success") is False or p.get("status_code") == 2
    if not request or (attempts <= 1 and not failed):
        return []
    detail = {"sources": ["otel"], "attempts": attempts}
    moment = end or ts
    if failed:
        return [TurnFact(session, f"api_error::{request}", "api_error", moment, request_id=request,
                         weak=True, detail=detail)]  # fmt: skip
    return [TurnFact(session, f":{request}", "assistant_response", moment, request_id=request, weak=True,
                     detail=detail, tokens_known=True)]  # fmt: skip


# --- metrics ----------------------------------------------------------------------------------------


def _metric_facts(
    seq: int, session: str, ts: datetime, event_id: str, name: str, p: Mapping, a: Mapping
) -> list[Fact]:
    value = _metric_value(p.get("value"))
    temporality = _str(p.get("temporality"))
    if value is None or temporality not in ("delta", "cumulative", "gauge"):
        return [
            IssueFact(
                session, seq, IssueKind.MISSING_FIELD, f"metric {name[:60]} without value or temporality"
            )
        ]
    start_ns = p.get("start_unix_nano")
    # One series per name, attributes and start time: every Claude Code process starts its own.
    series = blake2b(
        orjson.dumps([name, sorted(a.items(), key=lambda kv: kv[0]), start_ns if _is_int(start_ns) else None],
                     default=str),
        digest_size=16,
    ).hexdigest()  # fmt: skip
    kind = _str(a.get("type")) or _str(a.get("decision"))
    kept = {
        k: v[:_DETAIL_TEXT_MAX] if isinstance(v, str) else v
        for k, v in a.items()
        if k not in _METRIC_DROPPED and (isinstance(v, str | bool) or _is_int(v) or isinstance(v, float))
    }
    return [
        MetricFact(session, event_id, name[:128], ts, value, temporality, series,
                   start_time=_time_ns(start_ns), model=_str(a.get("model"))[:128], kind=kind[:64],
                   attributes=kept)
    ]  # fmt: skip


def _metric_value(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number.quantize(_METRIC_PLACES) if abs(number) < _METRIC_BIG else number


# --- values -----------------------------------------------------------------------------------------


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_int(value: Any) -> bool:
    return type(value) is int


def _tokens(value: Any) -> Any:
    """A token count as sent: integers (and whole floats) as int, nothing as 0, anything else as it is
    for bounds.py to fit and report."""
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _decimal_text(value: Any) -> str:
    """Claude Code's cost as decimal text ("" when it sent none): its figure, without the float noise
    of its JSON (0.09138299999999999 is 0.091383; ten places are finer than any price)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
        if not number.is_finite() or abs(number) >= _METRIC_BIG:
            return ""
        number = number.quantize(_COST_TEXT_PLACES).normalize()
    except InvalidOperation:
        return ""
    return format(number, "f")


def _time_ns(value: Any) -> datetime | None:
    if not _is_int(value) or value <= 0 or value >= _NS_MAX:
        return None
    return _EPOCH + timedelta(microseconds=value // 1000)


def _error_hash(value: Any) -> str:
    """The hash of an api_error's error text: capture's salted one (the text is summarised unless
    content is kept), else a digest of the kept text."""
    if isinstance(value, dict) and isinstance(value.get("hash"), str):
        return value["hash"][:64]
    if isinstance(value, str) and value:
        return blake2b(value.encode(errors="replace"), digest_size=8).hexdigest()
    return ""

"""Bounds: every value an event carries is made to fit its derived column before it is merged, so no
payload, however hostile, can fail a catch-up or a sum over what it stored.

Guarantee: `facts_fit` turns one event's facts into facts whose every field fits the column it ends in
(or is dropped), and says what it changed as a data issue of that event. It runs per event, before any
merge, so every merge (facts.py) works on fitted facts: fit-then-merge is the only order there is, and
the rows still do not depend on arrival order or on how the events were split into catch-ups.

The rules, by kind of value:
- Keys (turn keys, tool-use ids): a key longer than its column becomes a prefix plus a digest of the
  whole key (`key_fit`), the same whether it is looked up or stored, so distinct long keys stay
  distinct and a long key never makes a second row. A code change's key is its tool call's id, so it
  is fitted like one (128) and the two still join.
- Token counts: 0 .. TOKENS_MAX per message. Not the column's 64 bits: a thousand times the largest
  context window is already nonsense, and at this bound the sum of every message a database can hold
  still fits 64 bits, so no SUM over turns (session counters, rollups, selectors) can overflow.
  A message whose counts were clamped has no cost (unknown, never a wrong number).
- Cost: 0 .. COST_MAX (just under 10^8 USD, the column's bound); anything else (out of range, not
  finite) is unknown (None).
- 32-bit integer columns (prompt chars and lines, lines added and removed): 0 .. 2^31 - 1.
- Times: an event whose time lies outside TIME_MIN .. TIME_MAX (a day inside the calendar Python,
  SQLite and PostgreSQL share, so an hour's neighbours and a time zone's shift still exist) contributes
  nothing but its data issue; a tool call's start computed outside it is left unknown.
- Session ids other than the event's own (a fork's origin) longer than the column are not a session:
  the facts stay with the event's session.
- `detail` JSON: texts cut to DETAIL_TEXT_MAX characters, integers within +-(2^53 - 1) (exact in any
  JSON reader), booleans where a number belongs dropped.

Sums of fitted values are fitted again where they are written (`counter_fit`, `cost_fit`), since a
column of sums has the same bound as a column of single values. Costs are summed in SQL as integers of
10^-8 USD (the precision Turn.cost_usd stores), so a sum is exact and does not depend on the order rows
are read in (SQLite would sum REALs otherwise), and in two parts, the units above and below 2^24
(`cost_units_total` joins them): a turn holds up to 10^16 units, so SQLite's 64-bit SUM, which raises
on overflow, would overflow after ~900 such turns, while each part stays in range for billions of rows.
"""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from django.db.models import BigIntegerField, F, Sum, Value
from django.db.models.functions import Cast, Round

from .costunits import COST_SCALE, COST_SPLIT_BITS
from .facts import (
    AiCodeFact,
    AiCommitFact,
    ChangeFact,
    ConversationFact,
    Fact,
    IssueFact,
    IssueKind,
    MetricFact,
    SequenceFact,
    SessionFact,
    ToolFact,
    TurnFact,
)

VALUE_OUT_OF_RANGE = IssueKind.VALUE_OUT_OF_RANGE
TIME_OUT_OF_RANGE = IssueKind.TIME_OUT_OF_RANGE

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
TOKENS_MAX = 10**9
# Turn/Session/UsageHour.cost_usd are Decimal(16, 8), so below 10^8 USD; and SQLite keeps them as 64-bit
# floats, which Django reads back to 15 digits: 99999999.99999999 would come back as 10^8, and fail.
COST_MAX = Decimal("99999999.99")
JSON_INT_MAX = 2**53 - 1
DETAIL_TEXT_MAX = 200
TIME_MIN = datetime(1, 1, 2, tzinfo=UTC)
TIME_MAX = datetime(9999, 12, 30, tzinfo=UTC)
# MetricPoint.value / delta are Decimal(30, 9), below 10^21; SQLite keeps them as 64-bit floats, which
# Django reads back rounded to 15 digits, so a bound near 10^21 would come back as 10^21 and fail. 10^18
# leaves room for that rounding and for sums of a session's points.
METRIC_MAX = Decimal(10**18 - 1)
METRIC_KEY_LENGTH = 300

TURN_KEY_LENGTH = 300  # Turn.key, ToolCall.message_key
TOOL_KEY_LENGTH = 128  # ToolCall.tool_use_id (and CodeChange.key, which is a tool-use id)
SESSION_ID_LENGTH = 256  # Session.session_id, Session.parent_session_id
AI_CODE_HASH_LENGTH = 128  # AiCodeLine.hash
_DIGEST_CHARS = 16
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                 "cache_read_tokens")  # fmt: skip


def key_fit(key: str, length: int) -> str:
    """The key as stored in a column of `length` characters: itself when it fits, else a prefix and a
    digest of the whole key (so two long keys sharing a prefix stay apart)."""
    if len(key) <= length:
        return key
    digest = blake2b(key.encode(), digest_size=_DIGEST_CHARS // 2).hexdigest()
    return f"{key[: length - _DIGEST_CHARS - 1]}~{digest}"


def event_ident(event_id: Any, raw: bytes) -> int:
    """A number naming an event, the same for every stored copy of it (a copy re-sent with another
    timestamp is a second raw row with its own seq): a digest of its event id. Keys and data issues that
    need an event's identity use this instead of the raw seq, so a re-sent event never counts twice."""
    source = event_id.encode() if isinstance(event_id, str) and event_id else raw
    return int.from_bytes(blake2b(source, digest_size=7).digest(), "big")


def cost_units_sums() -> dict[str, Sum]:
    """COST_UNITS_SQL as ORM aggregates, named cost_high and cost_low."""
    units = Cast(Round(F("cost_usd") * Value(COST_SCALE)), BigIntegerField())
    return {
        "cost_high": Sum(units.bitrightshift(COST_SPLIT_BITS)),
        "cost_low": Sum(units.bitand(2**COST_SPLIT_BITS - 1)),
    }


def counter_fit(value: int | None, hi: int = INT32_MAX) -> int:
    """A sum or count as a column of at most `hi` can hold it."""
    return 0 if value is None else max(0, min(int(value), hi))


def cost_fit(value: Decimal) -> Decimal:
    """A summed cost as Decimal(16, 8) can hold it."""
    return min(max(value, Decimal(0)), COST_MAX)


class _Problems:
    """What fitting one event changed, for its data issue."""

    __slots__ = ("notes",)

    def __init__(self) -> None:
        self.notes: list[str] = []

    def add(self, what: str, value: Any, fitted: Any) -> None:
        shown = repr(value)
        self.notes.append(f"{what}: {shown[:60]}{'...' if len(shown) > 60 else ''} -> {fitted!r}")


def _count(value: Any, hi: int, what: str, problems: _Problems, *, none: Any = 0) -> Any:
    if type(value) is int and 0 <= value <= hi:
        return value
    if value is None:
        return none
    fitted = min(max(value, 0), hi) if type(value) is int else none
    problems.add(what, value, fitted)
    return fitted


def _text(value: Any, hi: int) -> Any:
    return value[:hi] if isinstance(value, str) and len(value) > hi else value


def _json_value(value: Any, what: str, problems: _Problems) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= DETAIL_TEXT_MAX else value[:DETAIL_TEXT_MAX]
    if kind is int:
        if -JSON_INT_MAX <= value <= JSON_INT_MAX:
            return value
        fitted = max(-JSON_INT_MAX, min(value, JSON_INT_MAX))
        problems.add(what, value, fitted)
        return fitted
    if kind is list:
        return [_json_value(v, what, problems) for v in value]
    if kind is bool or kind is float:
        problems.add(what, value, None)
        return None
    return value


def _detail_fit(detail: dict, what: str, problems: _Problems) -> dict:
    out = {}
    for name, value in detail.items():
        fitted = _json_value(value, f"{what}.{name}", problems)
        if fitted is not None:
            out[name] = fitted
    return out


def _rank_fit(rank: tuple, what: str, problems: _Problems) -> tuple:
    return tuple(_json_value(v, what, problems) if type(v) is not bool else v for v in rank)


def _in_time(moment: datetime | None) -> bool:
    return moment is None or TIME_MIN <= moment <= TIME_MAX


def _turn_fit(f: TurnFact, problems: _Problems) -> TurnFact:
    what = f"turn {f.key[:40]}"
    changes: dict[str, Any] = {}
    for name in _TOKEN_FIELDS:
        value = getattr(f, name)
        if not (type(value) is int and 0 <= value <= TOKENS_MAX):
            changes[name] = _count(value, TOKENS_MAX, f"{what} {name}", problems)
    cost = f.cost_usd
    if changes and cost is not None:
        changes["cost_usd"] = None  # the counts it was priced from were wrong
    elif cost is not None and not (cost.is_finite() and 0 <= cost <= COST_MAX):
        problems.add(f"{what} cost_usd", cost, None)
        changes["cost_usd"] = None
    for name in ("chars", "lines"):
        value = getattr(f, name)
        if value is not None and not (type(value) is int and 0 <= value <= INT32_MAX):
            changes[name] = _count(value, INT32_MAX, f"{what} {name}", problems, none=None)
    if len(f.key) > TURN_KEY_LENGTH:
        changes["key"] = key_fit(f.key, TURN_KEY_LENGTH)
    if f.detail:
        detail = _detail_fit(f.detail, what, problems)
        if detail != f.detail:
            changes["detail"] = detail
    if f.rank is not None:
        rank = _rank_fit(f.rank, f"{what} rank", problems)
        if rank != f.rank:
            changes["rank"] = rank
    if f.otel_usage is not None and not _otel_usage_ok(f.otel_usage):
        counts = tuple(_count(v, TOKENS_MAX, f"{what} otel tokens", problems) for v in f.otel_usage[:5])
        cost = f.otel_usage[5] if counts == f.otel_usage[:5] and isinstance(f.otel_usage[5], str) else ""
        changes["otel_usage"] = (*counts, cost[:40])
    return replace(f, **changes) if changes else f


def _tool_fit(f: ToolFact, problems: _Problems) -> ToolFact:
    changes: dict[str, Any] = {}
    if len(f.tool_use_id) > TOOL_KEY_LENGTH:
        changes["tool_use_id"] = key_fit(f.tool_use_id, TOOL_KEY_LENGTH)
    if len(f.message_key) > TURN_KEY_LENGTH:
        changes["message_key"] = key_fit(f.message_key, TURN_KEY_LENGTH)
    for name in ("started_at", "otel_started_at", "otel_finished_at"):
        if not _in_time(getattr(f, name)):
            problems.add(f"tool {f.tool_use_id[:40]} {name}", getattr(f, name).isoformat(), None)
            changes[name] = None
    if f.otel_duration_ms is not None and not (
        type(f.otel_duration_ms) is int and 0 <= f.otel_duration_ms <= INT64_MAX
    ):
        problems.add(f"tool {f.tool_use_id[:40]} otel_duration_ms", f.otel_duration_ms, None)
        changes["otel_duration_ms"] = None
    return replace(f, **changes) if changes else f


def _metric_fit(f: MetricFact, problems: _Problems) -> MetricFact:
    changes: dict[str, Any] = {}
    if len(f.key) > METRIC_KEY_LENGTH:
        changes["key"] = key_fit(f.key, METRIC_KEY_LENGTH)
    if not _metric_value_ok(f.value):
        fitted = max(-METRIC_MAX, min(f.value, METRIC_MAX)) if f.value.is_finite() else Decimal(0)
        problems.add(f"metric {f.name[:40]} value", f.value, fitted)
        changes["value"] = fitted
    if not _in_time(f.start_time):
        problems.add(f"metric {f.name[:40]} start_time", f.start_time.isoformat(), None)
        changes["start_time"] = None
    return replace(f, **changes) if changes else f


def _sequence_fit(f: SequenceFact, problems: _Problems) -> SequenceFact:
    fitted = _count(f.sequence, INT64_MAX, "event.sequence", problems)
    return replace(f, sequence=fitted) if fitted != f.sequence else f


def _change_fit(f: ChangeFact, problems: _Problems) -> ChangeFact:
    what = f"change {f.key[:40]}"
    changes: dict[str, Any] = {}
    if len(f.key) > TOOL_KEY_LENGTH:
        changes["key"] = key_fit(f.key, TOOL_KEY_LENGTH)
    for name in ("lines_added", "lines_removed"):
        value = getattr(f, name)
        if not (type(value) is int and 0 <= value <= INT32_MAX):
            changes[name] = _count(value, INT32_MAX, f"{what} {name}", problems)
    return replace(f, **changes) if changes else f


def _session_fit(f: SessionFact, problems: _Problems) -> SessionFact:
    if len(f.parent_session_id) <= SESSION_ID_LENGTH:
        return f
    problems.add("parent_session_id", f.parent_session_id, "")
    return replace(f, parent_session_id="")


def _conversation_fit(f: ConversationFact, problems: _Problems) -> ConversationFact:
    changes: dict[str, Any] = {}
    for name in ("lines_added", "lines_removed"):
        value = getattr(f, name)
        if not _small_ok(value):
            changes[name] = _count(value, INT32_MAX, f"conversation {name}", problems, none=None)
    return replace(f, **changes) if changes else f


def _ai_commit_fit(f: AiCommitFact, problems: _Problems) -> AiCommitFact:
    counts = tuple(
        c if _small_ok(c) else _count(c, INT32_MAX, f"commit {f.commit_hash[:12]} count", problems, none=None)
        for c in f.counts
    )
    changes: dict[str, Any] = {"counts": counts} if counts != f.counts else {}
    if not _in_time(f.commit_date):
        problems.add(f"commit {f.commit_hash[:12]} commit_date", f.commit_date.isoformat(), None)
        changes["commit_date"] = None
    return replace(f, **changes) if changes else f


def _ai_code_fit(f: AiCodeFact, problems: _Problems) -> AiCodeFact:
    return replace(f, hash=key_fit(f.hash, AI_CODE_HASH_LENGTH)) if len(f.hash) > AI_CODE_HASH_LENGTH else f


def _event_time(fact: Fact) -> datetime | None:
    """The event's own time, which every fact but a tool call's computed start carries."""
    kind = type(fact)
    if kind is SessionFact:
        return fact.ts
    if kind is ConversationFact:
        return fact.updated_at
    if kind is AiCommitFact:
        return fact.scored_at
    if kind is AiCodeFact:
        return fact.created_at
    if kind is TurnFact or kind is ChangeFact:
        return fact.timestamp
    if kind is ToolFact:
        return fact.finished_at if fact.finished_at is not None else fact.started_at
    if kind is MetricFact or kind is SequenceFact:
        return fact.time
    return None


def _text_ok(value: Any) -> bool:
    return type(value) is str and len(value) <= DETAIL_TEXT_MAX


def _json_ok(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return -JSON_INT_MAX <= value <= JSON_INT_MAX
    if kind is list:
        return all(map(_text_ok, value))
    return _text_ok(value)


def _small_ok(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= INT32_MAX)


def _tokens_ok(value: Any) -> bool:
    return type(value) is int and 0 <= value <= TOKENS_MAX


def _turn_ok(f: TurnFact) -> bool:
    return (
        _tokens_ok(f.input_tokens)
        and _tokens_ok(f.output_tokens)
        and _tokens_ok(f.cache_write_tokens)
        and _tokens_ok(f.cache_write_1h_tokens)
        and _tokens_ok(f.cache_read_tokens)
        and (f.cost_usd is None or (f.cost_usd.is_finite() and 0 <= f.cost_usd <= COST_MAX))
        and _small_ok(f.chars)
        and _small_ok(f.lines)
        and len(f.key) <= TURN_KEY_LENGTH
        and TIME_MIN <= f.timestamp <= TIME_MAX
        and (not f.detail or all(map(_json_ok, f.detail.values())))
        and (f.rank is None or all(map(_json_ok, f.rank)))
        and (f.otel_usage is None or _otel_usage_ok(f.otel_usage))
    )


def _otel_usage_ok(usage: tuple) -> bool:
    return len(usage) == 6 and all(map(_tokens_ok, usage[:5])) and _text_ok(usage[5])


def _metric_value_ok(value: Decimal) -> bool:
    return value.is_finite() and -METRIC_MAX <= value <= METRIC_MAX


def _metric_ok(f: MetricFact) -> bool:
    return (
        TIME_MIN <= f.time <= TIME_MAX
        and _in_time(f.start_time)
        and len(f.key) <= METRIC_KEY_LENGTH
        and _metric_value_ok(f.value)
    )


def _sequence_ok(f: SequenceFact) -> bool:
    return TIME_MIN <= f.time <= TIME_MAX and type(f.sequence) is int and 0 <= f.sequence <= INT64_MAX


def _tool_ok(f: ToolFact) -> bool:
    return (
        len(f.tool_use_id) <= TOOL_KEY_LENGTH
        and len(f.message_key) <= TURN_KEY_LENGTH
        and _in_time(f.started_at)
        and _in_time(f.finished_at)
        and _in_time(f.otel_started_at)
        and _in_time(f.otel_finished_at)
        and (
            f.otel_duration_ms is None
            or (type(f.otel_duration_ms) is int and 0 <= f.otel_duration_ms <= INT64_MAX)
        )
    )


def _change_ok(f: ChangeFact) -> bool:
    return (
        len(f.key) <= TOOL_KEY_LENGTH
        and type(f.lines_added) is int
        and type(f.lines_removed) is int
        and 0 <= f.lines_added <= INT32_MAX
        and 0 <= f.lines_removed <= INT32_MAX
        and TIME_MIN <= f.timestamp <= TIME_MAX
    )


def _session_ok(f: SessionFact) -> bool:
    return TIME_MIN <= f.ts <= TIME_MAX and len(f.parent_session_id) <= SESSION_ID_LENGTH


def _conversation_ok(f: ConversationFact) -> bool:
    return TIME_MIN <= f.updated_at <= TIME_MAX and _small_ok(f.lines_added) and _small_ok(f.lines_removed)


def _ai_commit_ok(f: AiCommitFact) -> bool:
    return TIME_MIN <= f.scored_at <= TIME_MAX and _in_time(f.commit_date) and all(map(_small_ok, f.counts))


def _ai_code_ok(f: AiCodeFact) -> bool:
    return TIME_MIN <= f.created_at <= TIME_MAX and len(f.hash) <= AI_CODE_HASH_LENGTH


_OK = {
    TurnFact: _turn_ok,
    ToolFact: _tool_ok,
    ChangeFact: _change_ok,
    SessionFact: _session_ok,
    ConversationFact: _conversation_ok,
    AiCommitFact: _ai_commit_ok,
    AiCodeFact: _ai_code_ok,
    MetricFact: _metric_ok,
    SequenceFact: _sequence_ok,
}
_FIT = {
    ConversationFact: _conversation_fit,
    AiCommitFact: _ai_commit_fit,
    AiCodeFact: _ai_code_fit,
    MetricFact: _metric_fit,
    SequenceFact: _sequence_fit,
}


def _all_ok(facts: list[Fact], ident: int, raw_seq: int | None) -> bool:
    """Whether the facts need no change at all (the usual case, checked at a fraction of the cost of
    fitting them)."""
    try:
        for fact in facts:
            kind = type(fact)
            if kind is IssueFact:
                if fact.seq != ident or fact.raw_seq != raw_seq:
                    return False
            elif len(getattr(fact, "session_id", "")) > SESSION_ID_LENGTH or not _OK[kind](fact):
                return False
    except TypeError:  # a value of an odd type: fitting says what it becomes
        return False
    return True


def facts_fit(facts: list[Fact], *, ident: int, session_id: str, raw_seq: int | None = None) -> list[Fact]:
    """One event's facts (see the module docstring), fitted; its issues carry `ident` as their seq and
    the raw row they were read from as their raw_seq, and a value it had to change is one more issue
    (VALUE_OUT_OF_RANGE). `session_id` is the session the event was sent for: facts naming a session id
    no column can hold stay with it."""
    if _all_ok(facts, ident, raw_seq):
        return facts
    problems = _Problems()
    out: list[Fact] = []
    for fact in facts:
        kind = type(fact)
        if kind is IssueFact:
            out.append(replace(fact, seq=ident, raw_seq=raw_seq))
            continue
        moment = _event_time(fact)
        if not _in_time(moment):
            return [IssueFact("", ident, TIME_OUT_OF_RANGE, f"event time {moment.isoformat()}", raw_seq)]
        if len(getattr(fact, "session_id", "")) > SESSION_ID_LENGTH:
            problems.add("session_id", fact.session_id, session_id)
            fact = replace(fact, session_id=session_id)
            if kind is SessionFact:
                fact = replace(fact, parent_session_id="")
        if kind is TurnFact:
            fact = _turn_fit(fact, problems)
        elif kind is ToolFact:
            fact = _tool_fit(fact, problems)
        elif kind is ChangeFact:
            fact = _change_fit(fact, problems)
        elif kind is SessionFact:
            fact = _session_fit(fact, problems)
        elif kind in _FIT:
            fact = _FIT[kind](fact, problems)
        out.append(fact)
    if problems.notes:
        out.append(IssueFact("", ident, VALUE_OUT_OF_RANGE, "; ".join(problems.notes)[:500], raw_seq))
    return out

"""Token and cost accounting for Claude Code transcripts, one count per API message.

Claude Code does not write one transcript line per API message:
- a reply with k content blocks (thinking, text, each tool_use) is written as k lines that share
  `message.id` and `requestId`, each repeating the usage (older versions wrote partial usage on the
  early lines, with no `stop_reason`);
- a forked session copies earlier records, ids included, into its own file; the copies carry
  `requestSessionId`, the session that made the request;
- a sub-agent writes its own file (`<session>/subagents/agent-<id>.jsonl`) whose records already carry the
  parent's `sessionId`; its usage counts for that parent session;
- model `<synthetic>` marks messages Claude Code made up locally (API errors, interruptions): no API call.

So lines are keyed per API message (`usage_key`) and, per key, one line wins (`usage_line_wins`). That
choice is a pure function of two lines, so it works as an upsert: the slow path can apply a session's
new records after its watermark to what it stored before and reach the same result as a full rebuild.

Only fields that survive the privacy filter are read: type, sessionId, timestamp, isSidechain, agentId,
requestId, requestSessionId, uuid and message.{id, model, role, stop_reason, usage}.
Money is Decimal USD (see pricing.py for why).
"""

from collections.abc import Callable, Hashable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from .pricing import PriceTable, price_apply, price_find

SYNTHETIC_MODEL = "<synthetic>"

GroupBy = Literal["model", "session", "day", "agent"]


class TokenSums:
    """Derived token counts, for anything that has the token fields below (a message, a group's totals)."""

    __slots__ = ()
    input_tokens: int
    output_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True, slots=True)
class MessageUsage(TokenSums):
    """The usage of one API message, taken from the line that won for its key.

    `session_id` is the session the message counts for: the one that made the request (a fork's copies
    count for the original), with a sub-agent's messages under its parent. `timestamp` is the earliest
    of the message's lines (when the reply started); `cache_write_tokens` = 5m + 1h parts."""

    key: str
    message_id: str | None
    request_id: str | None
    session_id: str | None
    model: str | None
    timestamp: datetime
    input_tokens: int
    output_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    has_stop_reason: bool
    agent_id: str | None = None
    is_sidechain: bool = False
    record_uuid: str | None = None

    @property
    def day(self) -> date:
        """The UTC calendar day of the message (ccusage run with TZ=UTC buckets the same way)."""
        return self.timestamp.date()


@dataclass(slots=True)
class UsageTotals(TokenSums):
    """Sums over a group of messages.

    `cost_usd` is None when any message in the group has no price (its model is not in the table): the
    true total is then unknown. `priced_cost_usd` is the sum over the messages that do have a price, a
    lower bound, and `unpriced_messages` says how many were left out. Tokens always count every message."""

    price_table_version: str
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    priced_cost_usd: Decimal = field(default_factory=Decimal)
    unpriced_messages: int = 0

    @property
    def cost_usd(self) -> Decimal | None:
        return None if self.unpriced_messages else self.priced_cost_usd


def usage_key(*, message_id: str | None, request_id: str | None, record_uuid: str | None) -> str | None:
    """The dedup key of one API message: `message.id` with `requestId` (what ccusage keys on), `message.id`
    alone when the line has no `requestId`, the request alone when it has no message id. A line with
    neither matches no other line and is keyed by its own uuid; None when it has no uuid either."""
    if message_id and request_id:
        return f"{message_id}:{request_id}"
    if message_id:
        return f"{message_id}:"
    if request_id:
        return f":{request_id}"
    return f"uuid:{record_uuid}" if record_uuid else None


def usage_from_record(
    *, record: Mapping[str, Any], parent_session_id: str | None = None
) -> MessageUsage | None:
    """The usage carried by one transcript line, or None when the line carries no billable usage (not an
    assistant message, no usage object, no timestamp, or a `<synthetic>` message made up locally).

    `parent_session_id` is a hint for lines read from a sub-agent file (the session directory the file
    sits in). It wins over the line's `sessionId`, which older Claude Code versions may set differently;
    `requestSessionId` (the session that made a request copied into a fork) wins over both."""
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    if record.get("type") != "assistant" and message.get("role") != "assistant":
        return None
    model = message.get("model")
    if model == SYNTHETIC_MODEL:
        return None
    timestamp = _timestamp_parse(record.get("timestamp"))
    if timestamp is None:
        return None
    key = usage_key(
        message_id=message.get("id"), request_id=record.get("requestId"), record_uuid=record.get("uuid")
    )
    if key is None:
        return None
    cache_write = _count(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    # The 5m/1h split is newer than the total; without it every cache write was a 5-minute one. The total
    # stays authoritative: 1h is read from the split and 5m is the rest.
    one_hour = _count(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    one_hour = min(one_hour, cache_write)
    return MessageUsage(
        key=key,
        message_id=message.get("id"),
        request_id=record.get("requestId"),
        session_id=record.get("requestSessionId") or parent_session_id or record.get("sessionId"),
        model=model,
        timestamp=timestamp,
        input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
        cache_write_5m_tokens=cache_write - one_hour,
        cache_write_1h_tokens=one_hour,
        cache_read_tokens=_count(usage.get("cache_read_input_tokens")),
        has_stop_reason=message.get("stop_reason") is not None,
        agent_id=record.get("agentId"),
        is_sidechain=bool(record.get("isSidechain")),
        record_uuid=record.get("uuid"),
    )


def usage_line_wins(*, current: MessageUsage, candidate: MessageUsage) -> bool:
    """Whether `candidate`, a line for the same message seen after `current`, replaces it.

    A line with a `stop_reason` beats one without (the final line of a streamed reply has it); then the
    larger token total wins (usage only grows while a reply streams); on a tie the later line wins."""
    return (candidate.has_stop_reason, candidate.total_tokens) >= (
        current.has_stop_reason,
        current.total_tokens,
    )


def usage_upsert(*, stored: MutableMapping[str, MessageUsage], line: MessageUsage) -> bool:
    """Apply one line, in arrival order, to the messages stored so far (keyed by `MessageUsage.key`).
    Returns True when the stored message was added or changed, False when the line lost to what is stored.
    The stored message keeps the earliest timestamp of its lines, so its day does not move when a later
    block line of the same reply wins."""
    current = stored.get(line.key)
    if current is None:
        stored[line.key] = line
        return True
    if not usage_line_wins(current=current, candidate=line):
        if line.timestamp < current.timestamp:
            stored[line.key] = _with_timestamp(current, line.timestamp)
            return True
        return False
    winner = _with_timestamp(line, min(line.timestamp, current.timestamp))
    if winner == current:
        return False
    stored[line.key] = winner
    return True


def usage_messages(
    *, records: Iterable[Mapping[str, Any]], parent_session_id: str | None = None
) -> list[MessageUsage]:
    """One `MessageUsage` per API message found in `records` (lines of any number of transcript files, in
    file order), in order of first appearance. `parent_session_id` applies to every record: pass it when
    reading one sub-agent file, or call `usage_from_record` per line and `usage_upsert` to mix files."""
    stored: dict[str, MessageUsage] = {}
    for record in records:
        line = usage_from_record(record=record, parent_session_id=parent_session_id)
        if line is not None:
            usage_upsert(stored=stored, line=line)
    return list(stored.values())


def usage_cost(*, message: MessageUsage, table: PriceTable) -> Decimal | None:
    """The exact cost in USD of one message at `table`'s prices, or None when the table has no price for
    its model (unknown is not free: the caller shows it as unknown, never as 0)."""
    price = price_find(table=table, model=message.model)
    if price is None:
        return None
    return price_apply(
        price=price,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        cache_write_5m_tokens=message.cache_write_5m_tokens,
        cache_write_1h_tokens=message.cache_write_1h_tokens,
        cache_read_tokens=message.cache_read_tokens,
    )


_GROUP_KEYS: dict[str, Callable[[MessageUsage], Hashable]] = {
    "model": lambda m: m.model,
    "session": lambda m: m.session_id,
    "day": lambda m: m.day,
    "agent": lambda m: m.agent_id,
}


def usage_totals(
    *,
    messages: Iterable[MessageUsage],
    table: PriceTable,
    by: GroupBy | tuple[GroupBy, ...],
) -> dict[Hashable, UsageTotals]:
    """Token and cost sums grouped `by` model, session, UTC day or sub-agent (None: the main thread), or by
    a tuple of these (keys are then tuples, e.g. `by=("day", "model")` gives `(date, model)` keys; `by=()` gives one
    group, the grand total, under the key `()`).
    Every `UsageTotals` names the price table its costs come from."""
    names = by if isinstance(by, tuple) else (by,)
    getters = [_GROUP_KEYS[name] for name in names]
    totals: dict[Hashable, UsageTotals] = {}
    for message in messages:
        key = tuple(get(message) for get in getters) if isinstance(by, tuple) else getters[0](message)
        group = totals.get(key)
        if group is None:
            group = totals[key] = UsageTotals(price_table_version=table.version)
        group.messages += 1
        group.input_tokens += message.input_tokens
        group.output_tokens += message.output_tokens
        group.cache_write_5m_tokens += message.cache_write_5m_tokens
        group.cache_write_1h_tokens += message.cache_write_1h_tokens
        group.cache_read_tokens += message.cache_read_tokens
        cost = usage_cost(message=message, table=table)
        if cost is None:
            group.unpriced_messages += 1
        else:
            group.priced_cost_usd += cost
    return totals


def _with_timestamp(message: MessageUsage, timestamp: datetime) -> MessageUsage:
    return message if message.timestamp == timestamp else replace(message, timestamp=timestamp)


def _timestamp_parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Claude Code writes UTC with a Z; a naive value is taken as UTC rather than as local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _count(value: Any) -> int:
    # Usage fields are ints; a null (as on error messages) or a missing field is no tokens.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

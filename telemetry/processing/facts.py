"""Derived facts: what one raw event says about sessions, turns, tool calls and code changes.

Pure: no database. A platform module (claude.py) turns one event into facts; the catch-up (catchup.py)
merges them into the stored rows. Every merge here is commutative, associative and idempotent (a
field takes the minimum, the maximum, the best by a total order, or a union), so the same events give
the same rows whatever order they arrive in, however they are split into catch-ups, and however often
one is applied again. That is what lets the slow path merge only the events after a watermark into
what it stored before and still agree with a rebuild from zero.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

# Tool call outcomes, weakest first: a later, stronger outcome wins whatever the arrival order. A call
# the user rejected never ran, so that beats a generic failure report of the same call.
TOOL_STATUS_RANK = {"pending": 0, "success": 1, "failure": 2, "interrupted": 3, "rejected": 4}


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _text(a: str, b: str) -> str:
    """Two readings of a text field: the non-empty one; if both are set, the larger (a total order, so
    the result does not depend on which came first)."""
    return max(a or "", b or "")


def detail_merge(a: dict, b: dict) -> dict:
    """Key-wise merge of two `detail` objects: lists are unions (sorted), other values the maximum."""
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    out = dict(a)
    for key, value in b.items():
        if key not in out or out[key] is None:
            out[key] = value
        elif value is None:
            continue
        elif isinstance(value, list) and isinstance(out[key], list):
            out[key] = sorted({*map(_hashable, out[key]), *map(_hashable, value)}, key=repr)
        elif type(value) is type(out[key]):
            out[key] = max(out[key], value)
        else:  # mixed types for one key: order by repr, still a total order
            out[key] = max(out[key], value, key=repr)
    return out


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True, slots=True)
class SessionFact:
    """An event of a session happened at `ts`, with what it tells about the session."""

    session_id: str
    ts: datetime
    project: tuple[str, str] | None = None  # (key, name)
    git_branch: str = ""
    end_reason: str = ""  # set by a session-end event
    parent_session_id: str = ""  # a fork's origin
    user: str = ""  # the envelope's user_id (docs/team.md); "" on this install's own capture
    machine: str = ""  # the envelope's machine_id


@dataclass(frozen=True, slots=True)
class TurnFact:
    """A turn or part of one. `rank` orders the lines of one assistant message (the best line's usage
    wins); facts without a rank merge field by field."""

    session_id: str
    key: str
    kind: str
    timestamp: datetime
    model: str = ""
    stop_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: Decimal | None = None
    price_table: str = ""
    chars: int | None = None
    lines: int | None = None
    agent_id: str = ""
    rank: tuple | None = None
    detail: dict = field(default_factory=dict)
    tokens_known: bool = True  # False: the assistant did not record this response's tokens (Cursor)
    request_id: str = ""  # the API request id (Claude Code)
    # OpenTelemetry's own reading of the API call (docs/metrics.md, "one ledger with provenance"):
    # (input, output, cache read, cache write, of which 1h, Claude Code's cost as decimal text).
    otel_usage: tuple | None = None
    # True when only OpenTelemetry saw this turn so far: its time counts only until another source
    # gives one (OTel never moves a time the hooks or the transcript gave).
    weak: bool = False


_USAGE_FIELDS = (
    "model",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_usd",
    "price_table",
)


def turn_merge(a: TurnFact, b: TurnFact) -> TurnFact:
    if a.weak != b.weak:
        timestamp = b.timestamp if a.weak else a.timestamp
    else:
        timestamp = min(a.timestamp, b.timestamp)
    if a.rank is not None or b.rank is not None:
        # The best line of the message supplies all of its usage, so its numbers stay consistent.
        best = a if b.rank is None or (a.rank is not None and a.rank >= b.rank) else b
        usage = {name: getattr(best, name) for name in _USAGE_FIELDS}
        rank = best.rank
    else:
        usage = {
            "model": _text(a.model, b.model),
            "stop_reason": _text(a.stop_reason, b.stop_reason),
            "input_tokens": max(a.input_tokens, b.input_tokens),
            "output_tokens": max(a.output_tokens, b.output_tokens),
            "cache_write_tokens": max(a.cache_write_tokens, b.cache_write_tokens),
            "cache_write_1h_tokens": max(a.cache_write_1h_tokens, b.cache_write_1h_tokens),
            "cache_read_tokens": max(a.cache_read_tokens, b.cache_read_tokens),
            "cost_usd": _max(a.cost_usd, b.cost_usd),
            "price_table": _text(a.price_table, b.price_table),
        }
        rank = None
    return TurnFact(
        session_id=a.session_id,
        key=a.key,
        kind=_text(a.kind, b.kind),
        timestamp=timestamp,
        chars=_max(a.chars, b.chars),
        lines=_max(a.lines, b.lines),
        agent_id=_text(a.agent_id, b.agent_id),
        rank=rank,
        detail=detail_merge(a.detail, b.detail),
        tokens_known=a.tokens_known or b.tokens_known,
        request_id=_text(a.request_id, b.request_id),
        otel_usage=_max(a.otel_usage, b.otel_usage),
        weak=a.weak and b.weak,
        **usage,
    )


# What a tool call keeps of its error's text when the user opted in to keep content (ToolCall.error_text).
ERROR_TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class ToolFact:
    """A tool call seen from one side: a hook (Pre/PostToolUse, PostToolUseFailure) or a transcript
    record (the tool_use block, the tool_result block)."""

    session_id: str
    tool_use_id: str
    tool_name: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "pending"
    error_type: str = ""
    message_key: str = ""
    agent_id: str = ""
    seen_in_hooks: bool = False
    seen_in_transcript: bool = False
    error_hash: str = ""  # of the error's text (claude.error_digest); never the text unless content is kept
    error_text: str = ""  # the text's start, only when the event kept content (opt-in)
    target_hash: str = ""  # salted hash of what the call acted on (Cursor: joins its hooks to its record)
    mcp_server: str = ""  # set by platforms whose tool names do not say it unambiguously (Cursor)
    # From Claude Code's OpenTelemetry export. Its times and error type are kept apart: they are the
    # row's only for a call neither hooks nor transcript saw (OTel never moves their times).
    seen_in_otel: bool = False
    decision: str = ""  # accept / reject
    decision_source: str = ""
    otel_duration_ms: int | None = None
    otel_started_at: datetime | None = None
    otel_finished_at: datetime | None = None
    otel_error_type: str = ""

    @property
    def seen_elsewhere(self) -> bool:
        """Seen by hooks or the transcript, whose times and error type win over OTel's."""
        return self.seen_in_hooks or self.seen_in_transcript

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None or self.finished_at < self.started_at:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


def _tool_name_rank(fact: ToolFact) -> tuple[bool, str]:
    # A name reported by the transcript (Cursor: its database record) wins over a hook's name for the same
    # call (Cursor's hooks name tools differently); among equals the larger: a total order.
    return (fact.seen_in_transcript and bool(fact.tool_name), fact.tool_name)


def tool_merge(a: ToolFact, b: ToolFact) -> ToolFact:
    error = max((a.error_hash, a.error_text), (b.error_hash, b.error_text))
    decision = max((a.decision, a.decision_source), (b.decision, b.decision_source))
    status = a.status if TOOL_STATUS_RANK[a.status] >= TOOL_STATUS_RANK[b.status] else b.status
    return ToolFact(
        session_id=a.session_id,
        tool_use_id=a.tool_use_id,
        tool_name=max(_tool_name_rank(a), _tool_name_rank(b))[1],
        started_at=_min(a.started_at, b.started_at),
        finished_at=_max(a.finished_at, b.finished_at),
        status=status,
        error_type=_text(a.error_type, b.error_type),
        message_key=_text(a.message_key, b.message_key),
        agent_id=_text(a.agent_id, b.agent_id),
        seen_in_hooks=a.seen_in_hooks or b.seen_in_hooks,
        seen_in_transcript=a.seen_in_transcript or b.seen_in_transcript,
        # Hash and text as a pair, so a row never shows one reading's text under another's hash.
        error_hash=error[0],
        error_text=error[1],
        target_hash=_text(a.target_hash, b.target_hash),
        mcp_server=_text(a.mcp_server, b.mcp_server),
        seen_in_otel=a.seen_in_otel or b.seen_in_otel,
        # Decision and who made it as a pair (one event states both).
        decision=decision[0],
        decision_source=decision[1],
        otel_duration_ms=_max(a.otel_duration_ms, b.otel_duration_ms),
        otel_started_at=_min(a.otel_started_at, b.otel_started_at),
        otel_finished_at=_max(a.otel_finished_at, b.otel_finished_at),
        otel_error_type=_text(a.otel_error_type, b.otel_error_type),
    )


@dataclass(frozen=True, slots=True)
class ChangeFact:
    """A file change made by an edit tool call (key: its tool-use id). Lines come from the result's
    patch; the accepted/rejected status follows the tool call's outcome (see catchup)."""

    session_id: str
    key: str
    timestamp: datetime
    tool_name: str = ""
    file_extension: str = ""
    path_hash: str = ""
    lines_added: int = 0
    lines_removed: int = 0


def change_merge(a: ChangeFact, b: ChangeFact) -> ChangeFact:
    return ChangeFact(
        session_id=a.session_id,
        key=a.key,
        timestamp=min(a.timestamp, b.timestamp),
        tool_name=_text(a.tool_name, b.tool_name),
        file_extension=_text(a.file_extension, b.file_extension),
        path_hash=_text(a.path_hash, b.path_hash),
        lines_added=max(a.lines_added, b.lines_added),
        lines_removed=max(a.lines_removed, b.lines_removed),
    )


@dataclass(frozen=True, slots=True)
class ConversationFact:
    """What one revision of a conversation record says (Cursor's composer). `revision` orders the
    revisions totally (last-updated time zero-padded, then the revision id): the newest wins whole, so
    its fields stay consistent with each other."""

    session_id: str
    revision: str
    updated_at: datetime
    archived: bool = False
    mode: str = ""
    title: str = ""
    lines_added: int | None = None  # the assistant's own totals; None: not recorded
    lines_removed: int | None = None


def conversation_merge(a: ConversationFact, b: ConversationFact) -> ConversationFact:
    return a if (a.revision, repr(a)) >= (b.revision, repr(b)) else b


# AiCommit's counters, in the order AiCommitFact.counts holds them (scored_commits' columns, snake_case).
AI_COMMIT_COUNTS = (
    "lines_added", "lines_deleted", "tab_lines_added", "tab_lines_deleted", "composer_lines_added",
    "composer_lines_deleted", "human_lines_added", "human_lines_deleted", "blank_lines_added",
    "blank_lines_deleted",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AiCommitFact:
    """One revision of a commit Cursor scored (per commit and branch). The newest scoring wins whole;
    ties are broken by the values themselves, so the order is total without a stored revision id."""

    commit_hash: str
    branch: str
    scored_at: datetime
    commit_date: datetime | None = None
    counts: tuple[int | None, ...] = (None,) * len(AI_COMMIT_COUNTS)
    v1_ai_percentage: Decimal | None = None
    v2_ai_percentage: Decimal | None = None

    @property
    def order(self) -> tuple:
        return (
            self.scored_at,
            tuple(-1 if c is None else c for c in self.counts),
            str(self.v1_ai_percentage),
            str(self.v2_ai_percentage),
            self.commit_date.isoformat() if self.commit_date else "",
        )


def ai_commit_merge(a: AiCommitFact, b: AiCommitFact) -> AiCommitFact:
    return a if a.order >= b.order else b


@dataclass(frozen=True, slots=True)
class AiCodeFact:
    """A fragment of code Cursor recorded as AI-written (by its own hash); `session_id` is the
    conversation it belongs to, "" when Cursor recorded none."""

    hash: str
    session_id: str
    created_at: datetime
    source: str = ""
    model: str = ""
    file_extension: str = ""
    request_id: str = ""


def ai_code_merge(a: AiCodeFact, b: AiCodeFact) -> AiCodeFact:
    return AiCodeFact(
        hash=a.hash,
        session_id=_text(a.session_id, b.session_id),
        created_at=min(a.created_at, b.created_at),
        source=_text(a.source, b.source),
        model=_text(a.model, b.model),
        file_extension=_text(a.file_extension, b.file_extension),
        request_id=_text(a.request_id, b.request_id),
    )


class IssueKind:
    """What a data issue (DataIssue.kind) is about. Plain strings: they are stored as they are."""

    BAD_ENVELOPE = "bad_envelope"  # the envelope lacks its session, timestamp or payload
    MISSING_FIELD = "missing_field"  # a hook call or record lacks a field its kind needs
    UNKNOWN_HOOK = "unknown_hook"  # a hook event this version does not know
    UNKNOWN_RECORD = "unknown_record"  # a transcript record type this version does not know
    UNKNOWN_SOURCE = "unknown_source"
    DERIVE_ERROR = "derive_error"  # deriving the event raised: a bug, recorded instead of fatal
    DERIVE_FAILED = "derive_failed"  # the session's catch-up failed; it is set aside and retried
    ORPHAN_RESULT = "tool_result_without_call"  # while the call has not been seen
    VALUE_OUT_OF_RANGE = "value_out_of_range"  # a value was fitted to its column (bounds.py)
    TIME_OUT_OF_RANGE = "time_out_of_range"  # an event time no column can hold: the event is left out
    TIME_UNKNOWN = "time_unknown"  # a transcript line without a time of its own or any to borrow
    OTEL_SEQUENCE_GAP = "otel_sequence_gap"  # OTel log records possibly lost (event.sequence jumps)

    ALL = (BAD_ENVELOPE, MISSING_FIELD, UNKNOWN_HOOK, UNKNOWN_RECORD, UNKNOWN_SOURCE, DERIVE_ERROR,
           DERIVE_FAILED, ORPHAN_RESULT, VALUE_OUT_OF_RANGE, TIME_OUT_OF_RANGE, TIME_UNKNOWN,
           OTEL_SEQUENCE_GAP)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IssueFact:
    """Something in an event that could not be fully understood. `seq` names the event (every stored
    copy of it alike: bounds.event_ident); `raw_seq` is the raw row it was read from, for links."""

    session_id: str
    seq: int
    kind: str
    detail: str = ""
    raw_seq: int | None = None


@dataclass(frozen=True, slots=True)
class MetricFact:
    """One OpenTelemetry metric data point (a MetricPoint row), keyed by its event id. A point is stated
    whole by one record, so two copies are equal; the merge still picks one by a total order."""

    session_id: str
    key: str
    name: str
    time: datetime
    value: Decimal
    temporality: str
    series: str
    start_time: datetime | None = None
    model: str = ""
    kind: str = ""
    attributes: dict = field(default_factory=dict)


def metric_merge(a: MetricFact, b: MetricFact) -> MetricFact:
    return a if repr(a) >= repr(b) else b


@dataclass(frozen=True, slots=True)
class SequenceFact:
    """An OpenTelemetry log record's place in its process's numbering: its event time and
    `event.sequence` (for the gap count, recompute.py)."""

    session_id: str
    time: datetime
    sequence: int


Fact = (
    SessionFact
    | TurnFact
    | ToolFact
    | ChangeFact
    | IssueFact
    | ConversationFact
    | AiCommitFact
    | AiCodeFact
    | MetricFact
    | SequenceFact
)


def fact_key(fact: Fact) -> tuple:
    """The identity two facts must share to be merged."""
    if isinstance(fact, TurnFact):
        return ("turn", fact.session_id, fact.key)
    if isinstance(fact, ToolFact):
        return ("tool", fact.session_id, fact.tool_use_id)
    if isinstance(fact, ChangeFact):
        return ("change", fact.session_id, fact.key)
    if isinstance(fact, IssueFact):
        return ("issue", fact.session_id, fact.seq, fact.kind)
    if isinstance(fact, ConversationFact):
        return ("conversation", fact.session_id)
    if isinstance(fact, AiCommitFact):
        return ("ai_commit", fact.commit_hash, fact.branch)
    if isinstance(fact, AiCodeFact):
        return ("ai_code", fact.hash)
    if isinstance(fact, MetricFact):
        return ("metric", fact.session_id, fact.key)
    if isinstance(fact, SequenceFact):
        return ("sequence", fact.session_id, fact.time, fact.sequence)
    return ("session", fact.session_id)


@dataclass(slots=True)
class SessionSummary:
    """The session-level facts of a batch of events, reduced (see `facts_reduce`)."""

    session_id: str
    first_ts: datetime
    last_ts: datetime
    project: tuple[str, str] | None = None
    project_ts: datetime | None = None
    git_branch: str = ""
    git_branch_ts: datetime | None = None
    end_ts: datetime | None = None
    end_reason: str = ""
    parent_session_id: str = ""
    user: str = ""
    machine: str = ""


def _earliest(current: Any, current_ts: datetime | None, value: Any, ts: datetime) -> tuple[Any, Any]:
    """The value of the earliest event carrying one (ties: the larger value)."""
    if current is None or current == "" or current_ts is None or (ts, value) < (current_ts, current):
        return value, ts
    return current, current_ts


def session_summary_add(summary: SessionSummary | None, fact: SessionFact) -> SessionSummary:
    if summary is None:
        summary = SessionSummary(session_id=fact.session_id, first_ts=fact.ts, last_ts=fact.ts)
    summary.first_ts = min(summary.first_ts, fact.ts)
    summary.last_ts = max(summary.last_ts, fact.ts)
    if fact.project:
        summary.project, summary.project_ts = _earliest(
            summary.project, summary.project_ts, fact.project, fact.ts
        )
    if fact.git_branch:
        summary.git_branch, summary.git_branch_ts = _earliest(
            summary.git_branch, summary.git_branch_ts, fact.git_branch, fact.ts
        )
    if fact.end_reason and (
        summary.end_ts is None or (fact.ts, fact.end_reason) > (summary.end_ts, summary.end_reason)
    ):
        summary.end_ts, summary.end_reason = fact.ts, fact.end_reason
    summary.parent_session_id = _text(summary.parent_session_id, fact.parent_session_id)
    # One session is one person on one machine; should events disagree, the larger non-empty value
    # wins, which does not depend on the order they arrive in.
    summary.user = _text(summary.user, fact.user)
    summary.machine = _text(summary.machine, fact.machine)
    return summary


@dataclass(slots=True)
class Reduced:
    """A batch of facts with the facts of one entity merged into one."""

    sessions: dict[str, SessionSummary] = field(default_factory=dict)
    turns: dict[tuple, TurnFact] = field(default_factory=dict)
    tools: dict[tuple, ToolFact] = field(default_factory=dict)
    changes: dict[tuple, ChangeFact] = field(default_factory=dict)
    issues: dict[tuple, IssueFact] = field(default_factory=dict)
    conversations: dict[tuple, ConversationFact] = field(default_factory=dict)
    ai_commits: dict[tuple, AiCommitFact] = field(default_factory=dict)
    ai_code: dict[tuple, AiCodeFact] = field(default_factory=dict)
    metrics: dict[tuple, MetricFact] = field(default_factory=dict)
    sequences: dict[tuple, SequenceFact] = field(default_factory=dict)
    # Whether any of the events came from OpenTelemetry: only then can a session's OTel figures (metric
    # deltas, sequence gaps, retries) change, so only then are they recomputed.
    otel: bool = False


_MERGED = {
    ConversationFact: ("conversations", conversation_merge),
    AiCommitFact: ("ai_commits", ai_commit_merge),
    AiCodeFact: ("ai_code", ai_code_merge),
    MetricFact: ("metrics", metric_merge),
    SequenceFact: ("sequences", lambda a, b: a),
}


def facts_reduce(facts: list[Fact], into: Reduced | None = None) -> Reduced:
    """Merge facts per entity. Order of `facts` does not matter."""
    out = into or Reduced()
    for fact in facts:
        key = fact_key(fact)
        if isinstance(fact, SessionFact):
            out.sessions[fact.session_id] = session_summary_add(out.sessions.get(fact.session_id), fact)
        elif isinstance(fact, TurnFact):
            old = out.turns.get(key)
            out.turns[key] = fact if old is None else turn_merge(old, fact)
        elif isinstance(fact, ToolFact):
            old = out.tools.get(key)
            out.tools[key] = fact if old is None else tool_merge(old, fact)
        elif isinstance(fact, ChangeFact):
            old = out.changes.get(key)
            out.changes[key] = fact if old is None else change_merge(old, fact)
        elif type(fact) in _MERGED:
            name, merge = _MERGED[type(fact)]
            into_ = getattr(out, name)
            old = into_.get(key)
            into_[key] = fact if old is None else merge(old, fact)
        else:
            out.issues.setdefault(key, fact)
    return out


def facts_attribute(facts: list[Fact], *, user: str, machine: str) -> list[Fact]:
    """The facts with the envelope's user and machine (docs/team.md) on their session facts: every
    platform's derivation states the session the same way, so who and where are added here once."""
    if not user and not machine:
        return facts
    return [replace(f, user=user, machine=machine) if isinstance(f, SessionFact) else f for f in facts]


def with_session(fact: Any, session_id: str) -> Any:
    """The same fact, attributed to another session (a fork's copy moving to its origin)."""
    return replace(fact, session_id=session_id)

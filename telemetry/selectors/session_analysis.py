"""One session taken apart: its conversations (a Cursor window session can hold several), tokens and cost
per turn, tools with their failures, files touched by extension, errors, sub-agents. The timeline itself is timeline.py's (read a page at a time).

A turn here is what a person calls one: a prompt and everything the assistant did for it (responses,
sub-agents' responses, tool calls) until the next prompt. Responses before the first prompt (a fork's
copied history, a resumed session's first reply) make a turn of their own with `prompt_at` None. The
turns' sums are the session's counters (both are sums of the same responses), which the tests check.
Every list is bounded by the session's own size except `turns`, cut at `turns_limit` (the totals are
over all of them).
"""

from bisect import bisect_right
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Coalesce

from ..models import CodeChange, Conversation, Session, ToolCall, ToolStatus, Turn, TurnKind
from .errors import FAILED
from .sessions import session_lookup

# Lists that grow with a session's failures or sub-agents are cut here (their totals say how many there
# were), so one answer stays a few hundred kilobytes at most, whatever the session.
LIST_MAX = 200
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


class TurnFigures(TypedDict):
    index: int  # 1 for the first prompt; 0 for responses before any prompt
    prompt_at: datetime | None
    prompt_chars: int | None  # the prompt's size (its text is not stored)
    first_at: datetime | None
    last_at: datetime | None
    responses: int  # assistant responses, the sub-agents' included
    tool_calls: int
    tool_failures: int  # failed, rejected or interrupted
    models: list[str]
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    # Of the responses, those whose tokens the assistant did not record (Cursor): the sums leave them out,
    # and when they are all of them the sums are missing, not 0 (usage.tokens_missing).
    responses_without_tokens: int


class ToolFigures(TypedDict):
    tool_name: str
    calls: int
    failures: int
    rejections: int
    interruptions: int
    pending: int  # no result seen (yet)
    error_types: dict[str, int]
    mean_ms: float | None
    max_ms: int | None


class ExtensionFigures(TypedDict):
    file_extension: str  # "" for a file without one
    changes: int
    files: int  # distinct files (by hashed path)
    lines_added: int
    lines_removed: int
    accepted: int
    rejected: int
    reverted: int


class ToolErrorGroup(TypedDict):
    tool_name: str
    error_type: str
    error_hash: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None


class ApiError(TypedDict):
    at: datetime
    model: str
    agent_id: str
    request_id: str
    status_code: int | None  # the API's answer, when OTel or the transcript gave it
    attempts: int | None  # the request's attempts (Claude Code's OTel span), retries included


class SubagentFigures(TypedDict):
    agent_id: str
    agent_type: str
    status: str
    started_at: datetime
    finished_at: str | None  # as the run reported it (ISO 8601)
    duration_ms: int | None
    responses: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal


class ConversationFigures(TypedDict):
    conversation_id: str
    title: str  # only when content is kept (Cursor's composer name is the user's words)
    mode: str
    started_at: datetime | None
    last_event_at: datetime | None
    archived: bool
    prompts: int
    responses: int
    tool_calls: int
    # The assistant's own totals for the conversation (Cursor's composer); None: not recorded.
    lines_added: int | None
    lines_removed: int | None


class SessionAnalysis(TypedDict):
    conversations: list[ConversationFigures]  # the first LIST_MAX, oldest first
    conversations_total: int
    turns: list[TurnFigures]
    turns_total: int
    tools: list[ToolFigures]
    files: list[ExtensionFigures]
    tool_errors: list[ToolErrorGroup]  # the LIST_MAX most frequent
    tool_errors_total: int
    api_errors: list[ApiError]  # the first LIST_MAX
    api_errors_total: int
    subagents: list[SubagentFigures]  # the first LIST_MAX
    subagents_total: int


def sessions_by_prefix(*, prefix: str, platform: str | None = None, limit: int = 2) -> list[Session]:
    """The session with this id, else up to `limit` sessions whose id starts with `prefix` (so a caller
    can tell a unique prefix from an ambiguous one), each with its project and counts."""
    if len(prefix) > Session._meta.get_field("session_id").max_length:
        return []  # no id is that long (and SQLite refuses a LIKE pattern past 50,000 bytes)
    found = session_lookup(session_id=prefix, platform=platform)
    if found or not prefix:
        return found
    ids = Session.objects.filter(session_id__startswith=prefix)
    if platform:
        ids = ids.filter(platform=platform)
    pairs = list(ids.order_by("session_id", "platform").values_list("session_id", "platform")[:limit])
    return [s for sid, plat in pairs for s in session_lookup(session_id=sid, platform=plat)]


def _zero_tokens() -> dict:
    return {**dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)}


def _turns(session: Session) -> list[TurnFigures]:
    calls = ToolCall.objects.filter(session=session).annotate(at=Coalesce("started_at", "finished_at"))
    call_times = sorted((c.at, c.status) for c in calls.only("started_at", "finished_at", "status") if c.at)
    rows = (
        Turn.objects.filter(session=session, kind__in=(TurnKind.USER_PROMPT, TurnKind.ASSISTANT_RESPONSE))
        .only("kind", "timestamp", "model", "chars", "cost_usd", "tokens_known", *TOKEN_KINDS)
        .order_by("timestamp", "id")
    )
    turns: list[dict] = []
    models: list[set] = []

    def start(index: int, prompt: Turn | None, *, first: bool = False) -> None:
        at = prompt and prompt.timestamp
        turn = {"index": index, "prompt_at": at, "prompt_chars": prompt and prompt.chars, "first_at": at,
                "last_at": at, "responses": 0, "tool_calls": 0, "tool_failures": 0, **_zero_tokens(),
                "responses_without_tokens": 0}  # fmt: skip
        position = 0 if first else len(turns)
        turns.insert(position, turn)
        models.insert(position, set())

    prompts = 0
    for turn in rows:
        if turn.kind == TurnKind.USER_PROMPT:
            prompts += 1
            start(prompts, turn)
            continue
        if not turns:
            start(0, None)
        current = turns[-1]
        current["responses"] += 1
        current["first_at"] = current["first_at"] or turn.timestamp
        current["last_at"] = turn.timestamp
        for kind in TOKEN_KINDS:
            current[kind] += getattr(turn, kind)
        current["cost_usd"] += turn.cost_usd or 0
        current["responses_without_tokens"] += not turn.tokens_known
        if turn.model:
            models[-1].add(turn.model)
    # Each tool call belongs to the turn of the last prompt before it (or to the one before any prompt).
    prompt_times = [t["prompt_at"] for t in turns if t["prompt_at"] is not None]
    if (
        call_times
        and (not turns or turns[0]["index"])
        and (not prompt_times or call_times[0][0] < prompt_times[0])
    ):
        start(0, None, first=True)
    before = 1 if turns and turns[0]["index"] == 0 else 0
    for at, status in call_times:
        current = turns[bisect_right(prompt_times, at) - 1 + before]
        current["tool_calls"] += 1
        current["tool_failures"] += status in FAILED
    return [TurnFigures(**t, models=sorted(m)) for t, m in zip(turns, models, strict=True)]


def _tools(session: Session) -> list[ToolFigures]:
    statuses = {s: Count("id", filter=Q(status=s)) for s in ToolStatus.values}
    rows = (
        ToolCall.objects.filter(session=session)
        .values("tool_name")
        .annotate(
            calls=Count("id"),
            ms_sum=Sum("duration_ms"),
            timed=Count("duration_ms"),
            max_ms=Max("duration_ms"),
            **statuses,
        )
        .order_by("-calls", "tool_name")
    )
    types: dict[str, Counter] = defaultdict(Counter)
    failed = ToolCall.objects.filter(session=session, status__in=FAILED).values_list(
        "tool_name", "error_type"
    )
    for name, error_type in failed:
        types[name][error_type or "error"] += 1
    return [
        ToolFigures(
            tool_name=r["tool_name"],
            calls=r["calls"],
            failures=r[ToolStatus.FAILURE],
            rejections=r[ToolStatus.REJECTED],
            interruptions=r[ToolStatus.INTERRUPTED],
            pending=r[ToolStatus.PENDING],
            error_types=dict(types[r["tool_name"]].most_common()),
            mean_ms=r["ms_sum"] / r["timed"] if r["timed"] else None,
            max_ms=r["max_ms"],
        )
        for r in rows
    ]


def _files(session: Session) -> list[ExtensionFigures]:
    statuses = {s: Count("id", filter=Q(status=s)) for s in ("accepted", "rejected", "reverted")}
    rows = (
        CodeChange.objects.filter(session=session)
        .values("file_extension")
        .annotate(
            changes=Count("id"),
            files=Count("path_hash", distinct=True),
            lines_added=Sum("lines_added"),
            lines_removed=Sum("lines_removed"),
            **statuses,
        )
        .order_by("-changes", "file_extension")
    )
    return [ExtensionFigures(**r) for r in rows]


def _tool_errors(session: Session) -> list[ToolErrorGroup]:
    moment = Coalesce("finished_at", "started_at")
    rows = (
        ToolCall.objects.filter(session=session, status__in=FAILED)
        .values("tool_name", "error_type", "error_hash")
        .annotate(count=Count("id"), first_seen=Min(moment), last_seen=Max(moment))
        .order_by("-count", "tool_name", "error_type", "error_hash")
    )
    return [ToolErrorGroup(**r) for r in rows]


def _subagents(session: Session) -> list[SubagentFigures]:
    runs = Turn.objects.filter(session=session, kind=TurnKind.SUBAGENT_RUN).order_by("timestamp", "id")
    if not runs:
        return []
    sums = {k: Sum(k) for k in (*TOKEN_KINDS, "cost_usd")}
    by_agent = {
        r["agent_id"]: r
        for r in Turn.objects.filter(session=session, kind=TurnKind.ASSISTANT_RESPONSE).exclude(agent_id="")
        .values("agent_id").annotate(responses=Count("id"), **sums).order_by()
    }  # fmt: skip
    calls = dict(
        ToolCall.objects.filter(session=session).exclude(agent_id="").values("agent_id")
        .annotate(n=Count("id")).order_by().values_list("agent_id", "n")
    )  # fmt: skip
    out = []
    for run in runs:
        mine = by_agent.get(run.agent_id, {})
        detail = run.detail or {}
        out.append(
            SubagentFigures(
                agent_id=run.agent_id, agent_type=detail.get("agent_type", ""), status=detail.get("status", ""),
                started_at=run.timestamp, finished_at=detail.get("finished_at"),
                duration_ms=detail.get("duration_ms"), responses=mine.get("responses", 0),
                tool_calls=calls.get(run.agent_id, 0),
                **{k: mine.get(k) or 0 for k in TOKEN_KINDS}, cost_usd=mine.get("cost_usd") or Decimal(0),
            )
        )  # fmt: skip
    return out


def _conversations(session: Session) -> list[ConversationFigures]:
    prompts = Count("turns", filter=Q(turns__kind=TurnKind.USER_PROMPT), distinct=True)
    responses = Count("turns", filter=Q(turns__kind=TurnKind.ASSISTANT_RESPONSE), distinct=True)
    rows = (
        Conversation.objects.filter(session=session)
        .annotate(prompts=prompts, responses=responses, calls=Count("tool_calls", distinct=True))
        .order_by("started_at", "id")
    )
    return [
        ConversationFigures(
            conversation_id=c.conversation_id,
            title=c.title,
            mode=c.mode,
            started_at=c.started_at,
            last_event_at=c.last_event_at,
            archived=c.archived,
            prompts=c.prompts,
            responses=c.responses,
            tool_calls=c.calls,
            lines_added=c.lines_added,
            lines_removed=c.lines_removed,
        )
        for c in rows
    ]


def session_analysis(*, session: Session, turns_limit: int) -> SessionAnalysis:
    """The session's conversations, its turns (the first `turns_limit`; `turns_total` counts all), its tools, files by
    extension, tool errors, API errors and sub-agent runs (each list up to LIST_MAX, with its total). A
    few queries, each over one session's rows."""
    turns = _turns(session)
    api_errors = Turn.objects.filter(session=session, kind=TurnKind.API_ERROR)
    tool_errors, subagents = _tool_errors(session), _subagents(session)
    conversations = _conversations(session)
    return SessionAnalysis(
        conversations=conversations[:LIST_MAX],
        conversations_total=len(conversations),
        turns=turns[:turns_limit],
        turns_total=len(turns),
        tools=_tools(session),
        files=_files(session),
        tool_errors=tool_errors[:LIST_MAX],
        tool_errors_total=len(tool_errors),
        api_errors=[_api_error(t) for t in api_errors.order_by("timestamp", "id")[:LIST_MAX]],
        api_errors_total=api_errors.count(),
        subagents=subagents[:LIST_MAX],
        subagents_total=len(subagents),
    )


def _api_error(turn: Turn) -> ApiError:
    detail = turn.detail if isinstance(turn.detail, dict) else {}
    status, attempts = detail.get("status_code"), detail.get("attempts")
    return ApiError(
        at=turn.timestamp, model=turn.model, agent_id=turn.agent_id, request_id=turn.request_id,
        status_code=status if isinstance(status, int) else None,
        attempts=attempts if isinstance(attempts, int) else None,
    )  # fmt: skip

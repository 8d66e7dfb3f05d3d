"""Where each number came from: Claude Code's usage by source (transcript, OTel, both agreeing, both
disagreeing), what OpenTelemetry itself reported beside it, how well the sources' join keys matched, and
the figures only OTel has (docs/metrics.md, "one ledger with provenance").

Every function takes a span [start, end) of UTC instants (hours overlapping it, as the rollups), an
optional project key, and optional user and machine (None: any; "" is this install's own capture,
docs/team.md). Sums over all sources count each API call once; OTel's own readings are shown
beside them, never added to them."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from django.db.models import Count, Q, Sum

from ..models import ActivityHour, MetricPoint, Session, ToolCall, Turn, TurnKind, UsageHour
from ..processing.bounds import cost_units_sums
from ..processing.costunits import cost_units_total
from .ccusage_shapes import SOURCES as SOURCES  # Turn.source / UsageHour.source, in report order
from .spans import hour_span, people_filter, rollup_filter

PLATFORM = "claude_code"  # the only platform with an OpenTelemetry export so far
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
# claude_code.token.usage's `type` attribute -> the token column it reports.
METRIC_TOKEN_KINDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cacheCreation": "cache_write_tokens",
    "cacheRead": "cache_read_tokens",
}
CONFLICTS_MAX = 100


class SourceUsage(TypedDict):
    """Usage of one model from one source: API calls, tokens by kind, cost (Blueplane's price table)."""

    model: str
    source: str
    messages: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal


class OtelReported(TypedDict):
    """What OpenTelemetry itself said about one model's usage, two ways: the sum of its api_request
    events (one per call, with Claude Code's own cost), and the sum of its token and cost metrics.
    None where no such record was seen."""

    model: str
    events: (
        dict | None
    )  # {calls, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd}
    metrics: dict | None  # {input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd}


class Conflict(TypedDict):
    """An API call both sources saw with different tokens: both readings, the transcript's counted."""

    session_id: str
    request_id: str
    model: str
    timestamp: datetime
    transcript: dict
    otel: dict


def _scoped(
    qs,
    *,
    project_key: str | None,
    project_field: str = "project__key",
    user: str | None = None,
    machine: str | None = None,
    people_prefix: str = "session__",
):
    """Rows of one project, user and machine (None: any); `people_prefix` reaches the session's user and
    machine ("" for sessions themselves)."""
    qs = qs.filter(**{project_field: project_key}) if project_key else qs
    return people_filter(qs, user=user, machine=machine, prefix=people_prefix)


def usage_by_source(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[SourceUsage]:
    """Claude Code's usage per model and source over the span, from the usage rollups; by model, then
    in SOURCES order."""
    qs = rollup_filter(
        UsageHour.objects.filter(**hour_span(start, end)),
        platform=PLATFORM,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    rows = (
        qs.values("model", "source")
        .annotate(messages=Sum("messages"), **{k: Sum(k) for k in TOKEN_KINDS}, **cost_units_sums())
        .order_by()
    )
    out = [
        SourceUsage(
            model=r["model"],
            source=r["source"] or "transcript",  # rows from before the OTel source counted transcripts only
            messages=r["messages"] or 0,
            **{k: r[k] or 0 for k in TOKEN_KINDS},
            cost_usd=cost_units_total(r["cost_high"], r["cost_low"]),
        )
        for r in rows
    ]
    order = {s: i for i, s in enumerate(SOURCES)}
    return sorted(out, key=lambda r: (r["model"], order.get(r["source"], len(order)), r["source"]))


def otel_reported(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[OtelReported]:
    """Per model, OpenTelemetry's own usage figures over the span (api_request events, and the
    claude_code.token.usage / cost.usage metrics), for the cross-check against the ledger."""
    span = hour_span(start, end)
    events: dict[str, dict] = {}
    turns = _scoped(
        Turn.objects.filter(session__platform=PLATFORM, kind=TurnKind.ASSISTANT_RESPONSE, **span)
        .exclude(otel_usage=None)
        .values_list("model", "otel_usage"),
        project_key=project_key,
        user=user,
        machine=machine,
    )
    for model, reading in turns.iterator():
        if not isinstance(reading, dict):
            continue
        acc = events.setdefault(model, {"calls": 0, **dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)})
        acc["calls"] += 1
        for kind in TOKEN_KINDS:
            acc[kind] += _count(reading.get(kind))
        acc["cost_usd"] += _amount(reading.get("cost_usd"))
    metrics: dict[str, dict] = {}
    points = _scoped(
        MetricPoint.objects.filter(
            session__platform=PLATFORM, name__in=["claude_code.token.usage", "claude_code.cost.usage"], **span
        )
        .values("model", "name", "kind")
        .annotate(total=Sum("delta"))
        .order_by(),
        project_key=project_key,
        user=user,
        machine=machine,
    )
    for p in points:
        acc = metrics.setdefault(p["model"], {**dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)})
        total = Decimal(p["total"] or 0)
        if p["name"] == "claude_code.cost.usage":
            acc["cost_usd"] += total
        elif p["kind"] in METRIC_TOKEN_KINDS:
            acc[METRIC_TOKEN_KINDS[p["kind"]]] += int(total)
    return [
        OtelReported(model=model, events=events.get(model), metrics=metrics.get(model))
        for model in sorted(set(events) | set(metrics))
    ]


def _count(value: object) -> int:
    # The slow path writes whole numbers here; anything else reads as nothing rather than failing a report.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _amount(value: object) -> Decimal:
    try:
        amount = (
            Decimal(str(value))
            if isinstance(value, str | int | float) and not isinstance(value, bool)
            else None
        )
    except ArithmeticError:
        amount = None
    return amount if amount is not None and amount.is_finite() else Decimal(0)


def usage_conflicts(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    limit: int = CONFLICTS_MAX,
) -> list[Conflict]:
    """The API calls whose transcript and OTel tokens differ, newest first (at most `limit`)."""
    turns = _scoped(
        Turn.objects.filter(session__platform=PLATFORM, source="conflict", **hour_span(start, end)),
        project_key=project_key,
        user=user,
        machine=machine,
    ).select_related("session")
    return [
        conflict_of(t, session_id=t.session.session_id) for t in turns.order_by("-timestamp", "-id")[:limit]
    ]


def conflict_of(turn: Turn, *, session_id: str) -> Conflict:
    """A conflict turn's two readings."""
    return Conflict(
        session_id=session_id,
        request_id=turn.request_id,
        model=turn.model,
        timestamp=turn.timestamp,
        transcript={k: getattr(turn, k) for k in TOKEN_KINDS},
        otel=dict(turn.otel_usage or {}),
    )


class JoinCoverage(TypedDict):
    """How the sources' join keys matched over the span: API calls (request_id) by source, tool calls
    (tool_use_id) by who saw them, prompts (prompt.id) by who saw them, and possible OTel loss."""

    requests: dict[str, int]  # SOURCES -> calls
    tool_calls: dict[
        str, int
    ]  # total, in_otel, in_hooks, in_transcript, otel_and_hooks, otel_only, not_in_otel
    prompts: dict[str, int]  # total, in_otel, in_hooks, in_transcript, otel_only
    otel_gaps: dict[str, int]  # sessions, records (possibly lost)


def join_coverage(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> JoinCoverage:
    span = hour_span(start, end)
    people = {"user": user, "machine": machine}
    requests = dict.fromkeys(SOURCES, 0)
    for row in (
        _scoped(
            Turn.objects.filter(session__platform=PLATFORM, kind=TurnKind.ASSISTANT_RESPONSE, **span),
            project_key=project_key,
            **people,
        )
        .values("source")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        source = row["source"] or "transcript"
        requests[source] = requests.get(source, 0) + row["n"]
    calls = _scoped(
        ToolCall.objects.filter(session__platform=PLATFORM, **span), project_key=project_key, **people
    )
    tool_calls = calls.aggregate(
        total=Count("pk"),
        in_otel=Count("pk", filter=Q(seen_in_otel=True)),
        in_hooks=Count("pk", filter=Q(seen_in_hooks=True)),
        in_transcript=Count("pk", filter=Q(seen_in_transcript=True)),
        otel_and_hooks=Count("pk", filter=Q(seen_in_otel=True, seen_in_hooks=True)),
        otel_only=Count("pk", filter=Q(seen_in_otel=True, seen_in_hooks=False, seen_in_transcript=False)),
        not_in_otel=Count("pk", filter=Q(seen_in_otel=False)),
    )
    prompts = dict.fromkeys(("total", "in_otel", "in_hooks", "in_transcript", "otel_only"), 0)
    # detail.sources is a JSON list; counted here rather than in SQL, which SQLite's JSON cannot filter.
    for detail in _scoped(
        Turn.objects.filter(session__platform=PLATFORM, kind=TurnKind.USER_PROMPT, **span),
        project_key=project_key,
        **people,
    ).values_list("detail", flat=True):
        sources = set(detail.get("sources") or ()) if isinstance(detail, dict) else set()
        prompts["total"] += 1
        prompts["in_otel"] += "otel" in sources
        prompts["in_hooks"] += "hook" in sources
        prompts["in_transcript"] += "transcript" in sources
        prompts["otel_only"] += sources == {"otel"}
    sessions = _scoped(
        Session.objects.filter(
            platform=PLATFORM, otel_gaps__gt=0, last_event_at__gte=start, started_at__lt=end
        ),
        project_key=project_key,
        people_prefix="",
        **people,
    ).aggregate(sessions=Count("pk"), records=Sum("otel_gaps"))
    return JoinCoverage(
        requests=requests,
        tool_calls=tool_calls,
        prompts=prompts,
        otel_gaps={"sessions": sessions["sessions"] or 0, "records": sessions["records"] or 0},
    )


class OtelActivity(TypedDict):
    """The figures Claude Code's export adds, beside Blueplane's own where it has one. `otel` is False
    when no OTel metric point falls in the span: the otel_* figures are then None, not 0."""

    otel: bool
    active_seconds: int
    otel_active_seconds: Decimal | None
    lines_added: int
    lines_removed: int
    otel_lines_added: int | None
    otel_lines_removed: int | None
    edits_accepted: int
    edits_rejected: int
    otel_edit_accepts: int | None
    otel_edit_rejects: int | None
    api_errors: int
    api_retries: int
    tool_decisions: list[dict]  # [{tool_name, decision, decision_source, calls}], most calls first


_ACTIVITY = ("active_seconds", "lines_added", "lines_removed", "edits_accepted", "edits_rejected", "api_errors",
             "api_retries")  # fmt: skip
_OTEL_ACTIVITY = ("otel_active_seconds", "otel_lines_added", "otel_lines_removed", "otel_edit_accepts",
                  "otel_edit_rejects")  # fmt: skip


def tool_decisions(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    platform: str | None = None,
    tool_name: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[dict]:
    """Claude Code's tool decisions over the span (its OTel tool_decision events): [{tool_name, decision
    (accept/reject), decision_source (who decided: config, user_temporary, user_permanent, user_reject,
    hook, ...), calls}], most calls first; only `tool_name`'s when given. Empty for another platform, or
    without OTel."""
    if platform not in (None, PLATFORM):
        return []
    calls = _scoped(
        ToolCall.objects.filter(session__platform=PLATFORM, **hour_span(start, end)),
        project_key=project_key,
        user=user,
        machine=machine,
    )
    if tool_name:
        calls = calls.filter(tool_name=tool_name)
    return list(
        calls.exclude(decision="")
        .values("tool_name", "decision", "decision_source")
        .annotate(calls=Count("pk"))
        .order_by("-calls", "tool_name", "decision", "decision_source")
    )


def otel_activity(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> OtelActivity:
    span = hour_span(start, end)
    people = {"user": user, "machine": machine}
    sums = rollup_filter(
        ActivityHour.objects.filter(**span), platform=PLATFORM, project_key=project_key, **people
    ).aggregate(**{f: Sum(f) for f in (*_ACTIVITY, *_OTEL_ACTIVITY)})
    seen = _scoped(
        MetricPoint.objects.filter(session__platform=PLATFORM, **span), project_key=project_key, **people
    ).exists()
    decisions = tool_decisions(start=start, end=end, project_key=project_key, **people)
    otel_figures = {f: (sums[f] or 0) if seen else None for f in _OTEL_ACTIVITY}
    return OtelActivity(
        otel=seen,
        **{f: sums[f] or 0 for f in _ACTIVITY},
        **otel_figures,
        tool_decisions=decisions,
    )


SEEN_BY_OTEL = ("both", "otel", "conflict")
_FIGURES = (*TOKEN_KINDS, "cost_usd")


class OtelComparison(TypedDict):
    """One model's usage as the ledger counts the calls OTel saw (sources both, otel, conflict), beside
    OTel's own two readings and their differences (OTel minus ledger; None where OTel has no reading). A
    token difference is a conflict's; a cost difference is Claude Code's price against Blueplane's."""

    model: str
    ledger: dict  # {calls, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd}
    events: dict | None
    metrics: dict | None
    events_difference: dict | None
    metrics_difference: dict | None


def otel_compared(usage: list[SourceUsage], reported: list[OtelReported]) -> list[OtelComparison]:
    """usage_by_source's and otel_reported's rows side by side, per model."""
    seen: dict[str, dict] = {}
    for r in usage:
        if r["source"] in SEEN_BY_OTEL:
            acc = seen.setdefault(
                r["model"], {"calls": 0, **dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)}
            )
            acc["calls"] += r["messages"]
            for k in _FIGURES:
                acc[k] += r[k]

    def difference(otel: dict | None, ledger: dict) -> dict | None:
        if otel is None:
            return None
        return {k: otel[k] - ledger[k] for k in (*(("calls",) if "calls" in otel else ()), *_FIGURES)}

    out = []
    for row in reported:
        ledger = seen.get(row["model"]) or {
            "calls": 0,
            **dict.fromkeys(TOKEN_KINDS, 0),
            "cost_usd": Decimal(0),
        }
        out.append(
            OtelComparison(
                model=row["model"], ledger=ledger, events=row["events"], metrics=row["metrics"],
                events_difference=difference(row["events"], ledger),
                metrics_difference=difference(row["metrics"], ledger),
            )
        )  # fmt: skip
    return out


class Ledger(TypedDict):
    otel: bool  # whether the span holds anything OpenTelemetry reported
    usage: list[SourceUsage]
    sources: dict[str, dict]  # sources_of(usage)
    otel_reported: list[OtelReported]
    compared: list[OtelComparison]
    conflicts: list[Conflict]
    conflicts_total: int
    joins: JoinCoverage
    activity: OtelActivity


def ledger(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> Ledger:
    """Everything above over one span: the one reconciled ledger of Claude Code's usage with the
    provenance of every number, OTel's own figures beside it, and how the sources matched."""
    args = {"start": start, "end": end, "project_key": project_key, "user": user, "machine": machine}
    usage, reported, activity = usage_by_source(**args), otel_reported(**args), otel_activity(**args)
    joins = join_coverage(**args)
    sources = sources_of(usage)
    return Ledger(
        otel=bool(
            activity["otel"] or reported or set(sources) & set(SEEN_BY_OTEL) or joins["otel_gaps"]["sessions"]
        ),
        usage=usage,
        sources=sources,
        otel_reported=reported,
        compared=otel_compared(usage, reported),
        conflicts=usage_conflicts(**args),
        conflicts_total=joins["requests"].get("conflict", 0),
        joins=joins,
        activity=activity,
    )


def span_sources(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> dict[str, dict] | None:
    """Usage per source over the span (sources_of), or None when it holds only transcripts' calls: a
    usage report adds `sources` only then, so a store without OpenTelemetry answers as before."""
    if platform not in (None, PLATFORM):
        return None
    sources = sources_of(
        usage_by_source(start=start, end=end, project_key=project_key, user=user, machine=machine)
    )
    return sources if set(sources) & set(SEEN_BY_OTEL) else None


def sources_of(rows: list[SourceUsage]) -> dict[str, dict]:
    """Usage rows summed per source (all models): {source: {messages, tokens..., cost_usd}}."""
    out: dict[str, dict] = defaultdict(
        lambda: {"messages": 0, **dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)}
    )
    for r in rows:
        acc = out[r["source"]]
        for k in ("messages", *TOKEN_KINDS, "cost_usd"):
            acc[k] += r[k]
    order = {s: i for i, s in enumerate(SOURCES)}
    return {s: out[s] for s in sorted(out, key=lambda s: (order.get(s, len(order)), s))}


def otel_seen(
    *,
    start: datetime,
    end: datetime,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> bool:
    """Whether OpenTelemetry reported anything over the span: an API call (alone or beside a transcript),
    a metric point, a tool call. One query; a page asks this before the ledger's dozen."""
    span = hour_span(start, end)
    usage = rollup_filter(
        UsageHour.objects.filter(**span, source__in=[s for s in SOURCES if s != "transcript"]),
        platform=PLATFORM,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    people = {"user": user, "machine": machine}
    points = _scoped(
        MetricPoint.objects.filter(session__platform=PLATFORM, **span), project_key=project_key, **people
    )
    calls = _scoped(
        ToolCall.objects.filter(session__platform=PLATFORM, seen_in_otel=True, **span),
        project_key=project_key,
        **people,
    )
    # UNION ALL stops at the first row found (SQLite refuses a LIMIT inside a compound's parts).
    ids = [qs.order_by().values_list("pk", flat=True) for qs in (usage, points, calls)]
    return bool(ids[0].union(*ids[1:], all=True)[:1])

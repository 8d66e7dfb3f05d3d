"""Reads shared by the API, admin, MCP server and CLI. Interfaces call these, never their own queries."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import redis
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model, QuerySet, Sum

from .connections import redis_client
from .models import RAW_TRACE_MODELS, ActivityHour, RawChunk, RawTrace, Session, ToolHour, UsageHour
from .processing import rollups
from .store import units
from .store.keys import session_key


def database_ready() -> bool:
    """Whether the database has every migration applied (`blueplane up` applies them)."""
    executor = MigrationExecutor(connection)
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


def redis_ok() -> bool:
    try:
        return bool(redis_client().ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def trace_list(*, platform: str, session_id: str | None = None, event_type: str | None = None) -> QuerySet:
    """Index rows of raw traces, newest first; never loads the compressed events."""
    qs = RAW_TRACE_MODELS[platform].objects.order_by("-seq")
    if session_id:
        qs = qs.filter(session_key=session_key(session_id))
    if event_type:
        qs = qs.filter(event_type=event_type)
    return qs


def trace_event(*, trace: RawTrace) -> dict | None:
    """The decompressed event of one raw trace row."""
    return units.event_load(platform=trace.PLATFORM, seq=trace.seq)


def trace_list_with_units(*, platform: str) -> QuerySet:
    """trace_list joined to each row's unit in the same query (for the session id, which index rows
    store only as a digest); the unit's compressed body is left out."""
    return trace_list(platform=platform).select_related("chunk").defer("chunk__body")


def chunk_list() -> QuerySet:
    """Compressed units, newest first, without their bodies (or the codec's dictionary)."""
    return RawChunk.objects.select_related("codec").defer("body", "codec__dictionary").order_by("-id")


def chunk_events_load(*, chunk_id: int) -> list[bytes] | None:
    """The decompressed events of one unit in stored order, or None if the unit is gone."""
    row = RawChunk.objects.filter(id=chunk_id).values_list("codec_id", "body").first()
    return None if row is None else units.chunk_events(chunk_id, row[0], row[1])


def row_id_span(*, model: type[Model]) -> tuple[int, int] | None:
    """Lowest and highest primary key of a table, or None if it is empty. Two LIMIT 1 reads of the
    primary-key index: cheap on any size, unlike COUNT(*), and SQLite would scan the whole table for
    MIN() and MAX() in one SELECT. hi - lo + 1 bounds the row count from above."""
    ids = model._default_manager.order_by("pk").values_list("pk", flat=True)
    lo = ids.first()
    return None if lo is None else (lo, ids.order_by("-pk").first())


# --- Metrics: read from the hourly rollups (docs/metrics.md defines each figure) -----------------------

USAGE_GROUPS = ("model", "project", "platform")


def _rollup_filter(qs: QuerySet, *, platform: str | None, project_key: str | None) -> QuerySet:
    if platform:
        qs = qs.filter(platform=platform)
    if project_key:
        qs = qs.filter(project__key=project_key)
    return qs


def hour_local_day(*, hour: datetime, tz: ZoneInfo) -> date:
    """The local day a UTC hour counts toward: the day holding the hour's middle (hour + 30 min). Exact
    for zones on whole hours; for :30 and :45 zones an hour straddling midnight goes whole to the day
    holding most of it (for :30, the later day). See docs/metrics.md."""
    return (hour + timedelta(minutes=30)).astimezone(tz).date()


def _span_hours(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds (a little wide) of the hours whose local day is in [start, end]."""
    lo = datetime.combine(start, time.min, tz).astimezone(UTC) - timedelta(hours=1)
    hi = datetime.combine(end + timedelta(days=1), time.min, tz).astimezone(UTC) + timedelta(hours=1)
    return lo, hi


def usage_by_day(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: tuple[str, ...] = ("model",),
    platform: str | None = None,
    project_key: str | None = None,
) -> list[dict]:
    """Messages, tokens and cost per local day (start..end inclusive, in IANA zone `tz`) and per the
    `by` columns (any of model, project, platform), sorted by day then group. Days are sums of UTC
    hour rows (see hour_local_day)."""
    if unknown := set(by) - set(USAGE_GROUPS):
        raise ValueError(f"cannot group usage by {sorted(unknown)}; choose from {USAGE_GROUPS}")
    zone = ZoneInfo(tz)
    lo, hi = _span_hours(start, end, zone)
    columns = [{"project": "project__key"}.get(b, b) for b in by]
    qs = _rollup_filter(
        UsageHour.objects.filter(hour__gte=lo, hour__lt=hi), platform=platform, project_key=project_key
    )
    rows = qs.values("hour", *columns).annotate(**{m: Sum(m) for m in rollups.USAGE_MEASURES}).order_by()
    out: dict[tuple, dict] = {}
    for r in rows:
        day = hour_local_day(hour=r["hour"], tz=zone)
        if not start <= day <= end:
            continue
        group = tuple(r[c] for c in columns)
        acc = out.get((day, group))
        if acc is None:
            acc = out[(day, group)] = {
                "day": day,
                **dict(zip(by, group, strict=True)),
                **dict.fromkeys(rollups.USAGE_MEASURES, 0),
            }
        for m in rollups.USAGE_MEASURES:
            acc[m] += r[m] or 0
    return [out[k] for k in sorted(out, key=lambda k: (k[0], tuple(str(x) for x in k[1])))]


def _hour_span(start: datetime, end: datetime) -> dict:
    """Rollup filter for the UTC hours overlapping [start, end): spans are whole hours."""
    return {"hour__gte": rollups.hour_floor(start), "hour__lt": end}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def tool_stats(
    *, start: datetime, end: datetime, platform: str | None = None, project_key: str | None = None
) -> list[dict]:
    """Per tool over the hours overlapping [start, end): calls, failures, rejections, interruptions,
    their rates, mean and p50/p95/p99 latency in ms (from the summed histograms), most calls first."""
    qs = _rollup_filter(
        ToolHour.objects.filter(**_hour_span(start, end)), platform=platform, project_key=project_key
    )
    tools: dict[str, dict] = {}
    for tool, calls, failures, rejections, interruptions, ms_sum, hist in qs.values_list(
        "tool_name",
        "calls",
        "failures",
        "rejections",
        "interruptions",
        "duration_ms_sum",
        "duration_histogram",
    ):
        t = tools.setdefault(
            tool,
            {
                "tool_name": tool,
                "calls": 0,
                "failures": 0,
                "rejections": 0,
                "interruptions": 0,
                "duration_ms_sum": 0,
                "histogram": [],
            },
        )
        t["calls"] += calls
        t["failures"] += failures
        t["rejections"] += rejections
        t["interruptions"] += interruptions
        t["duration_ms_sum"] += ms_sum
        rollups.histogram_add(t["histogram"], hist)
    out = []
    for t in tools.values():
        timed = sum(t["histogram"])
        t["failure_rate"] = _rate(t["failures"], t["calls"])
        t["interruption_rate"] = _rate(t["interruptions"], t["calls"])
        t["mean_ms"] = t["duration_ms_sum"] / timed if timed else None
        for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            t[name] = rollups.histogram_percentile(t["histogram"], q)
        out.append(t)
    return sorted(out, key=lambda t: (-t["calls"], t["tool_name"]))


def activity_summary(
    *, start: datetime, end: datetime, platform: str | None = None, project_key: str | None = None
) -> dict:
    """Totals and rates over the hours overlapping [start, end): prompts, assistant messages, tool
    calls and their failure / interruption rates, API error rate, lines changed, AI edit acceptance
    rate and active time. A rate with no denominator is None."""
    span = _hour_span(start, end)
    act = _rollup_filter(
        ActivityHour.objects.filter(**span), platform=platform, project_key=project_key
    ).aggregate(
        **{
            f: Sum(f)
            for f in rollups.ACTIVITY_MEASURES
            if f != "sessions"  # sessions of different hours may be the same session: not summable
        }
    )
    act = {k: v or 0 for k, v in act.items()}
    tools = _rollup_filter(
        ToolHour.objects.filter(**span), platform=platform, project_key=project_key
    ).aggregate(
        calls=Sum("calls"),
        failures=Sum("failures"),
        interruptions=Sum("interruptions"),
        rejections=Sum("rejections"),
    )
    tools = {k: v or 0 for k, v in tools.items()}
    messages = (
        _rollup_filter(
            UsageHour.objects.filter(**span), platform=platform, project_key=project_key
        ).aggregate(n=Sum("messages"))["n"]
        or 0
    )
    edits = act["edits_accepted"] + act["edits_rejected"]
    return {
        **act,
        "assistant_messages": messages,
        "tool_calls": tools["calls"],
        "tool_failures": tools["failures"],
        "tool_interruptions": tools["interruptions"],
        "tool_rejections": tools["rejections"],
        "tool_error_rate": _rate(tools["failures"], tools["calls"]),
        "interruption_rate": _rate(tools["interruptions"], tools["calls"]),
        "api_error_rate": _rate(act["api_errors"], messages + act["api_errors"]),
        "acceptance_rate": _rate(act["edits_accepted"], edits),
        "lines_changed": act["lines_added"] + act["lines_removed"],
    }


# Code impact saturates at this many changed lines per active hour (docs/metrics.md).
IMPACT_LINES_PER_ACTIVE_HOUR = 200


def productivity_score(
    *, start: datetime, end: datetime, platform: str | None = None, project_key: str | None = None
) -> dict:
    """A 0-100 score and its parts (docs/metrics.md):
        score = clamp(50 + 25*tool_success - 15*error_share + 10*acceptance + 10*impact, 0, 100)
    tool_success = 1 - (failures + interruptions) / tool calls; error_share = (tool failures + API
    errors) / (tool calls + assistant messages + API errors); acceptance = AI edit acceptance rate;
    impact = min(1, lines changed per active hour / 200). A part without data counts 0 and is None."""
    a = activity_summary(start=start, end=end, platform=platform, project_key=project_key)
    calls = a["tool_calls"]
    tool_success = 1 - (a["tool_failures"] + a["tool_interruptions"]) / calls if calls else None
    attempts = calls + a["assistant_messages"] + a["api_errors"]
    error_share = (a["tool_failures"] + a["api_errors"]) / attempts if attempts else None
    acceptance = a["acceptance_rate"]
    active_h = a["active_seconds"] / 3600
    impact = min(1.0, a["lines_changed"] / active_h / IMPACT_LINES_PER_ACTIVE_HOUR) if active_h else None
    parts = {
        "base": 50.0,
        "tool_efficiency": 25 * (tool_success or 0),
        "error_penalty": -15 * (error_share or 0),
        "acceptance": 10 * (acceptance or 0),
        "code_impact": 10 * (impact or 0),
    }
    return {
        "score": round(max(0.0, min(100.0, sum(parts.values()))), 1),
        "parts": parts,
        "inputs": {
            "tool_success": tool_success,
            "error_share": error_share,
            "acceptance": acceptance,
            "impact": impact,
            **a,
        },
    }


def session_usage_list(*, start: datetime, end: datetime, limit: int = 50) -> list[dict]:
    """Sessions with activity in [start, end), newest first: project, models, tokens, cost, counts."""
    rows = (
        Session.objects.filter(last_event_at__gte=start, started_at__lt=end)
        .select_related("project")
        .order_by("-last_event_at")[:limit]
    )
    return [
        {
            "session_id": s.session_id,
            "platform": s.platform,
            "project": s.project.name if s.project else "",
            "started_at": s.started_at,
            "status": s.status,
            "models": s.models_used,
            "messages": s.assistant_messages,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cache_write_tokens": s.cache_write_tokens,
            "cache_read_tokens": s.cache_read_tokens,
            "cost_usd": s.cost_usd,
            "prompts": s.prompts,
            "tool_calls": s.tool_calls,
        }
        for s in rows
    ]


def stream_state() -> dict:
    """Length of the event stream, entries read but not yet acknowledged, and dead letters."""
    from .wire import DLQ_STREAM, EVENTS_STREAM, GROUP

    client = redis_client()
    try:
        pending = client.xpending(EVENTS_STREAM, GROUP)["pending"]
    except redis.ResponseError:  # no stream or group yet
        pending = 0
    return {
        "events": client.xlen(EVENTS_STREAM),
        "pending": pending,
        "dead_letters": client.xlen(DLQ_STREAM),
    }

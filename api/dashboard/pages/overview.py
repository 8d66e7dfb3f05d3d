"""The overview page's figures: today's and the period's totals, cost over time by model, tokens over
time by kind, the busiest projects and the recent sessions; with both assistants in the store, cost and
tokens per platform; with Cursor's AI tracking, its AI-authored lines (scored commits, AI code lines);
with Claude Code's OpenTelemetry export, where the numbers come from and what only OTel reports
(pages/provenance.py).

The totals come from the selectors behind the API's reports, over the same local days: tokens and cost
as /api/v1/usage/ sums them, prompts, tool calls, rates and active time as /api/v1/activity/, sessions
as /api/v1/sessions/ lists them (active in the span). So the page and the API cannot disagree."""

from datetime import timedelta

from telemetry.selectors import activity, ai_lines_pages, sessions, usage
from telemetry.selectors.spans import LocalDays, hour_local_day

from ..filters import PageFilters
from .provenance import overview_otel
from .usage_charts import TOKEN_KINDS, buckets, iso, model_name, ranked, scope, stacked, totals_json

TOP_PROJECTS = 8
RECENT_SESSIONS = 10
CHART_MODELS = 8  # models drawn apart; the rest are "other"


def totals(days: LocalDays, daily: list[usage.UsageRow], where: dict, missing: list) -> dict:
    """The KPI figures of the local days `days` (daily: their usage rows; where: scope(); missing: the
    responses without tokens per day)."""
    use = usage.usage_totals_empty()
    for row in daily:
        if days.since <= row["day"] <= days.until:
            usage.usage_totals_add(use, row)
    act = activity.activity_summary(start=days.start, end=days.end, **where)
    counted = sessions.session_list(start=days.start, end=days.end, **where).count()
    unrecorded = ai_lines_pages.responses_without_tokens_sum(missing, since=days.since, until=days.until)
    return {
        **totals_json(use),
        # Of `messages`, those whose tokens were not recorded (Cursor): the tokens are missing, not 0.
        "responses_without_tokens": sum(unrecorded.values()),
        "sessions": counted,
        "prompts": act["prompts"],
        "tool_calls": act["tool_calls"],
        "tool_failures": act["tool_failures"],
        "tool_failure_rate": act["tool_error_rate"],
        "acceptance_rate": act["acceptance_rate"],
        "active_seconds": act["active_seconds"],
    }


def figures(filters: PageFilters) -> dict:
    days, today = filters.days(), filters.today_days()
    where = scope(filters)
    # One read of the usage rollup per day, model and project serves the totals, both charts and the
    # busiest projects (a day's rows are few: models x projects).
    first = min(days.since, today.since)
    last = max(days.until, today.until)
    daily = usage.usage_by_day(
        start=first, end=last, tz=days.tz, by=("model", "project", "platform"), **where
    )
    in_span = [r for r in daily if days.since <= r["day"] <= days.until]
    missing = ai_lines_pages.responses_without_tokens_by_day(start=first, end=last, tz=days.tz, **where)
    counts = sessions.session_counts(start=days.start, end=days.end, **where)
    models = [m for m, _, _ in ranked(in_span, model_name)]
    chart = _hourly(today, where) if days == today else _daily(days, in_span, models)
    unrecorded = ai_lines_pages.responses_without_tokens_sum(
        missing, since=days.since, until=days.until, by="project_key"
    )
    projects = [
        {
            "project": row["project"],
            "project_key": key,
            **totals_json(sums),
            "responses_without_tokens": unrecorded.get(key, 0),
            "sessions": counts["by_project"].get(key, 0),
        }
        for key, sums, row in ranked(in_span, lambda r: r["project_key"])[:TOP_PROJECTS]
    ]
    today_totals = totals(today, daily, where, missing)
    recent = sessions.session_list(start=days.start, end=days.end, **where)[:RECENT_SESSIONS]
    period = today_totals if days == today else totals(days, daily, where, missing)
    return {
        "empty": not sessions.sessions_stored_any(),
        "span": {"since": days.since.isoformat(), "until": days.until.isoformat(), "tz": days.tz},
        "today": today_totals,
        "period": period,
        **chart,
        "platforms": _platforms(days, in_span, chart, where, missing),
        "ai_lines": _ai_lines(filters, days),
        "otel": overview_otel(
            filters, days, where["project_key"], user=where["user"], machine=where["machine"]
        ),
        "projects": projects,
        "sessions": [_recent(s) for s in recent],
    }


def _recent(s: object) -> dict:
    return {
        "session_id": s.session_id,
        "platform": s.platform,
        "project": s.project.name if s.project else "",
        "started_at": iso(s.started_at),
        "status": s.status,
        "models": s.models_used,
        "messages": s.assistant_messages,
        "prompts": s.prompts,
        "tool_calls": s.tool_calls,
        "tokens": s.input_tokens + s.output_tokens + s.cache_write_tokens + s.cache_read_tokens,
        # Of `messages`, those whose tokens Cursor did not record: missing, never counted as 0.
        "responses_without_tokens": s.responses_without_tokens,
        "cost_usd": str(s.cost_usd),
    }


def _platforms(
    days: LocalDays, rows: list[usage.UsageRow], chart: dict, where: dict, missing: list
) -> dict | None:
    """Cost and tokens per platform in the period, and cost per platform over the chart's buckets; None
    unless both platforms used tokens or answered in the period (one platform alone is the page itself)."""
    if where["platform"]:
        return None
    missing = ai_lines_pages.responses_without_tokens_sum(missing, since=days.since, until=days.until)
    by_platform = ranked(rows, lambda r: r["platform"])
    if len({p for p, _, _ in by_platform} | set(missing)) < 2:
        return None
    table = [
        {"platform": p, **totals_json(sums), "responses_without_tokens": missing.get(p, 0)}
        for p, sums, _ in by_platform
    ]
    table += [
        {"platform": p, **totals_json(usage.usage_totals_empty()), "responses_without_tokens": n}
        for p, n in missing.items()
        if p not in {r["platform"] for r in table}
    ]
    order = [r["platform"] for r in table]
    if chart["unit"] == "hour":
        series = []  # a single day: the table says it all
    else:
        _, labels, bucket = buckets(days, rows)
        series = stacked(rows, labels=labels, bucket_of=lambda r: bucket(r["day"]), group_of=lambda r: r["platform"],
                         value=lambda r: r["cost_usd"], order=order)  # fmt: skip
    return {"rows": table, "cost_by_platform": series}


def _ai_lines(filters: PageFilters, days: LocalDays) -> dict | None:
    """Cursor's AI-authored lines in the period; None when the store holds none, or when the page is of
    Claude Code alone, of one project, user or machine (Cursor scores commits without naming their
    repository, or any session)."""
    narrowed = filters.project or filters.user or filters.machine
    if filters.platform == "claude_code" or narrowed or not ai_lines_pages.ai_lines_stored_any():
        return None
    found = ai_lines_pages.ai_lines_summary(start=days.since, end=days.until, tz=days.tz)
    return {**found, "by_day": [{**d, "day": d["day"].isoformat()} for d in found["by_day"]]}


def _daily(days: LocalDays, rows: list[usage.UsageRow], models: list[str]) -> dict:
    unit, labels, bucket = buckets(days, rows)
    by_day = {"labels": labels, "bucket_of": lambda r: bucket(r["day"])}
    return {
        "unit": unit,
        "labels": labels,
        "cost_by_model": stacked(
            rows, **by_day, group_of=model_name, value=lambda r: r["cost_usd"], order=models[:CHART_MODELS]
        ),
        "tokens_by_kind": _kinds(rows, by_day),
    }


def _hourly(today: LocalDays, where: dict) -> dict:
    """A single day's charts, by the UTC hours the day's usage is counted in (spans.hour_local_day),
    labelled with their local start (HH:MM)."""
    rows = usage.usage_by_hour(start=today.start, end=today.end, **where)
    zone = today.zone
    hour = today.start.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = []
    while hour < today.end:
        if hour_local_day(hour=hour, tz=zone) == today.since:
            hours.append(hour)
        hour += timedelta(hours=1)
    keys = [h.isoformat() for h in hours]
    day_rows = [{**r, "key": r["hour"].isoformat()} for r in rows]
    models = [m for m, _, _ in ranked(day_rows, model_name)]
    by_hour = {"labels": keys, "bucket_of": lambda r: r["key"]}
    return {
        "unit": "hour",
        "labels": [h.astimezone(zone).strftime("%H:%M") for h in hours],
        "cost_by_model": stacked(
            day_rows,
            **by_hour,
            group_of=model_name,
            value=lambda r: r["cost_usd"],
            order=models[:CHART_MODELS],
        ),
        "tokens_by_kind": _kinds(day_rows, by_hour),
    }


def _kinds(rows: list, by_bucket: dict) -> list[dict]:
    """Tokens of each kind per bucket: one series per kind."""

    def kind(name: str) -> dict:
        return stacked(rows, **by_bucket, group_of=lambda r: name, value=lambda r: r[name], order=[name])[0]

    return [kind(name) for name in TOKEN_KINDS]

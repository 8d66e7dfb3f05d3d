"""The tools page: calls, failures, rejections and interruptions per tool with latency percentiles
(telemetry.selectors.tools.tool_stats, what /api/v1/tools/ reports), failures per day by tool, and the
most common errors (telemetry.selectors.errors.error_groups, what /api/v1/errors/ reports), and Claude
Code's tool decisions by tool and who decided (its OpenTelemetry export; pages/provenance.py)."""

from datetime import date, datetime, timedelta

from telemetry.selectors.errors import error_groups
from telemetry.selectors.sessions import project_keys_named
from telemetry.selectors.tools import tool_failures_by_day, tool_stats

from ..filters import PageFilters
from .provenance import tool_decisions

ERRORS_MAX = 20
SPAN_DAYS_MAX = 92
CHART_TOOLS_MAX = 8  # a stacked chart of more tools is noise: the rest are summed as "other"


def _project_key(project: str) -> str | None:
    """The page's project filter (a key or a folder name) as the rollups' key; a name that names no
    project, or several, is used as it is (and matches nothing, or the first)."""
    if not project:
        return None
    keys = project_keys_named(project=project)
    return keys[0] if keys else project


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def failures_series(rows: list[dict], days: list[str]) -> dict:
    """Failures per day stacked by tool: {labels: days, series: [{tool, data}]}, the tools with the most
    failures first and the rest summed as "other"."""
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["tool_name"]] = totals.get(r["tool_name"], 0) + r["failures"]
    ranked = sorted(totals, key=lambda t: (-totals[t], t))
    kept = ranked[:CHART_TOOLS_MAX]
    names = kept + (["other"] if len(ranked) > len(kept) else [])
    index = {d: i for i, d in enumerate(days)}
    data = {n: [0] * len(days) for n in names}
    for r in rows:
        name = r["tool_name"] if r["tool_name"] in kept else "other"
        data[name][index[r["day"].isoformat()]] += r["failures"]
    return {"labels": days, "series": [{"tool": n, "data": data[n]} for n in names]}


def _chart_days(since: date, until: date, seen: list[date]) -> list[date]:
    """The chart's days: the whole span when it is short, else (all time starts in year 1) only the days
    from the first failure to the last."""
    if (until - since).days > SPAN_DAYS_MAX:
        if not seen:
            return []
        since, until = min(seen), max(seen)
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def figures(filters: PageFilters) -> dict:
    days = filters.days()
    project_key = _project_key(filters.project)
    platform = filters.platform or None
    stats = tool_stats(start=days.start, end=days.end, platform=platform, project_key=project_key)
    tools = [{k: v for k, v in t.items() if k != "histogram"} for t in stats]
    if filters.tool:
        tools = [t for t in tools if t["tool_name"] == filters.tool]
    daily = tool_failures_by_day(days=days, platform=platform, project_key=project_key)
    if filters.tool:
        daily = [r for r in daily if r["tool_name"] == filters.tool]
    labels = [d.isoformat() for d in _chart_days(days.since, days.until, [r["day"] for r in daily])]
    groups = error_groups(
        start=days.start, end=days.end, platform=platform, project_key=project_key,
        tool_name=filters.tool or None, limit=ERRORS_MAX,
    )  # fmt: skip
    calls = sum(t["calls"] for t in tools)
    failed = sum(t["failures"] + t["rejections"] + t["interruptions"] for t in tools)
    return {
        "totals": {
            "calls": calls,
            "failures": sum(t["failures"] for t in tools),
            "rejections": sum(t["rejections"] for t in tools),
            "interruptions": sum(t["interruptions"] for t in tools),
            "failure_rate": failed / calls if calls else None,
            "tools": len(tools),
        },
        "tools": tools,
        "failures_by_day": failures_series(daily, labels),
        "errors": [
            {**g, "first_seen": _time(g["first_seen"]), "last_seen": _time(g["last_seen"])} for g in groups
        ],
        "decisions": tool_decisions(filters, days, project_key),  # None: no decision reported
    }

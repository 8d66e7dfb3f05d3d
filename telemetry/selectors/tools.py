"""Tool calls per tool, from the hourly tool rollups: outcomes, rates and latency percentiles."""

from collections import defaultdict
from datetime import date, datetime
from itertools import zip_longest
from typing import TypedDict

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast

from ..models import ToolHour
from ..processing import histograms
from .spans import LocalDays, days_hours, hour_local_day, hour_span, rate, rollup_filter


class ToolStats(TypedDict):
    """One tool over a span. Rates are None without calls; latencies (ms) None without timed calls."""

    tool_name: str
    calls: int
    failures: int
    rejections: int
    interruptions: int
    failure_rate: float | None
    rejection_rate: float | None
    interruption_rate: float | None
    duration_ms_sum: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    histogram: list[int]


def tool_stats(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[ToolStats]:
    """Per tool over the hours overlapping [start, end): calls, failures, rejections, interruptions,
    their rates (of all calls), mean and p50/p95/p99 latency in ms (from the summed histograms), most
    calls first."""
    qs = rollup_filter(
        ToolHour.objects.filter(**hour_span(start, end)),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    # The histograms are read as text and decoded by orjson, one call per tool; the counters are summed
    # column-wise per tool. JSONField's json.loads per tool-hour row, and summing row by row in Python,
    # were most of this report's time over a month of tool-hours.
    rows = qs.annotate(histogram_text=Cast("duration_histogram", TextField())).values_list(
        "tool_name", "calls", "failures", "rejections", "interruptions", "duration_ms_sum", "histogram_text"
    )
    grouped: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    tools: dict[str, dict] = {}
    for tool, group in grouped.items():
        _, calls, failures, rejections, interruptions, ms_sums, texts = zip(*group, strict=True)
        hists = orjson.loads("[" + ",".join(texts) + "]")
        tools[tool] = {
            "tool_name": tool, "calls": sum(calls), "failures": sum(failures), "rejections": sum(rejections),
            "interruptions": sum(interruptions), "duration_ms_sum": sum(ms_sums),
            "histogram": [sum(column) for column in zip_longest(*hists, fillvalue=0)],
        }  # fmt: skip
    out = []
    for t in tools.values():
        timed = sum(t["histogram"])
        out.append(
            ToolStats(
                **t,
                failure_rate=rate(t["failures"], t["calls"]),
                rejection_rate=rate(t["rejections"], t["calls"]),
                interruption_rate=rate(t["interruptions"], t["calls"]),
                mean_ms=t["duration_ms_sum"] / timed if timed else None,
                p50_ms=histograms.histogram_percentile(t["histogram"], 0.5),
                p95_ms=histograms.histogram_percentile(t["histogram"], 0.95),
                p99_ms=histograms.histogram_percentile(t["histogram"], 0.99),
            )
        )
    return sorted(out, key=lambda t: (-t["calls"], t["tool_name"]))


class ToolFailureDay(TypedDict):
    day: date
    tool_name: str
    failures: int  # failed, rejected and interrupted calls
    calls: int


def tool_failures_by_day(
    *,
    days: LocalDays,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[ToolFailureDay]:
    """Per local day of `days` (each UTC hour in the day holding its middle, spans.hour_local_day) and
    tool: calls, and failures of any kind (failed, rejected, interrupted), for tools with a failure
    that day. Oldest day first, then by tool. One query over the tool rollup's hours."""
    zone = days.zone
    first, last = days_hours(days.since, days.until, zone)
    qs = rollup_filter(ToolHour.objects.filter(hour__gte=first, hour__lt=last), platform=platform,
                       project_key=project_key, user=user, machine=machine)  # fmt: skip
    sums: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = qs.values_list("hour", "tool_name", "calls", "failures", "rejections", "interruptions")
    for hour, tool, calls, failures, rejections, interruptions in rows:
        day = hour_local_day(hour=hour, tz=zone)
        if days.since <= day <= days.until:
            total = sums[(day, tool)]
            total[0] += failures + rejections + interruptions
            total[1] += calls
    return [
        ToolFailureDay(day=day, tool_name=tool, failures=f, calls=c)
        for (day, tool), (f, c) in sorted(sums.items())
        if f
    ]

"""Tool calls per tool, from the hourly tool rollups: outcomes, rates and latency percentiles."""

from datetime import datetime
from typing import TypedDict

from ..models import ToolHour
from ..processing import histograms
from .spans import hour_span, rate, rollup_filter


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
    *, start: datetime, end: datetime, platform: str | None = None, project_key: str | None = None
) -> list[ToolStats]:
    """Per tool over the hours overlapping [start, end): calls, failures, rejections, interruptions,
    their rates (of all calls), mean and p50/p95/p99 latency in ms (from the summed histograms), most
    calls first."""
    qs = rollup_filter(
        ToolHour.objects.filter(**hour_span(start, end)), platform=platform, project_key=project_key
    )
    tools: dict[str, dict] = {}
    for tool, calls, failures, rejections, interruptions, ms_sum, hist in qs.values_list(
        "tool_name", "calls", "failures", "rejections", "interruptions", "duration_ms_sum",
        "duration_histogram",
    ):  # fmt: skip
        t = tools.setdefault(
            tool,
            {"tool_name": tool, "calls": 0, "failures": 0, "rejections": 0, "interruptions": 0,
             "duration_ms_sum": 0, "histogram": []},
        )  # fmt: skip
        t["calls"] += calls
        t["failures"] += failures
        t["rejections"] += rejections
        t["interruptions"] += interruptions
        t["duration_ms_sum"] += ms_sum
        histograms.histogram_add(t["histogram"], hist)
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

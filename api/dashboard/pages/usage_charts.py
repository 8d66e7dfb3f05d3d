"""Usage rows (telemetry.selectors.usage) made into what the overview and projects pages draw: buckets of
time (local days, or weeks or months when a span is long), stacked series per model or project, and
totals, all JSON-ready (money as strings of decimal USD, as every page's figures carry it)."""

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from telemetry.selectors.sessions import project_keys_named
from telemetry.selectors.spans import LocalDays, period_name, period_start
from telemetry.selectors.usage import UsageRow, UsageTotals, usage_totals_add, usage_totals_empty

from ..filters import PageFilters

TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
# A chart holds at most this many bars: a longer span is drawn by week, then by month.
MAX_DAY_BARS = 120
MAX_WEEK_BARS = 120
UNKNOWN_MODEL = "(unknown)"


def scope(filters: PageFilters) -> dict:
    """The selectors' platform and project arguments for the page's filters. A project is named by its
    key, or by its folder name when only one project has that name (as /ws/events takes it)."""
    project = filters.project or None
    if project:
        keys = project_keys_named(project=project)
        project = keys[0] if len(keys) == 1 else project
    return {"platform": filters.platform or None, "project_key": project, "user": filters.user or None,
            "machine": filters.machine or None}  # fmt: skip


def tokens(row: UsageTotals) -> int:
    return sum(row[k] for k in TOKEN_KINDS)


def totals_json(row: UsageTotals) -> dict:
    """A usage total as figures carry it: tokens by kind and together, messages, cost as a string."""
    return {
        "messages": row["messages"],
        **{k: row[k] for k in TOKEN_KINDS},
        "tokens": tokens(row),
        "cost_usd": str(row["cost_usd"]),
    }


def buckets(days: LocalDays, daily: list[UsageRow]) -> tuple[str, list[str], Callable[[date], str]]:
    """(unit, bucket names in order, day -> its bucket's name) for a chart of the span: its local days,
    by week (named by its Monday) past MAX_DAY_BARS days, by month past MAX_WEEK_BARS weeks. A span that
    long (all time reaches back to the calendar's first day) is cut to the days from the first to the last
    use: bars outside them would all be empty."""
    start, end = days.since, days.until
    if (end - start).days + 1 > MAX_DAY_BARS:
        if not daily:
            return "day", [], lambda day: day.isoformat()
        start, end = max(start, daily[0]["day"]), min(end, daily[-1]["day"])
    span_days = (end - start).days + 1
    unit = "day" if span_days <= MAX_DAY_BARS else "week" if span_days <= 7 * MAX_WEEK_BARS else "month"

    def name(day: date) -> str:
        return period_name(period_start(day, period=unit), unit)

    names = []
    first = period_start(start, period=unit)
    while first <= end:
        names.append(period_name(first, unit))
        first = _next_start(first, unit)
        if first is None:
            break
    return unit, names, name


def _next_start(first: date, unit: str) -> date | None:
    """The first day of the next day, week or month; None past the calendar's end."""
    try:
        if unit == "month":
            return date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return first + timedelta(days=7 if unit == "week" else 1)
    except (OverflowError, ValueError):
        return None


def stacked(
    rows: Iterable[dict], *, labels: list[str], bucket_of: Callable[[dict], str], group_of: Callable[[dict], str],
    value: Callable[[dict], Decimal | int], order: list[str],
) -> list[dict]:  # fmt: skip
    """One series per group in `order` (groups not in it are summed as "other"): its value per label."""
    index = {label: i for i, label in enumerate(labels)}
    series: dict[str, list] = {g: [0] * len(labels) for g in order}
    for r in rows:
        i = index.get(bucket_of(r))
        if i is None:
            continue
        group = group_of(r)
        if group not in series:
            group = "other"
            series.setdefault(group, [0] * len(labels))
        series[group][i] += value(r)
    return [
        {"name": g, "values": [str(v) if isinstance(v, Decimal) else v for v in vs]}
        for g, vs in series.items()
    ]


def ranked(
    rows: Iterable[UsageRow], key: Callable[[UsageRow], str]
) -> list[tuple[str, UsageTotals, UsageRow]]:
    """Rows summed per key, costliest first (then most tokens, then by key): (key, totals, a first row)."""
    sums: dict[str, tuple[UsageTotals, UsageRow]] = {}
    for r in rows:
        k = key(r)
        if k not in sums:
            sums[k] = (usage_totals_empty(), r)
        usage_totals_add(sums[k][0], r)
    out = [(k, t, first) for k, (t, first) in sums.items()]
    return sorted(out, key=lambda x: (-x[1]["cost_usd"], -tokens(x[1]), x[0]))


def model_name(row: dict) -> str:
    return row.get("model") or UNKNOWN_MODEL


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None

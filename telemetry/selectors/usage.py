"""Tokens and cost, from the hourly usage rollups: per local day, or grouped by model, project or day."""

from datetime import date
from decimal import Decimal
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from django.db.models import Sum

from ..models import UsageHour
from ..processing import rollups
from .spans import days_hours, hour_local_day, rollup_filter

USAGE_GROUPS = ("model", "project", "platform")


class UsageTotals(TypedDict):
    """Assistant messages, their tokens by kind, and their cost in USD (rollups.USAGE_MEASURES)."""

    messages: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal


class UsageRow(UsageTotals, total=False):
    """Usage of one local day and/or group. `project` is the project's name, `project_key` its key."""

    day: date
    model: str
    project: str
    project_key: str
    platform: str


def usage_totals_empty() -> UsageTotals:
    return UsageTotals(**dict.fromkeys(rollups.USAGE_MEASURES, 0))


def usage_totals_add(total: UsageTotals, row: UsageTotals) -> UsageTotals:
    """Add row's measures into total (in place). Returns total."""
    for m in rollups.USAGE_MEASURES:
        total[m] += row[m] or 0
    return total


def usage_by_day(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: tuple[str, ...] = ("model",),
    platform: str | None = None,
    project_key: str | None = None,
) -> list[UsageRow]:
    """Messages, tokens and cost per local day (start..end inclusive, in IANA zone `tz`) and per the
    `by` columns (any of model, project, platform), sorted by day then group. Days are sums of UTC
    hour rows (see spans.hour_local_day). Grouped by project, a row carries the project's name and key."""
    if unknown := set(by) - set(USAGE_GROUPS):
        raise ValueError(f"cannot group usage by {sorted(unknown)}; choose from {USAGE_GROUPS}")
    zone = ZoneInfo(tz)
    lo, hi = days_hours(start, end, zone)
    columns = [c for b in by for c in (("project__key", "project__name") if b == "project" else (b,))]
    names = {"project__key": "project_key", "project__name": "project"}
    qs = rollup_filter(
        UsageHour.objects.filter(hour__gte=lo, hour__lt=hi), platform=platform, project_key=project_key
    )
    rows = qs.values("hour", *columns).annotate(**{m: Sum(m) for m in rollups.USAGE_MEASURES}).order_by()
    out: dict[tuple, UsageRow] = {}
    for r in rows:
        day = hour_local_day(hour=r["hour"], tz=zone)
        if not start <= day <= end:
            continue
        group = tuple(r[c] for c in columns)
        acc = out.get((day, group))
        if acc is None:
            labels = {names.get(c, c): value for c, value in zip(columns, group, strict=True)}
            acc = out[(day, group)] = UsageRow(day=day, **labels, **usage_totals_empty())
        usage_totals_add(acc, r)
    return [out[k] for k in sorted(out, key=lambda k: (k[0], tuple(str(x) for x in k[1])))]


def usage_report(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: Literal["model", "project", "day"] = "model",
    platform: str | None = None,
) -> list[UsageRow]:
    """Usage over the local days start..end summed per model, project or day: days in order, models
    and projects by cost (highest first, then name). Projects that share a folder name stay apart
    (grouped by key); their rows then say which is which by their `project_key`."""
    daily = usage_by_day(start=start, end=end, tz=tz, by=() if by == "day" else (by,), platform=platform)
    groups: dict[object, UsageRow] = {}
    for row in daily:
        key = row["day"] if by == "day" else row["project_key"] if by == "project" else row["model"]
        acc = groups.get(key)
        if acc is None:
            labels = {k: row[k] for k in ("day", "model", "project", "project_key") if k in row}
            if by != "day":
                labels.pop("day")
            acc = groups[key] = UsageRow(**labels, **usage_totals_empty())
        usage_totals_add(acc, row)
    rows = list(groups.values())
    if by == "day":
        return rows
    name = "project" if by == "project" else "model"
    return sorted(rows, key=lambda r: (-r["cost_usd"], r[name], r.get("project_key", "")))

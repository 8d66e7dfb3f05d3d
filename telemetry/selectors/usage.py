"""Tokens and cost, from the hourly usage rollups: per local day, or grouped by model, project, day, week
or month.

Cursor does not record the tokens of every response. Such a response is counted in `messages` and in
`responses_without_tokens`, and adds nothing to the token sums; a row whose responses all lack their
tokens has its tokens and cost set to None (missing: never shown as 0, never estimated, see
usage_tokens_missing). Every interface shows these rows as they come from here."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from django.db.models import Sum

from ..models import RAW_TRACE_MODELS, UsageHour
from ..processing import rollups
from ..processing.bounds import cost_units_sums
from ..processing.costunits import cost_units_total
from .ccusage_shapes import source_label
from .spans import WEEKDAYS as WEEKDAYS  # the API names weeks' first days from here
from .spans import days_hours, hour_local_day, hour_span, period_name, period_start, rollup_filter

PLATFORMS = tuple(RAW_TRACE_MODELS)  # claude_code, cursor
USAGE_GROUPS = ("model", "project", "platform", "source", "user", "machine")
PERIODS = ("day", "week", "month")
# The rollups' measures, and the responses of them whose tokens the assistant did not record.
MEASURES = (*rollups.USAGE_MEASURES, "responses_without_tokens")
TOKEN_MEASURES = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
_TOKENS = tuple(m for m in MEASURES if m != "cost_usd")


class UsageTotals(TypedDict):
    """Assistant messages, their tokens by kind, their cost in USD (rollups.USAGE_MEASURES), and how many
    of the messages have no recorded tokens. Tokens and cost are None when none of the messages has them
    (usage_tokens_missing)."""

    messages: int
    input_tokens: int | None
    output_tokens: int | None
    cache_write_tokens: int | None
    cache_read_tokens: int | None
    cost_usd: Decimal | None
    responses_without_tokens: int


class UsageRow(UsageTotals, total=False):
    """Usage of one local day and/or group. `project` is the project's name, `project_key` its key."""

    day: date
    week: str  # its first day, YYYY-MM-DD
    month: str  # YYYY-MM
    model: str
    project: str
    project_key: str
    platform: str
    user: str  # "" for this install's own capture (docs/team.md)
    machine: str
    platforms: dict[str, UsageTotals]  # a period's usage per platform, when the report holds several


def usage_totals_empty() -> UsageTotals:
    return UsageTotals(**dict.fromkeys(MEASURES, 0))


def usage_totals_add(total: UsageTotals, row: UsageTotals) -> UsageTotals:
    """Add row's measures into total (in place; a missing measure adds nothing). Returns total; call
    usage_tokens_missing on it once every row is in."""
    for m in MEASURES:
        total[m] = (total.get(m) or 0) + (row.get(m) or 0)
    return total


def tokens_missing(*, messages: int, without_tokens: int) -> bool:
    """Whether usage of `messages` responses, `without_tokens` of them without recorded tokens, has no
    token counts at all: then its sums are missing (None), not 0."""
    return bool(messages) and without_tokens >= messages


def usage_tokens_missing(row: UsageTotals) -> UsageTotals:
    """Mark a row (in place) whose responses all lack recorded tokens: its tokens and cost become None,
    since 0 would claim they were counted. A row with some of them keeps its sums, and says how many
    responses they leave out in `responses_without_tokens`. Returns row."""
    if tokens_missing(messages=row["messages"], without_tokens=row.get("responses_without_tokens", 0)):
        for m in (*TOKEN_MEASURES, "cost_usd"):
            row[m] = None
    return row


def usage_totals(rows: list) -> UsageTotals:
    """The rows' totals, marked as usage_tokens_missing says."""
    total = usage_totals_empty()
    for row in rows:
        usage_totals_add(total, row)
    return usage_tokens_missing(total)


def usage_by_day(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: tuple[str, ...] = ("model",),
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[UsageRow]:
    """Messages, tokens and cost per local day (start..end inclusive, in IANA zone `tz`) and per the
    `by` columns (any of model, project, platform, source), sorted by day then group. Days are sums of
    UTC hour rows (see spans.hour_local_day). Grouped by project, a row carries the project's name and
    key; by source, where the numbers came from (ccusage_shapes.source_label: transcript, otel, both,
    conflict, or cursor)."""
    if unknown := set(by) - set(USAGE_GROUPS):
        raise ValueError(f"cannot group usage by {sorted(unknown)}; choose from {USAGE_GROUPS}")
    zone = ZoneInfo(tz)
    lo, hi = days_hours(start, end, zone)
    columns = [c for b in by for c in (("project__key", "project__name") if b == "project" else (b,))]
    names = {"project__key": "project_key", "project__name": "project"}
    qs = rollup_filter(
        UsageHour.objects.filter(hour__gte=lo, hour__lt=hi),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    # Costs summed as integers of 10^-8 USD: exact, whatever the database (SQLite would add floats).
    sums = {**{m: Sum(m) for m in _TOKENS}, **cost_units_sums()}
    # A source is named by its platform too (Cursor's rows have none): grouped by it, platform comes along.
    extra = ["platform"] if "source" in by and "platform" not in by else []
    rows = qs.values("hour", *columns, *extra).annotate(**sums).order_by()
    out: dict[tuple, UsageRow] = {}
    for r in rows:
        r["cost_usd"] = cost_units_total(r.pop("cost_high"), r.pop("cost_low"))
        if "source" in r:
            r["source"] = source_label(platform=r["platform"], source=r["source"])
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


class UsageHourRow(UsageTotals):
    """Usage of one UTC hour and model."""

    hour: datetime
    model: str


def usage_by_hour(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[UsageHourRow]:
    """Messages, tokens and cost per UTC hour overlapping [start, end) and per model, in hour order (a
    day's chart hour by hour; the hours of a local day are its UTC hours, see spans.hour_local_day)."""
    qs = rollup_filter(
        UsageHour.objects.filter(**hour_span(start, end)),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    sums = {**{m: Sum(m) for m in _TOKENS}, **cost_units_sums()}
    out = []
    for r in qs.values("hour", "model").annotate(**sums).order_by("hour", "model"):
        r["cost_usd"] = cost_units_total(r.pop("cost_high"), r.pop("cost_low"))
        out.append(UsageHourRow(**r))
    return out


def usage_report(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: Literal[
        "model", "project", "day", "week", "month", "platform", "source", "user", "machine"
    ] = "model",
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    week_starts: int = 0,
) -> list[UsageRow]:
    """Usage over the local days start..end summed per model, project, platform, source, day, week or month:
    periods in order (a week row is named by its first day, `week`; a month by `month`, YYYY-MM; weeks
    start on weekday `week_starts`, 0 Monday .. 6 Sunday), models, projects and platforms by cost
    (highest first, then name). Projects that share a folder name stay apart (grouped by key); their rows
    then say which is which by their `project_key`. The first and last week or month hold only the days
    inside the span. When the periods hold more than one platform, each period row also has `platforms`:
    its usage per platform ({"claude_code": {...}, "cursor": {...}}), each marked as the row is."""
    periods = by in PERIODS
    daily = usage_by_day(
        start=start, end=end, tz=tz, by=("platform",) if periods else (by,), platform=platform,
        project_key=project_key, user=user, machine=machine,
    )  # fmt: skip
    groups: dict[object, UsageRow] = {}
    split: dict[object, dict[str, UsageTotals]] = {}
    for row in daily:
        if periods:
            key = period_start(row["day"], period=by, week_starts=week_starts)
            usage_totals_add(split.setdefault(key, {}).setdefault(row["platform"], usage_totals_empty()), row)
        else:
            key = row["project_key"] if by == "project" else row[by]
        acc = groups.get(key)
        if acc is None:
            if periods:
                labels = {"day": key} if by == "day" else {by: period_name(key, by)}
            else:
                named = ("model", "project", "project_key", "platform", "source", "user", "machine")
                labels = {k: row[k] for k in named if k in row}
            acc = groups[key] = UsageRow(**labels, **usage_totals_empty())
        usage_totals_add(acc, row)
    rows = [usage_tokens_missing(row) for row in groups.values()]
    if periods:
        if len({name for per in split.values() for name in per}) > 1:
            for key, row in zip(groups, rows, strict=True):
                row["platforms"] = {
                    name: usage_tokens_missing(totals) for name, totals in sorted(split[key].items())
                }
        return rows
    return sorted(rows, key=lambda r: (-(r["cost_usd"] or 0), r[by], r.get("project_key", "")))

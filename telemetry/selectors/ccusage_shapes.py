"""ccusage's `--json` shapes (ccusage 20: `daily`, `weekly`, `monthly`, `session`, each with `totals`)
built from summed rows, whoever summed them: the ORM's selectors (ccusage.py: the API, PostgreSQL
stores) and the standard library's sqlite3 (ccusage_readonly.py: `blueplane report` on a SQLite store).
Both hand the same rows to the same functions here, so they cannot disagree. Standard library only.

Input rows carry costs as exact Decimal USD (sums of integer units of 10^-8 USD, see
processing/costunits.py), so sums do not depend on the order rows arrive in.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple, TypedDict
from zoneinfo import ZoneInfo

from .spans import hour_local_day, period_name, period_start

# ccusage's names for the periods it reports and the array each goes in.
REPORTS = {"day": "daily", "week": "weekly", "month": "monthly", "session": "session"}
# The agent ccusage names for each of our platforms.
AGENTS = {"claude_code": "claude", "cursor": "cursor"}
# ccusage 20's `weekly` starts weeks on Monday (tests/fixtures/claude-real/ccusage/README.md).
WEEK_STARTS = 0
ORDERS = ("asc", "desc")
# Periods come oldest first (ccusage's default); sessions most expensive first (ccusage's only order).
DEFAULT_ORDER = {"day": "asc", "week": "asc", "month": "asc", "session": "desc"}
# Where an API call's numbers come from (Turn.source, UsageHour.source; docs/metrics.md, "one ledger with
# provenance"), in the order reports list them. A report says so only when it holds a call that is not
# the transcript's alone: a store without OpenTelemetry answers exactly as ccusage does.
SOURCES = ("both", "transcript", "otel", "conflict")
NOTED_SOURCES = frozenset(SOURCES) - {"transcript"}


def source_label(*, platform: str, source: str) -> str:
    """A usage row's source as reports name it: Claude Code's rows from before OpenTelemetry (source "")
    counted transcripts only; Cursor's usage comes from Cursor's own records."""
    if source:
        return source
    return "transcript" if platform == "claude_code" else platform


def sources_note(*, otel_calls: int, otel_cost: Decimal, conflicts: int) -> str | None:
    """The line under a usage table whose span holds calls only OpenTelemetry saw or calls whose readings
    disagree; None when it holds neither."""
    parts = []
    if otel_calls:
        calls = "API call" if otel_calls == 1 else "API calls"
        parts.append(f"{otel_calls:,} {calls} only OpenTelemetry saw (${otel_cost:,.4f})")
    if conflicts:
        calls = "call" if conflicts == 1 else "calls"
        parts.append(f"{conflicts:,} {calls} where transcript and OTel disagree")
    if not parts:
        return None
    return f"includes {'; '.join(parts)}: blueplane report ledger"


class ModelBreakdown(TypedDict):
    modelName: str
    inputTokens: int
    outputTokens: int
    cacheCreationTokens: int
    cacheReadTokens: int
    cost: Decimal


class Totals(TypedDict):
    inputTokens: int
    outputTokens: int
    cacheCreationTokens: int
    cacheReadTokens: int
    totalTokens: int
    totalCost: Decimal


class PeriodRow(Totals):
    """One day, week (named by its first day) or month (YYYY-MM) over every agent."""

    agent: str  # "all"
    period: str
    metadata: dict  # {"agents": [...]}
    modelsUsed: list[str]
    modelBreakdowns: list[ModelBreakdown]


class SessionRow(Totals):
    agent: str
    period: str  # the session id
    metadata: dict  # {"lastActivity": "2026-11-25T10:24:40.695Z"}
    modelsUsed: list[str]
    modelBreakdowns: list[ModelBreakdown]


class HourUsage(NamedTuple):
    """Usage of one UTC hour, model and platform, summed over projects (a rollup_usage_hour group)."""

    hour: datetime  # aware, UTC
    model: str
    platform: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    messages: int = 0  # assistant responses
    responses_without_tokens: int = 0  # of them, those whose tokens the assistant did not record
    source: str = ""  # UsageHour.source


class SessionModelUsage(NamedTuple):
    """Usage of one session's assistant responses by one model, and the last one's time."""

    session: int  # the session's primary key
    model: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    last: datetime  # aware
    messages: int = 0
    responses_without_tokens: int = 0
    source: str = ""  # Turn.source


class SessionKey(NamedTuple):
    pk: int
    session_id: str
    platform: str


# Our counts beside ccusage's sums, kept while adding up and left out of (or turned into) what is written.
_COUNTS = ("messages", "responsesWithoutTokens")
_TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens")


def _totals_empty() -> dict:
    return {"inputTokens": 0, "outputTokens": 0, "cacheCreationTokens": 0, "cacheReadTokens": 0,
            "totalTokens": 0, "totalCost": Decimal(0), "messages": 0, "responsesWithoutTokens": 0}  # fmt: skip


def _add(total: dict, row: HourUsage | SessionModelUsage) -> None:
    total["inputTokens"] += row.input_tokens
    total["outputTokens"] += row.output_tokens
    total["cacheCreationTokens"] += row.cache_write_tokens
    total["cacheReadTokens"] += row.cache_read_tokens
    total["totalTokens"] += (
        row.input_tokens + row.output_tokens + row.cache_write_tokens + row.cache_read_tokens
    )
    total["totalCost"] += row.cost_usd
    total["messages"] += row.messages
    total["responsesWithoutTokens"] += row.responses_without_tokens


def _sum(into: dict, other: dict) -> None:
    for name in into:
        into[name] += other[name]


def _written(total: dict, *, cursor: bool, cost: str = "totalCost") -> dict:
    """Sums as they are written: ccusage's keys alone for Claude Code's usage (ccusage's own shape); with
    Cursor's, also `responsesWithoutTokens`, and tokens and cost null where no response recorded them
    (as usage.usage_tokens_missing marks Blueplane's rows)."""
    out = {k: v for k, v in total.items() if k not in _COUNTS}
    if cost != "totalCost":
        out[cost] = out.pop("totalCost")
    if cursor:
        out["responsesWithoutTokens"] = total["responsesWithoutTokens"]
        if total["messages"] and total["responsesWithoutTokens"] >= total["messages"]:
            out.update(dict.fromkeys((*_TOKEN_KEYS, cost), None))
    return out


def _breakdowns(models: dict[str, dict], *, cursor: bool) -> list[ModelBreakdown]:
    """Per model, by cost (highest first) as ccusage orders them."""
    rows = []
    for name, m in models.items():
        written = _written(m, cursor=cursor, cost="cost")
        written.pop("totalTokens")
        rows.append({"modelName": name, **written})
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), r["modelName"]))


def _report(
    key: str, rows: list, totals: dict, *, cursor: bool, platforms: dict[str, dict], sources: dict[str, dict]
) -> dict:
    written = _written(totals, cursor=cursor)
    if len(platforms) > 1:
        written["platforms"] = {p: _written(t, cursor=cursor) for p, t in sorted(platforms.items())}
    report = {key: rows, "totals": Totals(**written)}
    if NOTED_SOURCES & set(sources):
        order = {s: i for i, s in enumerate(SOURCES)}
        report["sources"] = {
            s: {"messages": sources[s]["messages"], **_written(sources[s], cursor=cursor)}
            for s in sorted(sources, key=lambda s: (order.get(s, len(order)), s))
        }
    return report


def _add_source(sources: dict[str, dict], row: HourUsage | SessionModelUsage, platform: str) -> None:
    _add(sources.setdefault(source_label(platform=platform, source=row.source), _totals_empty()), row)


def periods_report(
    hours: Iterable[HourUsage],
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    period: str = "day",
    week_starts: int = WEEK_STARTS,
    order: str = "asc",
) -> dict:
    """`ccusage daily|weekly|monthly --json` from hour rows: {"daily": [...], "totals": {...}} (or
    "weekly", "monthly") over the local days start..end in tz (a UTC hour counts toward the local day
    spans.hour_local_day gives it), only periods with usage, oldest first (`order` "desc": newest
    first). Weeks start on weekday `week_starts` (0 Monday, ccusage's default, .. 6 Sunday).

    ccusage reads only Claude Code: a report of Claude Code's usage alone is exactly ccusage's. With
    Cursor's usage in it, every row, breakdown and the totals also carry `responsesWithoutTokens` (the
    responses whose tokens Cursor did not record), and tokens and cost are null where none of the
    responses recorded them; when it holds more than one platform, every period and the totals carry
    `platforms`: the same sums per platform ({"claude_code": {...}, "cursor": {...}}). When it holds an
    API call that is not the transcript's alone (OpenTelemetry's), the report also has `sources`: the
    totals per source (both, transcript, otel, conflict; docs/metrics.md)."""
    zone = ZoneInfo(tz)
    periods: dict[date, dict] = {}
    sources: dict[str, dict] = {}
    for r in hours:
        if not r.model and r.platform == "claude_code":
            continue  # no model, no usage line ccusage would read
        day = hour_local_day(hour=r.hour, tz=zone)
        if not start <= day <= end:
            continue
        first = period_start(day, period=period, week_starts=week_starts)
        acc = periods.get(first)
        if acc is None:
            acc = periods[first] = {"total": _totals_empty(), "models": {}, "agents": set(), "platforms": {}}
        _add(acc["total"], r)
        _add(acc["models"].setdefault(r.model or "(unknown)", _totals_empty()), r)
        _add(acc["platforms"].setdefault(r.platform, _totals_empty()), r)
        _add_source(sources, r, r.platform)
        acc["agents"].add(AGENTS.get(r.platform, r.platform))
    every = {p for acc in periods.values() for p in acc["platforms"]}
    cursor, split = bool(every - {"claude_code"}), len(every) > 1
    rows, totals, platforms = [], _totals_empty(), {}
    for first, acc in sorted(periods.items(), reverse=order == "desc"):
        row = PeriodRow(
            agent="all",
            period=period_name(first, period),
            metadata={"agents": sorted(acc["agents"])},
            modelsUsed=sorted(acc["models"]),
            modelBreakdowns=_breakdowns(acc["models"], cursor=cursor),
            **_written(acc["total"], cursor=cursor),
        )
        if split:
            row["platforms"] = {p: _written(t, cursor=cursor) for p, t in sorted(acc["platforms"].items())}
        rows.append(row)
        _sum(totals, acc["total"])
        for p, t in acc["platforms"].items():
            _sum(platforms.setdefault(p, _totals_empty()), t)
    return _report(REPORTS[period], rows, totals, cursor=cursor, platforms=platforms, sources=sources)


def sessions_report(
    sessions: Iterable[SessionKey], usage: Iterable[SessionModelUsage], *, order: str = "desc"
) -> dict:
    """`ccusage session --json` from the chosen sessions (most expensive first) and their usage per
    model: {"session": [...], "totals": {...}}, each row with the time of the session's last assistant
    message (`metadata.lastActivity`). `order` "asc" lists them cheapest first. With Cursor's sessions in
    it, rows and totals say what periods_report says they do."""
    sessions = list(sessions)
    platform_of = {s.pk: s.platform for s in sessions}
    models: dict[int, dict[str, dict]] = {}
    last: dict[int, datetime] = {}
    sources: dict[str, dict] = {}
    for r in usage:
        _add(models.setdefault(r.session, {}).setdefault(r.model or "(unknown)", _totals_empty()), r)
        _add_source(sources, r, platform_of.get(r.session, ""))
        last[r.session] = max(last.get(r.session, r.last), r.last)
    every = {s.platform for s in sessions}
    cursor = bool(every - {"claude_code"})
    rows, totals, platforms = [], _totals_empty(), {}
    for s in sessions:
        mine = models.get(s.pk, {})
        total = _totals_empty()
        for m in mine.values():
            _sum(total, m)
        rows.append(
            SessionRow(
                agent=AGENTS.get(s.platform, s.platform),
                period=s.session_id,
                metadata={"lastActivity": instant(last[s.pk]) if s.pk in last else None},
                modelsUsed=sorted(mine),
                modelBreakdowns=_breakdowns(mine, cursor=cursor),
                **_written(total, cursor=cursor),
            )
        )
        _sum(totals, total)
        _sum(platforms.setdefault(s.platform, _totals_empty()), total)
    if order == "asc":
        rows.reverse()
    return _report("session", rows, totals, cursor=cursor, platforms=platforms, sources=sources)


def instant(moment: datetime) -> str:
    """As ccusage writes times: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

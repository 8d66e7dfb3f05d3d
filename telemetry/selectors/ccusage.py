"""Usage in the shape of ccusage's `--json` output (ccusage 20: `daily`, `weekly`, `monthly`, `session`),
so scripts written for ccusage read Blueplane's numbers unchanged. The real output for the repository's
corpus is in tests/fixtures/claude-real/ccusage/; the numbers come from the same rollups and sessions as
`blueplane usage`.

Where our semantics differ from ccusage's, ours stay (the API and CLI say the same thing either way):
- A forked session: Claude Code copies the origin's messages into the fork's file; ccusage counts them
  for whichever file it reads first (the fork), we count them for the session that made them (the
  origin, telemetry.processing.claude). Totals agree; the two sessions' rows do not.
- A session row holds the session's whole usage when any of it falls in the span (as `blueplane usage
  --by session`); ccusage cuts sessions at the span's days.
- Cursor usage is listed under agent "cursor", which ccusage does not read.
Money stays Decimal here, as in every selector; writers turn it into a JSON number (ccusage writes
floats, so its last digits can differ from ours by a rounding of 10^-8 USD).
"""

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypedDict

from django.db.models import Max, Sum

from ..models import Turn, TurnKind
from ..processing.bounds import cost_units_sums, cost_units_total
from .sessions import session_list
from .usage import period_name, period_start, usage_by_day

# ccusage's names for the periods it reports and the array each goes in.
REPORTS = {"day": "daily", "week": "weekly", "month": "monthly", "session": "session"}
# The agent ccusage names for each of our platforms.
AGENTS = {"claude_code": "claude", "cursor": "cursor"}
SUNDAY = 6  # ccusage's weeks start on Sunday unless told otherwise


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


def _totals_empty() -> dict:
    return {"inputTokens": 0, "outputTokens": 0, "cacheCreationTokens": 0, "cacheReadTokens": 0,
            "totalTokens": 0, "totalCost": Decimal(0)}  # fmt: skip


def _add(total: dict, *, inp: int, out: int, write: int, read: int, cost: Decimal) -> None:
    total["inputTokens"] += inp
    total["outputTokens"] += out
    total["cacheCreationTokens"] += write
    total["cacheReadTokens"] += read
    total["totalTokens"] += inp + out + write + read
    total["totalCost"] += cost


def _breakdowns(models: dict[str, dict]) -> list[ModelBreakdown]:
    """Per model, by cost (highest first) as ccusage orders them."""
    rows = [
        ModelBreakdown(
            modelName=name,
            inputTokens=m["inputTokens"],
            outputTokens=m["outputTokens"],
            cacheCreationTokens=m["cacheCreationTokens"],
            cacheReadTokens=m["cacheReadTokens"],
            cost=m["totalCost"],
        )
        for name, m in models.items()
    ]
    return sorted(rows, key=lambda r: (-r["cost"], r["modelName"]))


def _report(key: str, rows: list) -> dict:
    totals = _totals_empty()
    for row in rows:
        for name in totals:
            totals[name] += row[name]
    return {key: rows, "totals": Totals(**totals)}


def ccusage_periods(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    period: str = "day",
    week_starts: int = SUNDAY,
    platform: str | None = None,
    project_key: str | None = None,
) -> dict:
    """`ccusage daily|weekly|monthly --json` over the local days start..end in tz: {"daily": [...],
    "totals": {...}} (or "weekly", "monthly"), periods in order, only those with usage. Weeks start on
    weekday `week_starts` (0 Monday .. 6 Sunday, ccusage's default)."""
    days = usage_by_day(start=start, end=end, tz=tz, by=("model", "platform"), platform=platform,
                        project_key=project_key)  # fmt: skip
    periods: dict[date, dict] = {}
    for r in days:
        if not r["model"]:
            continue  # no model, no usage line ccusage would read
        first = period_start(r["day"], period=period, week_starts=week_starts)
        acc = periods.setdefault(first, {"total": _totals_empty(), "models": {}, "agents": set()})
        usage = {"inp": r["input_tokens"], "out": r["output_tokens"], "write": r["cache_write_tokens"],
                 "read": r["cache_read_tokens"], "cost": r["cost_usd"]}  # fmt: skip
        _add(acc["total"], **usage)
        _add(acc["models"].setdefault(r["model"], _totals_empty()), **usage)
        acc["agents"].add(AGENTS.get(r["platform"], r["platform"]))
    rows = [
        PeriodRow(
            agent="all",
            period=period_name(first, period),
            metadata={"agents": sorted(acc["agents"])},
            modelsUsed=sorted(acc["models"]),
            modelBreakdowns=_breakdowns(acc["models"]),
            **acc["total"],
        )
        for first, acc in sorted(periods.items())
    ]
    return _report(REPORTS[period], rows)


def ccusage_sessions(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    limit: int = 1000,
) -> dict:
    """`ccusage session --json`: {"session": [...], "totals": {...}}: the sessions with usage and activity
    in [start, end), most expensive first (as ccusage orders them), up to `limit`, each with its usage per
    model and the time of its last assistant message (`metadata.lastActivity`). Three queries whatever
    the number of sessions."""
    sessions = list(
        session_list(start=start, end=end, platform=platform, project_key=project_key)
        .filter(assistant_messages__gt=0)
        .order_by("-cost_usd", "-last_event_at", "-id")
        .values("id", "session_id", "platform")[:limit]
    )
    sums = {"inp": Sum("input_tokens"), "out": Sum("output_tokens"), "write": Sum("cache_write_tokens"),
            "read": Sum("cache_read_tokens"), "last": Max("timestamp"), **cost_units_sums()}  # fmt: skip
    per_model = (
        Turn.objects.filter(session__in=[s["id"] for s in sessions], kind=TurnKind.ASSISTANT_RESPONSE)
        .values("session", "model")
        .annotate(**sums)
        .order_by()
    )
    models: dict[int, dict[str, dict]] = defaultdict(dict)
    last: dict[int, datetime] = {}
    for r in per_model:
        usage = {"inp": r["inp"] or 0, "out": r["out"] or 0, "write": r["write"] or 0, "read": r["read"] or 0,
                 "cost": cost_units_total(r["cost_high"], r["cost_low"])}  # fmt: skip
        _add(models[r["session"]].setdefault(r["model"], _totals_empty()), **usage)
        last[r["session"]] = max(last.get(r["session"], r["last"]), r["last"])
    rows = []
    for s in sessions:
        total = _totals_empty()
        for m in models[s["id"]].values():
            for name in total:
                total[name] += m[name]
        rows.append(
            SessionRow(
                agent=AGENTS.get(s["platform"], s["platform"]),
                period=s["session_id"],
                metadata={"lastActivity": _instant(last[s["id"]]) if s["id"] in last else None},
                modelsUsed=sorted(models[s["id"]]),
                modelBreakdowns=_breakdowns(models[s["id"]]),
                **total,
            )
        )
    return _report("session", rows)


def _instant(moment: datetime) -> str:
    """As ccusage writes times: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

"""Usage in the shape of ccusage's `--json` output (ccusage 20: `daily`, `weekly`, `monthly`, `session`),
so scripts written for ccusage read Blueplane's numbers unchanged, read through the ORM (the API, and
`blueplane report` on a PostgreSQL store). ccusage_readonly.py asks the same questions of a SQLite store
with the standard library alone; both hand their rows to ccusage_shapes.py. The real output for the
repository's corpus is in tests/fixtures/claude-real/ccusage/; the numbers come from the same rollups and
turns as `blueplane usage`.

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

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Q, Sum

from ..models import Turn, TurnKind, UsageHour
from ..processing.bounds import cost_units_sums
from ..processing.costunits import cost_units_total
from .ccusage_shapes import REPORTS as REPORTS  # the API names ccusage's reports from here
from .ccusage_shapes import (
    WEEK_STARTS,
    HourUsage,
    SessionKey,
    SessionModelUsage,
    periods_report,
    sessions_report,
)
from .sessions import projects_named, session_list
from .spans import days_hours, people_filter

_SUMS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
# The fields of HourUsage and SessionModelUsage before their cost, as the queries below name them.
_HOUR = ("hour", "model", "platform", *_SUMS)
_SESSION = ("session", "model", *_SUMS)
# And after it: the responses, and those whose tokens were not recorded (Cursor).
_COUNTS = ("messages", "responses_without_tokens", "source")


def ccusage_periods(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    period: str = "day",
    week_starts: int = WEEK_STARTS,
    platform: str | None = None,
    project: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    order: str = "asc",
) -> dict:
    """`ccusage daily|weekly|monthly --json` over the local days start..end in tz: {"daily": [...],
    "totals": {...}} (or "weekly", "monthly"), periods oldest first (`order` "desc": newest first), only
    those with usage. Weeks start on weekday `week_starts` (0 Monday, ccusage's default, .. 6 Sunday).
    `project`: a project's key, or the name of one or more projects."""
    lo, hi = days_hours(start, end, ZoneInfo(tz))
    qs = UsageHour.objects.filter(hour__gte=lo, hour__lt=hi)
    if platform:
        qs = qs.filter(platform=platform)
    if project:
        qs = qs.filter(project__in=projects_named(project))
    qs = people_filter(qs, user=user, machine=machine)
    # Costs summed as integers of 10^-8 USD: exact, whatever the database (SQLite would add floats).
    sums = {**{m: Sum(m) for m in (*_SUMS, *_COUNTS[:2])}, **cost_units_sums()}
    rows = qs.values("hour", "model", "platform", "source").annotate(**sums).order_by()
    hours = (
        HourUsage(
            *(r[c] for c in _HOUR), cost_units_total(r["cost_high"], r["cost_low"]), *(r[c] for c in _COUNTS)
        )
        for r in rows
    )
    return periods_report(
        hours, start=start, end=end, tz=tz, period=period, week_starts=week_starts, order=order
    )


def ccusage_sessions(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    limit: int | None = 1000,
    order: str = "desc",
) -> dict:
    """`ccusage session --json`: {"session": [...], "totals": {...}}: the `limit` most expensive sessions
    with usage and activity in [start, end), most expensive first as ccusage orders them (`order` "asc":
    the same sessions, cheapest first), each with its usage per model and the time of its last assistant
    message (`metadata.lastActivity`); `limit` None: every session. Two queries whatever the number of
    sessions."""
    qs = session_list(start=start, end=end, platform=platform, user=user, machine=machine)
    if project:
        qs = qs.filter(project__in=projects_named(project))
    picked = qs.filter(assistant_messages__gt=0).order_by("-cost_usd", "-last_event_at", "-id")[:limit]
    chosen = [SessionKey(*s) for s in picked.values_list("id", "session_id", "platform")]
    sums = {**{m: Sum(m) for m in _SUMS}, "last": Max("timestamp"), **cost_units_sums(),
            "messages": Count("id"), "responses_without_tokens": Count("id", filter=Q(tokens_known=False))}  # fmt: skip
    per_model = (
        Turn.objects.filter(session__in=picked.values("id"), kind=TurnKind.ASSISTANT_RESPONSE)
        .values("session", "model", "source")
        .annotate(**sums)
        .order_by()
    )
    usage = (
        SessionModelUsage(
            *(r[c] for c in _SESSION),
            cost_units_total(r["cost_high"], r["cost_low"]),
            r["last"],
            *(r[c] for c in _COUNTS),
        )
        for r in per_model
    )
    return sessions_report(chosen, usage, order=order)

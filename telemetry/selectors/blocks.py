"""Usage in 5-hour blocks, as ccusage 20 makes them (`ccusage blocks --json`), so scripts written for it
read Blueplane's numbers unchanged.

The rules (ccusage 20.0.24, checked against the real binary on hand-made transcripts, see
tests/telemetry/test_blocks.py):
- Entries (assistant responses with a model) in time order. A block starts at its first entry's time
  floored to the UTC hour and ends 5 hours later. An entry joins the open block unless it is more than
  5 hours after the block's start or after the previous entry (exactly 5 hours still joins).
- When the pause before an entry is longer than 5 hours, a gap block covers it: from 5 hours after the
  last entry to the next entry (id `gap-<start>`, no usage).
- A block is active when its last entry is less than 5 hours old and it has not ended. Only the active
  block has a burn rate (tokens per minute over all four kinds of token, and without cache tokens `ForIndicator`;
  cost per hour) over its first to last entry, and a projection to its end at that rate (tokens rounded, cost to
  cents, remaining minutes rounded).
- Blocks are listed by start; --since/--until keep those whose start falls in the days (in the report's
  time zone); --recent those started in the last 3 days and the active one.

The computation is pure and needs the standard library only: the statusline and `blueplane report
blocks` read entries through the standard library's sqlite3 (`entries_sqlite`), the API and MCP
through the ORM (`entries_orm`); both feed `blocks_build` the same entries. Money is Decimal USD summed
from the turns' integer 10^-8 USD (exact), written as a JSON number; burn rates and projections are
floats, as ccusage's are.
"""

import math
import sqlite3
from collections import namedtuple
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

BLOCK_HOURS = 5
RECENT_DAYS = 3  # ccusage's --recent
WARNING_PERCENT = 80  # ccusage's token-limit warning threshold
COST_SCALE = 10**8  # telemetry.processing.bounds.COST_SCALE, restated: this module is stdlib-only
ASSISTANT_RESPONSE = "assistant_response"  # TurnKind.ASSISTANT_RESPONSE, restated likewise


# One assistant response's usage: an aware timestamp, the model, four token counts, the cost in 10^-8
# USD. (A namedtuple, not a dataclass: `dataclasses` costs the statusline ~8 ms to import.)
Entry = namedtuple(
    "Entry",
    "timestamp model input_tokens output_tokens cache_write_tokens cache_read_tokens cost_units",
)


def _hour_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def instant(moment: datetime) -> str:
    """As ccusage writes times: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _js_round(value: float, digits: int = 0) -> float:
    """Math.round (halves up), which ccusage uses, not Python's round-half-even."""
    scale = 10**digits
    return math.floor(value * scale + 0.5) / scale


def _block(start: datetime, entries: list[Entry], *, now: datetime, length: timedelta) -> dict:
    end = start + length
    last = entries[-1].timestamp
    counts = {"cacheCreationInputTokens": 0, "cacheReadInputTokens": 0, "inputTokens": 0, "outputTokens": 0}
    units = 0
    models: dict[str, None] = {}  # first use first, as ccusage lists them
    for e in entries:
        counts["inputTokens"] += e.input_tokens
        counts["outputTokens"] += e.output_tokens
        counts["cacheCreationInputTokens"] += e.cache_write_tokens
        counts["cacheReadInputTokens"] += e.cache_read_tokens
        units += e.cost_units
        models[e.model] = None
    cost = Decimal(units) / COST_SCALE
    total = sum(counts.values())
    active = now - last < length and now < end
    burn = projection = None
    minutes = (last - entries[0].timestamp).total_seconds() / 60
    if active and minutes > 0:
        burn = {
            "costPerHour": float(cost) / minutes * 60,
            "tokensPerMinute": total / minutes,
            "tokensPerMinuteForIndicator": (counts["inputTokens"] + counts["outputTokens"]) / minutes,
        }
        left = max(0.0, (end - now).total_seconds() / 60)
        projection = {
            "remainingMinutes": int(_js_round(left)),
            "totalCost": _js_round(float(cost) + burn["costPerHour"] / 60 * left, 2),
            "totalTokens": int(_js_round(total + burn["tokensPerMinute"] * left)),
        }
    return {
        "actualEndTime": instant(last),
        "burnRate": burn,
        "costUSD": cost,
        "endTime": instant(end),
        "entries": len(entries),
        "id": instant(start),
        "isActive": active,
        "isGap": False,
        "models": list(models),
        "projection": projection,
        "startTime": instant(start),
        "tokenCounts": counts,
        "totalTokens": total,
    }


def _gap(start: datetime, end: datetime) -> dict:
    return {
        "actualEndTime": None,
        "burnRate": None,
        "costUSD": 0,
        "endTime": instant(end),
        "entries": 0,
        "id": f"gap-{instant(start)}",
        "isActive": False,
        "isGap": True,
        "models": [],
        "projection": None,
        "startTime": instant(start),
        "tokenCounts": dict.fromkeys(
            ("cacheCreationInputTokens", "cacheReadInputTokens", "inputTokens", "outputTokens"), 0
        ),
        "totalTokens": 0,
    }


def blocks_build(entries: Iterable[Entry], *, now: datetime, hours: float = BLOCK_HOURS) -> list[dict]:
    """The blocks of these entries (any order) in ccusage's JSON shape, by start time. `now` decides
    which block is active and its projection."""
    length = timedelta(hours=hours)
    blocks: list[dict] = []
    start: datetime | None = None
    current: list[Entry] = []
    for entry in sorted(entries, key=lambda e: e.timestamp):
        if start is not None:
            pause = entry.timestamp - current[-1].timestamp
            if entry.timestamp - start <= length and pause <= length:
                current.append(entry)
                continue
            blocks.append(_block(start, current, now=now, length=length))
            if pause > length:
                blocks.append(_gap(current[-1].timestamp + length, entry.timestamp))
        start, current = _hour_floor(entry.timestamp), [entry]
    if start is not None:
        blocks.append(_block(start, current, now=now, length=length))
    # A gap that starts after the next block's floored start is listed after it, as ccusage does.
    return sorted(blocks, key=lambda b: b["startTime"])


def blocks_select(
    blocks: Sequence[dict],
    *,
    now: datetime,
    tz: str = "UTC",
    since: date | None = None,
    until: date | None = None,
    active: bool = False,
    recent: bool = False,
    descending: bool = False,
) -> list[dict]:
    """The blocks a report shows: those starting within since..until (local days in tz), only the
    active one (`active`), those started in the last RECENT_DAYS days or active (`recent`)."""
    from zoneinfo import ZoneInfo  # ~5 ms: not on the statusline's path

    zone = ZoneInfo(tz)
    cutoff = instant(now - timedelta(days=RECENT_DAYS))
    kept = []
    for b in blocks:
        day = _parsed(b["startTime"]).astimezone(zone).date()
        if (since and day < since) or (until and day > until):
            continue
        if active and not b["isActive"]:
            continue
        if recent and not (b["startTime"] >= cutoff or b["isActive"]):
            continue
        kept.append(b)
    return kept[::-1] if descending else kept


def token_limit_apply(blocks: list[dict], limit: str | int | None) -> None:
    """Add ccusage's `tokenLimitStatus` to the blocks with a projection: `limit` tokens, or "max", the
    most any finished block of these used (nothing when none did)."""
    if limit is None:
        return
    if limit == "max":
        limit = max((b["totalTokens"] for b in blocks if not b["isGap"] and not b["isActive"]), default=0)
    if not limit:
        return
    for b in blocks:
        if b["projection"] is None:
            continue
        projected = b["projection"]["totalTokens"]
        percent = projected / limit * 100
        status = "exceeds" if percent > 100 else "warning" if percent > WARNING_PERCENT else "ok"
        b["tokenLimitStatus"] = {"limit": limit, "percentUsed": percent, "projectedUsage": projected,
                                 "status": status}  # fmt: skip


def blocks_report(
    entries: Iterable[Entry],
    *,
    now: datetime,
    tz: str = "UTC",
    since: date | None = None,
    until: date | None = None,
    active: bool = False,
    recent: bool = False,
    descending: bool = False,
    token_limit: int | str | None = None,
    hours: float = BLOCK_HOURS,
) -> dict:
    """`ccusage blocks --json` for these entries: {"blocks": [...]}, chosen and ordered as the options
    say (blocks_select), with tokenLimitStatus for `token_limit`. The CLI, the API and the MCP server
    all answer with this."""
    shown = blocks_select(blocks_build(entries, now=now, hours=hours), now=now, tz=tz, since=since, until=until,
                          active=active, recent=recent, descending=descending)  # fmt: skip
    token_limit_apply(shown, token_limit)
    return {"blocks": shown}


def _parsed(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# SQLite keeps timestamps as text 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC (Django's format).
_ENTRIES_SQL = f"""
SELECT t.timestamp, t.model, t.input_tokens, t.output_tokens, t.cache_write_tokens, t.cache_read_tokens,
       COALESCE(CAST(ROUND(t.cost_usd * {COST_SCALE}) AS INTEGER), 0)
FROM turns t {{join}}
WHERE t.kind = '{ASSISTANT_RESPONSE}' AND t.model != '' AND t.hour >= ? AND t.timestamp >= ? {{where}}
"""


def entries_sqlite(
    db: sqlite3.Connection,
    *,
    start: datetime | None = None,
    project: str | None = None,
    platform: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[Entry]:
    """The entries at or after `start` (UTC), of the project whose name or key is `project`, on
    `platform` (claude_code, cursor), of `user` and `machine` (None: any; "" is this install's own
    capture, docs/team.md)."""
    lo = stored_time(start or datetime(1, 1, 1, tzinfo=UTC))
    joins, wheres = [], []
    params: tuple = (lo[:13] + ":00:00", lo)  # the hour first: turns are indexed by (hour, model)
    if project is not None:
        joins.append("JOIN projects p ON p.id = t.project_id")
        wheres.append("AND (p.name = ? OR p.key = ?)")
        params = (*params, project, project)
    session_wheres = [(c, v) for c, v in (("platform", platform), ("user", user), ("machine", machine))
                      if v is not None]  # fmt: skip
    if session_wheres:
        joins.append("JOIN sessions s ON s.id = t.session_id")
        wheres.extend(f'AND s."{column}" = ?' for column, _ in session_wheres)
        params = (*params, *(v for _, v in session_wheres))
    sql = _ENTRIES_SQL.format(join=" ".join(joins), where=" ".join(wheres))
    return [Entry(_utc(ts), *rest) for ts, *rest in db.execute(sql, params)]


def stored_time(moment: datetime) -> str:
    """A UTC time as Django writes it in SQLite (no fraction when it is 0), so text order is time order."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _utc(value: str | datetime) -> datetime:
    """A stored UTC time (text; Django's own connection converts it to a datetime already)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def entries_orm(
    *,
    start: datetime | None = None,
    project: str | None = None,
    platform: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[Entry]:
    """As entries_sqlite, through the ORM (any engine Django supports)."""
    # Imported here: the statusline and `report blocks` import this module without Django.
    from django.db.models import BigIntegerField, F, Q, Value
    from django.db.models.functions import Cast, Coalesce, Round

    from ..models import Turn, TurnKind

    rows = Turn.objects.filter(kind=TurnKind.ASSISTANT_RESPONSE).exclude(model="")
    if start is not None:
        rows = rows.filter(timestamp__gte=start)
    if project is not None:
        rows = rows.filter(Q(project__name=project) | Q(project__key=project))
    if platform is not None:
        rows = rows.filter(session__platform=platform)
    if user is not None:
        rows = rows.filter(session__user=user)
    if machine is not None:
        rows = rows.filter(session__machine=machine)
    units = Coalesce(Cast(Round(F("cost_usd") * Value(COST_SCALE)), BigIntegerField()), Value(0))
    fields = ("timestamp", "model", "input_tokens", "output_tokens", "cache_write_tokens",
              "cache_read_tokens", "units")  # fmt: skip
    return [Entry(*row) for row in rows.annotate(units=units).values_list(*fields)]

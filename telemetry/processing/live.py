"""Live metrics in Redis: a cache of the rollup tables, written as absolute values, never increments.

After a catch-up commits, `live_metrics_refresh` re-reads the rollups of the hours it touched and
overwrites their keys; `rebuild_live_metrics` drops every `metric:` key and writes them all again.
Because every write is a recomputed value, a repeated or reordered refresh leaves the same state, and
losing Redis loses nothing (beat refreshes recent hours, `manage.py rebuild` rebuilds all).

Two refreshes of the same hour could interleave (worker A reads, B reads and writes, A writes an older
value), so read-then-write runs under one short Redis lock: whoever reads last writes last.

Keys (hours are UTC, `YYYY-MM-DDTHH`; days are UTC, `YYYY-MM-DD`):
- `metric:usage:<hour>`     hash: messages, input_tokens, output_tokens, cache_write_tokens,
                            cache_read_tokens, cost_usd for the hour; and `<measure>|<model>` per model
- `metric:activity:<hour>`  hash: sessions, prompts, api_errors, lines_added, lines_removed,
                            edits_accepted, edits_rejected, active_seconds
- `metric:tools:<day>`      sorted set: tool name -> calls that UTC day
- `metric:tool_failures:<day>` sorted set: tool name -> failed calls that UTC day
- `metric:hours`            sorted set: hour -> epoch seconds, every hour that has rollups
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis
from django.db.models import Sum

from ..connections import redis_client
from ..models import ActivityHour, ToolHour, UsageHour
from .rollups import ACTIVITY_MEASURES, USAGE_MEASURES

logger = logging.getLogger(__name__)

PREFIX = "metric:"
HOURS_KEY = "metric:hours"
LOCK_KEY = "lock:metric"
LOCK_TIMEOUT_S = 30


def hour_label(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime("%Y-%m-%dT%H")


def day_label(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime("%Y-%m-%d")


def usage_key(hour: datetime) -> str:
    return f"{PREFIX}usage:{hour_label(hour)}"


def activity_key(hour: datetime) -> str:
    return f"{PREFIX}activity:{hour_label(hour)}"


def tools_key(hour: datetime) -> str:
    return f"{PREFIX}tools:{day_label(hour)}"


def tool_failures_key(hour: datetime) -> str:
    return f"{PREFIX}tool_failures:{day_label(hour)}"


def _text(value: int | Decimal) -> str:
    return str(value)


def _hour_values(hours: set[datetime]) -> tuple[dict, dict]:
    """Hash contents of the usage and activity keys of each hour (empty dict: no data)."""
    usage: dict[datetime, dict[str, str]] = {h: {} for h in hours}
    totals: dict[datetime, dict[str, int | Decimal]] = defaultdict(lambda: defaultdict(int))
    rows = (
        UsageHour.objects.filter(hour__in=hours)
        .values("hour", "model")
        .annotate(**{m: Sum(m) for m in USAGE_MEASURES})
        .order_by()
    )
    for r in rows:
        for m in USAGE_MEASURES:
            usage[r["hour"]][f"{m}|{r['model']}"] = _text(r[m] or 0)
            totals[r["hour"]][m] += r[m] or 0
    for h, t in totals.items():
        usage[h].update({m: _text(v) for m, v in t.items()})
    activity: dict[datetime, dict[str, str]] = {h: {} for h in hours}
    rows = (
        ActivityHour.objects.filter(hour__in=hours)
        .values("hour")
        .annotate(**{m: Sum(m) for m in ACTIVITY_MEASURES})
        .order_by()
    )
    for r in rows:
        activity[r["hour"]] = {m: _text(r[m] or 0) for m in ACTIVITY_MEASURES}
    return usage, activity


def _day_values(days: set[str]) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """Per UTC day: calls and failures per tool."""
    out: dict[str, tuple[dict[str, int], dict[str, int]]] = {d: ({}, {}) for d in days}
    for day in days:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        rows = (
            ToolHour.objects.filter(hour__gte=start, hour__lt=start + timedelta(days=1))
            .values("tool_name")
            .annotate(calls=Sum("calls"), failures=Sum("failures"))
            .order_by()
        )
        for r in rows:
            out[day][0][r["tool_name"]] = r["calls"] or 0
            if r["failures"]:
                out[day][1][r["tool_name"]] = r["failures"]
    return out


def _write(client: redis.Redis, hours: set[datetime]) -> None:
    usage, activity = _hour_values(hours)
    days = {day_label(h) for h in hours}
    tools = _day_values(days)
    pipe = client.pipeline(transaction=True)
    for h in sorted(hours):
        for key, values in ((usage_key(h), usage[h]), (activity_key(h), activity[h])):
            pipe.delete(key)
            if values:
                pipe.hset(key, mapping=values)
        if usage[h] or activity[h]:
            pipe.zadd(HOURS_KEY, {hour_label(h): int(h.timestamp())})
        else:
            pipe.zrem(HOURS_KEY, hour_label(h))
    for day, (calls, failures) in tools.items():
        for key, values in ((f"{PREFIX}tools:{day}", calls), (f"{PREFIX}tool_failures:{day}", failures)):
            pipe.delete(key)
            if values:
                pipe.zadd(key, values)
    pipe.execute()


def live_metrics_refresh(*, hours: Iterable[datetime], client: redis.Redis | None = None) -> bool:
    """Rewrite the live metrics of these UTC hours (and of their days) from the rollup tables.
    Returns False if Redis could not be reached: the cache is then stale until the next refresh of
    those hours (beat refreshes recent hours), never wrong for long, and the caller is not failed."""
    hours = {h.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for h in hours}
    if not hours:
        return True
    client = client or redis_client()
    try:
        with client.lock(LOCK_KEY, timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_TIMEOUT_S):
            _write(client, hours)
    except (redis.RedisError, OSError) as exc:
        logger.warning("live metrics of %d hours not refreshed: %s", len(hours), exc)
        return False
    return True


def live_metrics_recent_refresh(*, hours_back: int = 3, now: datetime | None = None) -> bool:
    """Refresh the last few hours (repairs a refresh lost between a commit and its Redis write)."""
    top = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    return live_metrics_refresh(hours={top - timedelta(hours=i) for i in range(hours_back)})


def rebuild_live_metrics(*, client: redis.Redis | None = None) -> int:
    """Drop every `metric:` key and write them all again from the rollup tables. Returns the number of
    hours written."""
    client = client or redis_client()
    hours: set[datetime] = set()
    for model in (UsageHour, ToolHour, ActivityHour):
        hours.update(model.objects.values_list("hour", flat=True).distinct())
    with client.lock(LOCK_KEY, timeout=LOCK_TIMEOUT_S * 10, blocking_timeout=LOCK_TIMEOUT_S):
        stale = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])
        ordered = sorted(hours)
        for start in range(0, len(ordered), 500):
            _write(client, set(ordered[start : start + 500]))
    return len(hours)


def live_usage_hour(*, hour: datetime, client: redis.Redis | None = None) -> dict[str, str]:
    """The live usage hash of one hour, decoded (for the dashboard and tests)."""
    raw = (client or redis_client()).hgetall(usage_key(hour))
    return {k.decode(): v.decode() for k, v in raw.items()}


def live_tools_day(*, day: datetime, client: redis.Redis | None = None) -> dict[str, int]:
    """Calls per tool for the UTC day containing `day`, from Redis."""
    raw = (client or redis_client()).zrange(tools_key(day), 0, -1, withscores=True)
    return {k.decode(): int(v) for k, v in raw}

"""Hourly rollups (UsageHour, ToolHour, ActivityHour): a pure recompute from the derived tables.

`rollups_refresh` deletes the rollup rows of each touched (UTC hour, platform, project) bucket and
inserts them again from aggregate queries over Turn, ToolCall and CodeChange. It reads nothing it
wrote before, so it is idempotent and the order of calls does not matter: running it after a rebuild
gives the same rows as the live path did. It runs inside the caller's transaction (the catch-up's),
so the derived rows and their rollups commit together; refresh.py then rewrites the live metrics in
Redis for the same hours once the transaction commits.

Tool latency is kept as a histogram (histograms.py) so that the percentiles of any span come from
summing hours. Active time is defined by `active_intervals`.
docs/metrics.md states every definition.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import blake2b

from django.db import connection, transaction
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce

from ..models import (
    ActivityHour,
    ChangeStatus,
    CodeChange,
    MetricPoint,
    Project,
    Session,
    ToolCall,
    ToolHour,
    ToolStatus,
    Turn,
    TurnKind,
    UsageHour,
)
from .bounds import INT64_MAX, cost_fit, cost_units_sums, counter_fit
from .costunits import cost_units_total
from .histograms import LATENCY_BUCKETS, histogram_trim, latency_bucket
from .otel_figures import OTEL_METRICS, api_retries, otel_figure, otel_figures_fit

HOUR = timedelta(hours=1)
_HOUR_MS = 3_600_000

# Active time: a gap between two consecutive events of a session counts up to this long.
ACTIVE_GAP_CAP = timedelta(minutes=5)

# What the usage and activity rollups sum, in their hour rows; live metrics and selectors read the same.
USAGE_MEASURES = (
    "messages",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
)
ACTIVITY_MEASURES = (
    "sessions",
    "prompts",
    "api_errors",
    "lines_added",
    "lines_removed",
    "edits_accepted",
    "edits_rejected",
    "active_seconds",
)


def hour_floor(moment: datetime) -> datetime:
    """The UTC hour containing a moment (the rollup bucket)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --- active time ----------------------------------------------------------------------------------


def active_intervals(times: Iterable[datetime]) -> Iterator[tuple[datetime, datetime]]:
    """Active time of one session: after each event, until the next event or ACTIVE_GAP_CAP later,
    whichever comes first. The last event opens no interval. Sum of lengths = active time."""
    previous = None
    for t in sorted(set(times)):
        if previous is not None:
            yield previous, min(t, previous + ACTIVE_GAP_CAP)
        previous = t


def active_seconds(times: Iterable[datetime]) -> int:
    """A session's active time in whole seconds (for Session.active_seconds)."""
    total = sum(((end - start) for start, end in active_intervals(times)), timedelta())
    return int(total.total_seconds())


# --- refresh ----------------------------------------------------------------------------------------


def project_unknown_id() -> int:
    """The id of the project rows without one are counted under (created when first needed)."""
    # Looked up every time rather than cached per process: a rolled-back transaction or a reset can
    # remove the row, and this raw read costs less than building the ORM's get_or_create query.
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM projects WHERE key = %s", [Project.UNKNOWN_KEY])
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    project, _ = Project.objects.get_or_create(key=Project.UNKNOWN_KEY, defaults={"name": "(unknown)"})
    return project.id


def _hours_normalise(hours: Iterable[datetime]) -> set[datetime]:
    return {hour_floor(h) for h in hours}


def _runs(hours: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Contiguous runs of hours as [start, end) ranges, so a few range queries cover any hour set."""
    runs: list[list[datetime]] = []
    for h in sorted(hours):
        if runs and runs[-1][1] == h:
            runs[-1][1] = h + HOUR
        else:
            runs.append([h, h + HOUR])
    return [(a, b) for a, b in runs]


def _project_q(field: str, project_ids: set[int], unknown_id: int) -> Q:
    q = Q(**{f"{field}__in": project_ids})
    if unknown_id in project_ids:
        q |= Q(**{f"{field}__isnull": True})
    return q


def _lock_key(name: str) -> int:
    # Python's hash() of a str differs per process; advisory lock keys must agree across workers.
    return int.from_bytes(blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _buckets_lock(platform: str, hours: set[datetime], project_ids: set[int]) -> None:
    """Serialise refreshes of the same buckets. SQLite needs nothing: its transactions take the write
    lock at BEGIN (IMMEDIATE). On PostgreSQL two transactions could both delete a bucket and both
    insert it (a unique violation), so each takes transaction-scoped advisory locks, in sorted order
    (no deadlock), on its (platform, hour) pairs first."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({_lock_key(f"rollup:{platform}:{h:%Y%m%d%H}") for h in hours})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def rollups_refresh(*, hours: set[datetime], project_ids: set[int | None], platform: str) -> set[datetime]:
    """Recompute the rollup rows of every (hour, platform, project) bucket named (a None project is the
    unknown project). Call inside the transaction that changed the derived rows. Returns the hours
    whose rollups may have changed (the neighbours of each hour too: see _activity_refresh), for the
    caller to refresh their live metrics once the transaction commits (refresh.buckets_refresh)."""
    hours = _hours_normalise(hours)
    if not hours or not project_ids:
        return set()
    unknown_id = project_unknown_id()
    pids = {unknown_id if p is None else p for p in project_ids}
    around = hours | {h - HOUR for h in hours} | {h + HOUR for h in hours}
    with transaction.atomic():
        _buckets_lock(platform, hours, pids)
        _usage_refresh(hours, pids, platform, unknown_id)
        _tools_refresh(hours, pids, platform, unknown_id)
        # A gap of active time can cross into the neighbouring hours (ACTIVE_GAP_CAP < 1 h).
        _activity_refresh(around, pids, platform, unknown_id)
    return around


def _usage_refresh(hours: set[datetime], pids: set[int], platform: str, unknown_id: int) -> None:
    UsageHour.objects.filter(hour__in=hours, platform=platform, project_id__in=pids).delete()
    rows = (
        Turn.objects.filter(
            _project_q("project_id", pids, unknown_id),
            hour__in=hours,
            session__platform=platform,
            kind=TurnKind.ASSISTANT_RESPONSE,
        )
        .annotate(pid=Coalesce("project_id", Value(unknown_id)))
        .values("hour", "pid", "model", "source", "session__user", "session__machine")
        .annotate(
            n=Count("id"),
            inp=Sum("input_tokens"),
            out=Sum("output_tokens"),
            cw=Sum("cache_write_tokens"),
            cr=Sum("cache_read_tokens"),
            unknown=Count("id", filter=Q(tokens_known=False)),
            **cost_units_sums(),
        )
        .order_by()
    )
    UsageHour.objects.bulk_create(
        UsageHour(
            hour=r["hour"],
            platform=platform,
            project_id=r["pid"],
            model=r["model"],
            source=r["source"],
            user=r["session__user"],
            machine=r["session__machine"],
            messages=counter_fit(r["n"]),
            input_tokens=counter_fit(r["inp"], INT64_MAX),
            output_tokens=counter_fit(r["out"], INT64_MAX),
            cache_write_tokens=counter_fit(r["cw"], INT64_MAX),
            cache_read_tokens=counter_fit(r["cr"], INT64_MAX),
            cost_usd=cost_fit(cost_units_total(r["cost_high"], r["cost_low"])),
            responses_without_tokens=counter_fit(r["unknown"]),
        )
        for r in rows
    )


def _tools_refresh(hours: set[datetime], pids: set[int], platform: str, unknown_id: int) -> None:
    ToolHour.objects.filter(hour__in=hours, platform=platform, project_id__in=pids).delete()
    buckets: dict[tuple, dict] = {}
    # One query per hour, so no row's hour has to be converted back into a datetime.
    for hour in sorted(hours):
        rows = (
            ToolCall.objects.filter(
                _project_q("project_id", pids, unknown_id), hour=hour, session__platform=platform
            )
            .annotate(pid=Coalesce("project_id", Value(unknown_id)))
            .values_list("pid", "tool_name", "status", "duration_ms", "session__user", "session__machine")
        )
        for pid, tool, status, duration, user, machine in rows.iterator(chunk_size=5000):
            b = buckets.get((hour, pid, tool, user, machine))
            if b is None:
                b = buckets[(hour, pid, tool, user, machine)] = {
                    "calls": 0,
                    ToolStatus.FAILURE: 0,
                    ToolStatus.REJECTED: 0,
                    ToolStatus.INTERRUPTED: 0,
                    "sum": 0,
                    "hist": [0] * LATENCY_BUCKETS,
                }
            b["calls"] += 1
            if status in b:
                b[status] += 1
            if duration is not None:
                b["sum"] += duration
                b["hist"][latency_bucket(duration)] += 1
    ToolHour.objects.bulk_create(
        ToolHour(
            hour=hour,
            platform=platform,
            project_id=pid,
            tool_name=tool,
            user=user,
            machine=machine,
            calls=counter_fit(b["calls"]),
            failures=counter_fit(b[ToolStatus.FAILURE]),
            rejections=counter_fit(b[ToolStatus.REJECTED]),
            interruptions=counter_fit(b[ToolStatus.INTERRUPTED]),
            duration_ms_sum=counter_fit(b["sum"], INT64_MAX),
            duration_histogram=histogram_trim(b["hist"]),
        )
        for (hour, pid, tool, user, machine), b in sorted(buckets.items())
    )


def _activity_refresh(hours: set[datetime], pids: set[int], platform: str, unknown_id: int) -> None:
    ActivityHour.objects.filter(hour__in=hours, platform=platform, project_id__in=pids).delete()
    # Keyed by (hour, project id, user, machine): the user and machine are the session's.
    acc: dict[tuple[datetime, int, str, str], dict] = defaultdict(
        lambda: {
            "sessions": set(),
            "prompts": 0,
            "api_errors": 0,
            "added": 0,
            "removed": 0,
            "accepted": 0,
            "rejected": 0,
            "active_ms": 0,
            "retries": 0,
            "otel": {},
        }
    )
    in_hours = Q(hour__in=hours)
    turns = (
        Turn.objects.filter(_project_q("project_id", pids, unknown_id), in_hours, session__platform=platform)
        .filter(kind__in=[TurnKind.USER_PROMPT, TurnKind.API_ERROR])
        .annotate(pid=Coalesce("project_id", Value(unknown_id)))
        .values("hour", "pid", "kind", "session__user", "session__machine")
        .annotate(n=Count("id"))
        .order_by()
    )
    for r in turns:
        acc[(r["hour"], r["pid"], r["session__user"], r["session__machine"])][
            "prompts" if r["kind"] == TurnKind.USER_PROMPT else "api_errors"
        ] += r["n"]
    changes = (
        CodeChange.objects.filter(
            _project_q("project_id", pids, unknown_id), in_hours, session__platform=platform
        )
        .annotate(pid=Coalesce("project_id", Value(unknown_id)))
        .values("hour", "pid", "status", "session__user", "session__machine")
        .annotate(n=Count("id"), added=Sum("lines_added"), removed=Sum("lines_removed"))
        .order_by()
    )
    for r in changes:
        a = acc[(r["hour"], r["pid"], r["session__user"], r["session__machine"])]
        a["added"] += r["added"] or 0
        a["removed"] += r["removed"] or 0
        if r["status"] == ChangeStatus.ACCEPTED:
            a["accepted"] += r["n"]
        else:
            a["rejected"] += r["n"]
    _otel_activity(acc, hours, pids, platform, unknown_id)
    hour_ms = {int(h.timestamp()) * 1000: h for h in hours}
    cap_ms = ACTIVE_GAP_CAP // timedelta(milliseconds=1)
    for sid, pid, user, machine, times in _session_times(hours, pids, platform, unknown_id):
        # Integer epoch milliseconds: this loop sees every event near the hours, per catch-up.
        previous = None
        for t in times:
            h = hour_ms.get(t - t % _HOUR_MS)
            if h is not None:
                acc[(h, pid, user, machine)]["sessions"].add(sid)
            if previous is not None:
                start, end = previous, min(t, previous + cap_ms)
                edge = start - start % _HOUR_MS
                while edge < end:
                    h = hour_ms.get(edge)
                    if h is not None:
                        acc[(h, pid, user, machine)]["active_ms"] += min(end, edge + _HOUR_MS) - max(
                            start, edge
                        )
                    edge += _HOUR_MS
            previous = t
    ActivityHour.objects.bulk_create(
        ActivityHour(
            hour=hour,
            platform=platform,
            project_id=pid,
            user=user,
            machine=machine,
            sessions=counter_fit(len(a["sessions"])),
            prompts=counter_fit(a["prompts"]),
            api_errors=counter_fit(a["api_errors"]),
            lines_added=counter_fit(a["added"]),
            lines_removed=counter_fit(a["removed"]),
            edits_accepted=counter_fit(a["accepted"]),
            edits_rejected=counter_fit(a["rejected"]),
            active_seconds=counter_fit(round(a["active_ms"] / 1000)),
            api_retries=counter_fit(a["retries"]),
            **otel_figures_fit(a["otel"]),
        )
        for (hour, pid, user, machine), a in sorted(acc.items())
        if hour in hours
    )


def _otel_activity(acc: dict, hours: set[datetime], pids: set[int], platform: str, unknown_id: int) -> None:
    """Per hour: API retries (attempts after the first, on the requests' turns) and the otel_* figures
    (sums of metric point deltas, Decimal in Python: SQLite would sum floats)."""
    retried = (
        Turn.objects.filter(
            _project_q("project_id", pids, unknown_id), hour__in=hours, session__platform=platform
        )
        .filter(detail__has_key="attempts")
        .annotate(pid=Coalesce("project_id", Value(unknown_id)))
        .values_list("hour", "pid", "detail", "session__user", "session__machine")
    )
    for hour, pid, detail, user, machine in retried:
        acc[(hour, pid, user, machine)]["retries"] += api_retries(detail)
    points = (
        MetricPoint.objects.filter(
            _project_q("project_id", pids, unknown_id), hour__in=hours, session__platform=platform,
            name__in=OTEL_METRICS, delta__isnull=False,
        )
        .annotate(pid=Coalesce("project_id", Value(unknown_id)))
        .values_list("hour", "pid", "name", "kind", "delta", "session__user", "session__machine")
    )  # fmt: skip
    for hour, pid, name, kind, delta, user, machine in points:
        field = otel_figure(name, kind)
        if field is not None:
            sums = acc[(hour, pid, user, machine)]["otel"]
            sums[field] = sums.get(field, 0) + delta


# Event time as integer epoch milliseconds, computed by the database (converting hundreds of thousands
# of datetimes in Python per catch-up would dominate its cost).
_EPOCH_MS_SQL = {
    "sqlite": "CAST(ROUND((julianday({col}) - 2440587.5) * 86400000) AS INTEGER)",
    "postgresql": "CAST(ROUND(EXTRACT(EPOCH FROM {col}) * 1000) AS BIGINT)",
}
# Event time as exact integer epoch microseconds (active time and latencies compare and subtract them).
# SQLite stores "YYYY-MM-DD HH:MM:SS[.ffffff]": strftime reads whole seconds only, since it rounds a
# fraction to milliseconds (.9996 s would become the next second); the digits after the dot are added.
EPOCH_US_SQL = {
    "sqlite": "(CAST(strftime('%%s', substr({col}, 1, 19)) AS INTEGER) * 1000000"
    " + CASE WHEN length({col}) > 20 THEN CAST(substr({col}, 21, 6) AS INTEGER) ELSE 0 END)",
    "postgresql": "CAST(ROUND(EXTRACT(EPOCH FROM {col}) * 1000000) AS BIGINT)",
}
_TIME_SOURCES = (("turns", "timestamp"), ("tool_calls", "started_at"), ("tool_calls", "finished_at"),
                 ("code_changes", "timestamp"))  # fmt: skip


def _session_times(
    hours: set[datetime], pids: set[int], platform: str, unknown_id: int
) -> Iterator[tuple[int, int, str, str, list[int]]]:
    """(session id, project id, user, machine, sorted distinct event times in epoch ms) of the sessions of these
    projects, for the times within ACTIVE_GAP_CAP of the hours: enough to cut each session's active
    intervals at the hour edges. Event times are those of turns, tool call starts and ends, and code
    changes."""
    epoch = _EPOCH_MS_SQL[connection.vendor]
    adapt = connection.ops.adapt_datetimefield_value
    pid_list = sorted(pids)
    project_sql = f"COALESCE(s.project_id, %s) IN ({', '.join(['%s'] * len(pid_list))})"
    times: dict[int, set[int]] = defaultdict(set)
    project_of: dict[int, tuple[int, str, str]] = {}
    with connection.cursor() as cursor:
        for start, end in _runs(hours):
            lo, hi = adapt(start - ACTIVE_GAP_CAP), adapt(end + ACTIVE_GAP_CAP)
            parts, params = [], []
            for table, col in _TIME_SOURCES:
                parts.append(
                    f'SELECT t.session_id, COALESCE(s.project_id, %s), s."user", s.machine, '
                    f"{epoch.format(col=f't.{col}')} "
                    f"FROM {table} t JOIN sessions s ON s.id = t.session_id "
                    f"WHERE t.{col} >= %s AND t.{col} < %s AND s.platform = %s AND {project_sql}"
                )
                params += [unknown_id, lo, hi, platform, unknown_id, *pid_list]
            cursor.execute(" UNION ALL ".join(parts), params)
            for sid, pid, user, machine, ms in cursor.fetchall():
                times[sid].add(int(ms))
                project_of[sid] = (pid, user, machine)
    for sid in sorted(times):
        yield sid, *project_of[sid], sorted(times[sid])


def rollup_buckets_all() -> dict[str, tuple[set[datetime], set[int | None]]]:
    """Per platform, every hour and project the derived tables hold (for a full recompute)."""
    out: dict[str, tuple[set[datetime], set[int | None]]] = {}
    for model in (Turn, ToolCall, CodeChange, MetricPoint):
        for platform, hour, pid in model.objects.values_list(
            "session__platform", "hour", "project_id"
        ).distinct():
            hours, pids = out.setdefault(platform, (set(), set()))
            hours.add(hour)
            pids.add(pid)
    for platform, pid in Session.objects.values_list("platform", "project_id").distinct():
        out.setdefault(platform, (set(), set()))[1].add(pid)
    return out


def rollups_rebuild() -> int:
    """Delete every rollup row and recompute all buckets. Returns the number of rollup rows written."""
    with transaction.atomic():
        for model in (UsageHour, ToolHour, ActivityHour):
            model.objects.all().delete()
        for platform, (hours, pids) in rollup_buckets_all().items():
            rollups_refresh(hours=hours, project_ids=pids, platform=platform)
    return sum(m.objects.count() for m in (UsageHour, ToolHour, ActivityHour))

"""ccusage's reports (ccusage.py asks the same through the ORM) read from a SQLite store with the standard
library alone, for `blueplane report`: it answers in less time than Django takes to start. The same
rollups and turns, the same sums (costs as integers of 10^-8 USD in two parts, processing/costunits.py),
the same filters, handed to the same builder (ccusage_shapes.py); tests/telemetry/test_ccusage_paths.py
holds the two paths equal. The connection comes from readonly.connect (or any sqlite3 connection to
the store: the tests pass Django's own).
"""

import sqlite3
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from ..processing.costunits import COST_UNITS_SQL, cost_units_total
from .ccusage_shapes import (
    WEEK_STARTS,
    HourUsage,
    SessionKey,
    SessionModelUsage,
    periods_report,
    sessions_report,
)
from .spans import days_hours

_SUMS = "SUM(input_tokens), SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens)"
# sessions.projects_named: a project's key, or every project of that (folder) name.
_PROJECT = "project_id IN (SELECT id FROM projects WHERE key = ? OR name = ?)"


def _stored(moment: datetime) -> str:
    """A UTC moment as Django's SQLite backend stores and compares it (naive UTC, str())."""
    return str(moment.astimezone(UTC).replace(tzinfo=None))


def _moment(value: str | datetime) -> datetime:
    """A stored moment read back as an aware UTC datetime (a connection with Django's converters gives a
    naive datetime, a plain one the text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def _filters(
    platform: str | None, project: str | None, user: str | None = None, machine: str | None = None
) -> tuple[str, list]:
    sql, params = "", []
    # Both tables read here (rollup_usage_hour, sessions) have the user and machine columns.
    if user is not None:
        sql, params = sql + ' AND "user" = ?', [*params, user]
    if machine is not None:
        sql, params = sql + " AND machine = ?", [*params, machine]
    if platform:
        sql, params = sql + " AND platform = ?", [*params, platform]
    if project:
        sql, params = sql + f" AND {_PROJECT}", [*params, project, project]
    return sql, params


def ccusage_periods(
    db: sqlite3.Connection,
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
    """As ccusage.ccusage_periods."""
    lo, hi = days_hours(start, end, ZoneInfo(tz))
    where, params = _filters(platform, project, user, machine)
    rows = db.execute(
        f"SELECT hour, model, platform, {_SUMS}, {COST_UNITS_SQL},"
        " SUM(messages), SUM(responses_without_tokens), source FROM rollup_usage_hour"
        f" WHERE hour >= ? AND hour < ?{where} GROUP BY hour, model, platform, source",
        [_stored(lo), _stored(hi), *params],
    )
    # Token columns are never NULL, so neither are their sums over a group.
    hours = (HourUsage(_moment(r[0]), *r[1:7], cost_units_total(r[7], r[8]), *r[9:12]) for r in rows)
    return periods_report(
        hours, start=start, end=end, tz=tz, period=period, week_starts=week_starts, order=order
    )


def ccusage_sessions(
    db: sqlite3.Connection,
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
    """As ccusage.ccusage_sessions (`limit` None: every session)."""
    where, params = _filters(platform, project, user, machine)
    chosen_sql = (
        f"SELECT {{}} FROM sessions WHERE last_event_at >= ? AND started_at < ?{where}"
        " AND assistant_messages > 0 ORDER BY cost_usd DESC, last_event_at DESC, id DESC LIMIT ?"
    )
    chosen_params = [_stored(start), _stored(end), *params, -1 if limit is None else limit]
    chosen = [
        SessionKey(*r) for r in db.execute(chosen_sql.format("id, session_id, platform"), chosen_params)
    ]
    rows = db.execute(
        f"SELECT session_id, model, {_SUMS}, MAX(timestamp), {COST_UNITS_SQL},"
        " COUNT(*), SUM(CASE WHEN tokens_known THEN 0 ELSE 1 END), source FROM turns"
        f" WHERE kind = 'assistant_response' AND session_id IN ({chosen_sql.format('id')})"
        " GROUP BY session_id, model, source",
        chosen_params,
    )
    usage = (SessionModelUsage(*r[:6], cost_units_total(r[7], r[8]), _moment(r[6]), *r[9:12]) for r in rows)
    return sessions_report(chosen, usage, order=order)

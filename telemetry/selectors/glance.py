"""The figures the status line shows, read from the store's SQLite file with the standard library alone:
a session's usage, the cost of the local day, and the active 5-hour block.

For the statusline, which runs under `python -I -S` at every prompt (blueplane/statusline.py): no
Django, nothing beyond sqlite3 and datetime. The sums are the ones the selectors make (a session's row
as sessions.py reads it; a day from the hourly rollups as usage.py sums them, in integer 10^-8 USD;
blocks by blocks.py), so the line agrees with `blueplane report` and the API.
"""

import sqlite3
from datetime import UTC, datetime, timedelta

from .blocks import COST_SCALE, blocks_build, entries_sqlite, stored_time

PLATFORM = "claude_code"
# How far back the active block is looked for first; blocks chain (each starts where the last one's
# 5 hours ran out), so when activity reaches back to the edge of the window, it is widened.
_BLOCK_WINDOWS = (timedelta(hours=24), timedelta(days=7), None)


def session_usage(db: sqlite3.Connection, *, session_id: str, platform: str = PLATFORM) -> dict | None:
    """{"cost_usd": float, "tokens": int} of the session, or None when the store does not know it."""
    row = db.execute(
        "SELECT cost_usd, input_tokens + output_tokens + cache_write_tokens + cache_read_tokens"
        " FROM sessions WHERE platform = ? AND session_id = ?",
        (platform, session_id),
    ).fetchone()
    if row is None:
        return None
    return {"cost_usd": float(row[0] or 0), "tokens": int(row[1] or 0)}


def day_cost_units(db: sqlite3.Connection, *, start: datetime, end: datetime) -> int:
    """The cost in 10^-8 USD of the local day [start, end), counted as `report daily` counts it: from
    the hourly rollups, each UTC hour in the day that holds its middle (spans.hour_local_day)."""
    lo, hi = (stored_time(_hour_ceil(moment - timedelta(minutes=30))) for moment in (start, end))
    units = f"CAST(ROUND(cost_usd * {COST_SCALE}) AS INTEGER)"
    # In two parts, as telemetry.processing.bounds sums costs: SQLite's SUM raises on a 64-bit overflow.
    row = db.execute(
        f"SELECT SUM({units} >> 24), SUM({units} & {2**24 - 1}) FROM rollup_usage_hour WHERE hour >= ? AND hour < ?",
        (lo, hi),
    ).fetchone()
    return (int(row[0] or 0) << 24) + int(row[1] or 0)


def _hour_ceil(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)


def block_active(db: sqlite3.Connection, *, now: datetime) -> dict | None:
    """The active 5-hour block (ccusage's shape, blocks.py), or None when there is none."""
    for window in _BLOCK_WINDOWS:
        start = now - window if window is not None else None
        # Claude Code's 5-hour window: Cursor's responses are not in it.
        entries = entries_sqlite(db, start=start, platform=PLATFORM)
        if not entries:
            return None
        first = min(e.timestamp for e in entries)
        # An entry within 5 hours of the window's edge may belong to a block begun before it.
        if start is None or first - start > timedelta(hours=5):
            break
    blocks = blocks_build(entries, now=now)
    return next((b for b in reversed(blocks) if b["isActive"]), None)


def local_day(now: datetime) -> tuple[datetime, datetime]:
    """The start and end (UTC) of the machine's local day around `now` (TZ or /etc/localtime, as the
    C library reads them: no zoneinfo import)."""
    midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    # Naive local times to instants through the C library, so a day with a DST change keeps its length.
    start = datetime.fromtimestamp(midnight.timestamp(), UTC)
    end = datetime.fromtimestamp((midnight + timedelta(days=1)).timestamp(), UTC)
    return start, end

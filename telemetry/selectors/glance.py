"""The figures the status line shows, read from the store's SQLite file with the standard library alone:
a session's usage, the cost of a span (today), and the active 5-hour block.

For the statusline, which runs under `python -I -S` at every prompt (blueplane/statusline.py): no
Django, nothing beyond sqlite3 and datetime. The sums are the ones the selectors make (a session's row
as sessions.py reads it; costs summed in integer 10^-8 USD as telemetry.processing.bounds does; blocks
by blocks.py), so the line agrees with `blueplane report` and the API.
"""

import sqlite3
from datetime import UTC, datetime, timedelta

from .blocks import ASSISTANT_RESPONSE, COST_SCALE, blocks_build, entries_sqlite, stored_time

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


def span_cost_units(db: sqlite3.Connection, *, start: datetime, end: datetime) -> int:
    """The cost in 10^-8 USD of the assistant responses in [start, end)."""
    lo, hi = stored_time(start), stored_time(end)
    row = db.execute(
        f"SELECT SUM(COALESCE(CAST(ROUND(cost_usd * {COST_SCALE}) AS INTEGER), 0)) FROM turns"
        f" WHERE kind = '{ASSISTANT_RESPONSE}' AND hour >= ? AND hour < ? AND timestamp >= ? AND timestamp < ?",
        (lo[:13] + ":00:00", hi, lo, hi),
    ).fetchone()
    return int(row[0] or 0)


def block_active(db: sqlite3.Connection, *, now: datetime) -> dict | None:
    """The active 5-hour block (ccusage's shape, blocks.py), or None when there is none."""
    for window in _BLOCK_WINDOWS:
        start = now - window if window is not None else None
        entries = entries_sqlite(db, start=start)
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
    local = now.astimezone()  # the system's zone
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = (midnight + timedelta(days=1, hours=2)).replace(hour=0)  # 2 h past a 25-hour day's end
    # Re-resolve both through the system zone, so a day with a DST change keeps its true offsets.
    start = datetime.fromtimestamp(midnight.replace(tzinfo=None).timestamp(), UTC)
    end = datetime.fromtimestamp(tomorrow.replace(tzinfo=None).timestamp(), UTC)
    return start, end

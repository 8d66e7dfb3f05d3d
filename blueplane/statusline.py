"""The status line: Claude Code runs it with its status JSON on stdin and shows the one line it prints.

Installed by `blueplane install claude-code --statusline` as
    BLUEPLANE_HOME=/home/me/.blueplane /usr/bin/python3.11 -I -S /.../blueplane/statusline.py
and run by `blueplane statusline` for a user trying it by hand. The line:
    session $0.52 1.2M tok | today $3.21 | block $1.80 $0.90/h 2h10m left | ctx 42% | official 5h 42% 7d 13%
this session's cost and tokens, today's cost (the machine's local day), the active 5-hour block's cost,
burn rate and time left (ccusage's blocks), the context window's use, and, when Claude Code passes them
(subscription accounts), its official rate limits, labelled as such beside Blueplane's own figures.

It lives here, in the interface layer, because it does both things an interface may: it reads the
store (telemetry/selectors/glance.py, through the standard library's sqlite3) and it sends an event
(the official rate limits, through the hook's RESP client and spool in telemetry/capture/). A module
under telemetry/selectors/ could not send, one under telemetry/capture/ could not read
(tests/test_layers.py).

Fast and harmless: standard library only (`-S` skips `site`; no Django), ~50 ms at P95 with the
interpreter's start (bench/statusline.py). It never fails: garbage on stdin, no database, a database
it cannot read, Redis down, all give a short line and exit code 0, and nothing on stderr.
"""

import os
import sys
import time

NEUTRAL = "blueplane: no usage yet"
_WINDOWS = (("five_hour", "5h"), ("seven_day", "7d"))
_EPOCH_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z: a reset later than that is no time


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _tokens(value: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _number(value: object) -> float | None:
    """A finite JSON number, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value - value == 0 else None  # NaN and infinities fail this


def rate_limits_read(data: dict) -> dict:
    """The official windows in Claude Code's input: {"five_hour": {"used_percentage": 42.0,
    "resets_at": 1760000000}, ...}, only those with sane numbers (percent 0-1000, a reset in the calendar)."""
    limits = data.get("rate_limits")
    found = {}
    if isinstance(limits, dict):
        for name, _ in _WINDOWS:
            window = limits.get(name)
            if not isinstance(window, dict):
                continue
            percent, resets = _number(window.get("used_percentage")), _number(window.get("resets_at"))
            if (
                percent is not None
                and 0 <= percent <= 1000
                and resets is not None
                and 0 <= resets <= _EPOCH_MAX
            ):
                found[name] = {"used_percentage": round(percent, 2), "resets_at": int(resets)}
    return found


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def rate_limits_envelope(windows: dict, *, session_id: str, now_ns: int) -> dict:
    """The event recording one observation of the official limits. Its id is the observation itself,
    so the same figures seen again (every status line refresh, any session) are stored once."""
    ident = ";".join(f"{name}={w['used_percentage']}@{w['resets_at']}" for name, w in sorted(windows.items()))
    stamp = _iso(now_ns)
    return {
        "event_id": f"cc:statusline:rate_limits:{ident}",
        "platform": "claude_code",
        "source": "hook",
        "event_type": "StatusLine",
        "hook_type": "StatusLine",
        "session_id": session_id,
        "timestamp": stamp,
        "payload": {"session_id": session_id, "rate_limits": windows},
        "metadata": {"capture_ts": stamp, "capture": "statusline"},
    }


def rate_limits_record(windows: dict, *, session_id: str, home: str, now_ns: int) -> str:
    """Send the observation to Redis (or the spool when Redis cannot be reached), unless it is the one
    sent last. Returns "redis", "spool" or "repeat"."""
    from telemetry.capture.jsonlite import dumps, loads
    from telemetry.capture.resp import xadd
    from telemetry.capture.spool import spool_append

    envelope = rate_limits_envelope(windows, session_id=session_id, now_ns=now_ns)
    last = os.path.join(home, "statusline.last")
    try:
        with open(last) as f:
            if f.read() == envelope["event_id"]:
                return "repeat"
    except OSError:
        pass
    line = dumps(envelope).encode()
    url = ""
    try:
        with open(os.path.join(home, "capture.json"), "rb") as f:
            config = loads(f.read())
        url = config.get("redis", "") if isinstance(config, dict) else ""
    except (OSError, ValueError):
        pass
    url = (
        url or os.environ.get("BLUEPLANE_REDIS_URL") or "unix://" + os.path.join(home, "redis", "redis.sock")
    )
    try:
        xadd(url, "telemetry:events", {"event": line})  # telemetry.wire.EVENTS_STREAM
        sent = "redis"
    except Exception:
        spool_append(home, line)
        sent = "spool"
    try:
        with open(last, "w") as f:
            f.write(envelope["event_id"])
    except OSError:
        pass  # a home we cannot write to: the next refresh sends it again, and the store ignores it
    return sent


def _store_parts(session_id: str | None, data: dict, environ: dict, now_ns: int) -> list[str] | None:
    """The figures from the store, or None when there is no store to read."""
    from datetime import UTC, datetime

    from telemetry.selectors import glance, sqlitefile

    path = sqlitefile.database_file(environ)
    if not os.path.isfile(path):
        return None
    now = datetime.fromtimestamp(now_ns / 1e9, UTC)
    db = sqlitefile.readonly_open(path, timeout_s=0.2)
    try:
        parts = []
        session = glance.session_usage(db, session_id=session_id) if session_id else None
        if session is not None:
            parts.append(f"session {_money(session['cost_usd'])} {_tokens(session['tokens'])} tok")
        elif (cost := _number((data.get("cost") or {}).get("total_cost_usd"))) is not None:
            parts.append(f"session {_money(cost)} (Claude Code)")
        start, end = glance.local_day(now)
        parts.append(f"today {_money(glance.day_cost_units(db, start=start, end=end) / 1e8)}")
        block = glance.block_active(db, now=now)
        if block is not None:
            text = f"block {_money(float(block['costUSD']))}"
            if block["burnRate"]:
                text += f" {_money(block['burnRate']['costPerHour'])}/h"
            left = (datetime.fromisoformat(block["endTime"].replace("Z", "+00:00")) - now).total_seconds()
            text += f" {int(left // 3600)}h{int(left % 3600 // 60):02d}m left"
            parts.append(text)
        return parts
    finally:
        db.close()


def statusline_text(raw: bytes, *, environ: dict | None = None, now_ns: int | None = None) -> str:
    """The line for one status JSON (records the official rate limits on the way). Never raises."""
    environ = os.environ if environ is None else environ
    now_ns = time.time_ns() if now_ns is None else now_ns
    try:
        from telemetry.capture.jsonlite import loads

        data = loads(raw)
    except Exception:
        return NEUTRAL
    if not isinstance(data, dict):
        return NEUTRAL
    session_id = data.get("session_id")
    session_id = session_id if isinstance(session_id, str) and 0 < len(session_id) <= 256 else None
    home = environ.get("BLUEPLANE_HOME") or os.path.expanduser("~/.blueplane")
    windows = rate_limits_read(data)
    if windows and session_id:
        try:  # noqa: SIM105 - contextlib costs an import
            rate_limits_record(windows, session_id=session_id, home=home, now_ns=now_ns)
        except Exception:
            pass  # the line matters more than the record; the next refresh tries again
    try:
        parts = _store_parts(session_id, data, environ, now_ns)
    except Exception:
        parts = None
    parts = parts if parts else [NEUTRAL]
    context = data.get("context_window")
    used = _number(context.get("used_percentage")) if isinstance(context, dict) else None
    if used is not None:
        parts.append(f"ctx {used:.0f}%")
    if windows:
        shown = " ".join(
            f"{label} {windows[name]['used_percentage']:.0f}%" for name, label in _WINDOWS if name in windows
        )
        parts.append(f"official {shown}")
    return " | ".join(parts)


def main() -> None:
    try:
        raw = sys.stdin.buffer.read()
    except BaseException:
        raw = b""
    try:
        line = statusline_text(raw)
    except BaseException:
        line = NEUTRAL
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BaseException:
        pass
    # Skip interpreter teardown: Claude Code waits on us at every refresh.
    os._exit(0)


if __name__ == "__main__":
    # Run as a script (`python -I -S .../blueplane/statusline.py`): `-I` keeps the checkout off sys.path,
    # and the package's telemetry/ modules are imported from it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()

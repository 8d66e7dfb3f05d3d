"""How long a catch-up task waits before taking the dirty sessions: the adaptive coalescing window.

While a task waits, the fast path marks sessions but enqueues no second task, so what arrives meanwhile
is caught up by one run (one transaction per group, one rollup refresh, one live publish). A run costs
~15 ms whatever it carries and ~0.1 ms per event, so waiting pays only when runs are frequent and the
workers busy; when the system is quiet it only delays the figures a user is watching.

So the window follows the slow path's own load: RUN_FACTOR times the duration of the previous run (any
worker's, recorded in Redis under LAST_RUN), between settings.SLOWPATH_COALESCE_MIN_MS and _MAX_MS. A
few events cost a run of a few ms, and the next window stays near the minimum; under a flood the runs
grow, the window with them, and each run carries more: a worker then sleeps at least RUN_FACTOR times
as long as it worked, and once the window reaches the maximum the slow path runs as it did with the
old fixed window. A previous run that ended long ago (QUIET_AFTER_MAX windows of the maximum) says
nothing about now, so the first event after a quiet spell gets the minimum.
"""

import time

import redis

# Redis key: "<duration ms> <ended at, epoch s>" of the newest run, written by whichever worker ran it.
LAST_RUN = "slowpath:last_run"
# The window is this many times the previous run's duration, so a busy worker spends at most about half
# its time on runs. 1 keeps the window of a quiet system (runs of ~15-50 ms) well under the 250 ms aimed
# at for derived figures; runs then grow with the rate until, past ~1/(2 x 0.1 ms) = ~5,000 events/s
# (less on a loaded machine, where an event costs more), the window reaches its maximum. With 2, runs of
# 45-150 ms at 100 events/s on the loaded 2-core machine gave windows of 90-300 ms: too long for the aim.
RUN_FACTOR = 1.0
QUIET_AFTER_MAX = 4


def coalesce_window_ms(
    *, last_run_ms: float | None, since_last_run_ms: float | None, min_ms: int, max_ms: int
) -> float:
    """The window to wait before the next run, in ms: RUN_FACTOR x the previous run's duration, within
    [min_ms, max_ms]; min_ms when there was no previous run or it ended over QUIET_AFTER_MAX x max_ms
    ago (a clock stepped back counts as recent)."""
    if last_run_ms is None or since_last_run_ms is None or since_last_run_ms > QUIET_AFTER_MAX * max_ms:
        return float(min_ms)
    return float(min(max_ms, max(min_ms, RUN_FACTOR * last_run_ms)))


def last_run_read(client: redis.Redis, *, now: float | None = None) -> tuple[float | None, float | None]:
    """(duration ms, ms since it ended) of the newest recorded run; (None, None) when there is none or
    the record is unreadable (a record is advice: a bad one only costs the minimum window)."""
    raw = client.get(LAST_RUN)
    try:
        duration_ms, ended_at = (float(x) for x in raw.split())
    except (AttributeError, ValueError):
        return None, None
    return duration_ms, ((now if now is not None else time.time()) - ended_at) * 1000


def last_run_write(client: redis.Redis, *, duration_ms: float, now: float | None = None) -> None:
    """Record a run that just ended, for the next task's window."""
    client.set(LAST_RUN, f"{duration_ms:.1f} {now if now is not None else time.time():.3f}")


def window_wait(client: redis.Redis, *, min_ms: int, max_ms: int) -> float:
    """Sleep the window the previous run calls for; returns it in ms."""
    if max_ms <= 0:
        return 0.0  # a fixed window of 0 (the tests' setting): not even the read
    last_ms, since_ms = last_run_read(client)
    window = coalesce_window_ms(last_run_ms=last_ms, since_last_run_ms=since_ms, min_ms=min_ms, max_ms=max_ms)
    time.sleep(window / 1000)
    return window

"""The slow path's side of the hand-over: drain the sessions the fast path marked dirty.

Guarantee: exactly once in effect. A run snapshots the marks, catches those sessions up, and only then
removes the marks of the sessions it finished, and only those no batch touched again meanwhile (the
counter of a mark changed); a crash before that leaves the marks for the next run, whose catch-up finds
the watermarks already moved and repeats nothing. A session the run did not finish (events beyond its
limit, over the run's session limit, failing, or waiting for its retry) keeps its mark, or gets one if
it was only named; when work is left that could be done now, the run enqueues a follow-up.
"""

import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings

from ..wire import DIRTY_SESSIONS, SCHEDULED_FLAG, session_field, session_parse
from . import catchup, changes, coalesce, failures

# Delete a dirty mark only if no batch touched the session again since the snapshot was taken.
_CLEAR_UNCHANGED = """
local cleared = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    cleared = cleared + 1
  end
end
return cleared
"""


def dirty_take(client: redis.Redis) -> dict[bytes, bytes]:
    """Start of a catch-up run: let the next batch enqueue a new task, then snapshot the dirty sessions.
    Clearing the flag first means a session marked after the snapshot always gets a task of its own."""
    client.delete(SCHEDULED_FLAG)
    return client.hgetall(DIRTY_SESSIONS)


def dirty_clear(client: redis.Redis, snapshot: dict[bytes, bytes]) -> int:
    """End of a run: drop the marks taken, except those touched again meanwhile."""
    if not snapshot:
        return 0
    args = [x for pair in snapshot.items() for x in pair]
    return client.eval(_CLEAR_UNCHANGED, 1, DIRTY_SESSIONS, *args)


def dirty_mark(client: redis.Redis, sessions: Iterable[tuple[str, str]]) -> None:
    """Mark sessions dirty, as the fast path does, so a later run takes them."""
    pipe = client.pipeline(transaction=False)
    for platform, session_id in sessions:
        pipe.hincrby(DIRTY_SESSIONS, session_field(platform, session_id), 1)
    pipe.execute()


def dirty_sessions_catch_up(
    *,
    client: redis.Redis,
    sessions: Iterable[tuple[str, str]] = (),
    backlog: bool = False,
    enqueue: Callable[[], object] | None = None,
) -> int:
    """One bounded run over every dirty session, any named, and failing sessions whose retry is due.
    Returns how many sessions it tried. `enqueue` is called once when it left work that can be done
    now (a session's further events, sessions over the run's limit).

    Waits the coalescing window first, unless this run continues a backlog: while it waits, the
    scheduled flag is still set, so the fast path marks sessions but enqueues no second task, and what
    arrives meanwhile is caught up together. The window adapts to the previous run's duration
    (processing.coalesce), which this run records when it ends."""
    if not backlog:
        coalesce.window_wait(
            client, min_ms=settings.SLOWPATH_COALESCE_MIN_MS, max_ms=settings.SLOWPATH_COALESCE_MAX_MS
        )
    started = time.perf_counter()
    snapshot = dirty_take(client)
    marked = {session_parse(f) for f in snapshot}
    keys = marked | set(sessions) | failures.sessions_retry_due()
    run = catchup.sessions_catch_up(sessions=keys)
    changes.derived_publish_on_commit(client=client, run=run)  # what changed, for live pages
    unfinished = run.unfinished
    dirty_clear(client, {f: n for f, n in snapshot.items() if session_parse(f) not in unfinished})
    if unfinished - marked:
        dirty_mark(client, unfinished - marked)
    if (run.more or run.left) and enqueue is not None:
        enqueue()
    coalesce.last_run_write(client, duration_ms=(time.perf_counter() - started) * 1000)
    return len(run.visited)

"""The slow path's side of the hand-over: drain the sessions the fast path marked dirty.

Guarantee: exactly once in effect. A run snapshots the marks, catches those sessions up, and only then
removes the marks of the sessions it finished, and only those no batch touched again meanwhile (the
counter of a mark changed); a crash before that leaves the marks for the next run, whose catch-up finds
the watermarks already moved and repeats nothing. A session the run did not finish (events beyond its
limit, over the run's session limit, failing, or waiting for its retry) keeps its mark, or gets one if
it was only named; when work is left that could be done now, the run enqueues a follow-up.

Shards (settings.SLOWPATH_SHARDS, wire.session_shard): a run of shard i drains only the hash of shard i,
whole (a mark there of a session that now hashes elsewhere, after the count changed, is drained all the
same), clears only that shard's flag, takes only the retry-due sessions of shard i, and marks a session
it did not finish in that session's own shard. A run of no shard (beat's sweep with one shard, a task
queued by hand) drains every shard's hash. Marks in a shard at or past the count (the count was
lowered) are drained by the run of that shard that sweep() enqueues: no mark is lost when the count
changes, and two runs that meet on one session meanwhile only repeat a read (the watermarks).
"""

import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings

from ..wire import (
    DIRTY_KEYS,
    SHARDS_MAX,
    dirty_key,
    scheduled_key,
    session_field,
    session_parse,
    session_shard,
)
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


def dirty_take(client: redis.Redis, shard: int = 0) -> dict[bytes, bytes]:
    """Start of a catch-up run: let the next batch enqueue a new task, then snapshot the dirty sessions
    of a shard. Clearing the flag first means a session marked after the snapshot always gets a task of
    its own."""
    client.delete(scheduled_key(shard))
    return client.hgetall(dirty_key(shard))


def dirty_take_every(client: redis.Redis) -> dict[int, dict[bytes, bytes]]:
    """dirty_take() of every shard at once (one round trip): the non-empty snapshots by shard."""
    pipe = client.pipeline(transaction=False)
    pipe.delete(*(scheduled_key(shard) for shard in range(SHARDS_MAX)))
    for key in DIRTY_KEYS:
        pipe.hgetall(key)
    return {shard: snapshot for shard, snapshot in enumerate(pipe.execute()[1:]) if snapshot}


def dirty_clear(client: redis.Redis, snapshot: dict[bytes, bytes], shard: int = 0) -> int:
    """End of a run: drop the marks taken from a shard, except those touched again meanwhile."""
    if not snapshot:
        return 0
    args = [x for pair in snapshot.items() for x in pair]
    return client.eval(_CLEAR_UNCHANGED, 1, dirty_key(shard), *args)


def dirty_mark(client: redis.Redis, sessions: Iterable[tuple[str, str]], *, shards: int = 1) -> None:
    """Mark sessions dirty, as the fast path does (each in its shard), so a later run takes them."""
    pipe = client.pipeline(transaction=False)
    for platform, session_id in sessions:
        field = session_field(platform, session_id)
        pipe.hincrby(dirty_key(session_shard(field, shards)), field, 1)
    pipe.execute()


def dirty_count(client: redis.Redis) -> int:
    """Marks in every shard's hash (also those past a lowered count), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for key in DIRTY_KEYS:
        pipe.hlen(key)
    return sum(pipe.execute())


def sweep(client: redis.Redis, *, shards: int, enqueue: Callable[[int], object]) -> list[int]:
    """Beat's periodic wake-up with several shards: enqueue a run of every shard (each takes its retry-due
    sessions and any mark whose wake-up was lost) and of every shard past the count that still holds
    marks. Returns the shards enqueued."""
    pipe = client.pipeline(transaction=False)
    for key in DIRTY_KEYS[shards:]:
        pipe.exists(key)
    left = [shards + i for i, exists in enumerate(pipe.execute()) if exists]
    for shard in [*range(shards), *left]:
        enqueue(shard)
    return [*range(shards), *left]


def dirty_sessions_catch_up(
    *,
    client: redis.Redis,
    sessions: Iterable[tuple[str, str]] = (),
    backlog: bool = False,
    enqueue: Callable[[], object] | None = None,
    shard: int | None = None,
    shards: int = 1,
) -> int:
    """One bounded run over every dirty session of a shard (None: of every shard), any named, and failing
    sessions of that shard whose retry is due. Returns how many sessions it tried. `enqueue` is called
    once when it left work that can be done now (a session's further events, sessions over the run's
    limit): a follow-up of the same shard. `shards`: the shard count sessions are marked with.

    Waits the coalescing window first, unless this run continues a backlog: while it waits, the
    scheduled flag is still set, so the fast path marks sessions but enqueues no second task, and what
    arrives meanwhile is caught up together. The window adapts to the previous run's duration
    (processing.coalesce), which this run records when it ends."""
    if not backlog:
        coalesce.window_wait(
            client, min_ms=settings.SLOWPATH_COALESCE_MIN_MS, max_ms=settings.SLOWPATH_COALESCE_MAX_MS
        )
    started = time.perf_counter()
    snapshots = dirty_take_every(client) if shard is None else {shard: dirty_take(client, shard)}
    marked = {session_parse(f) for snapshot in snapshots.values() for f in snapshot}
    retry = failures.sessions_retry_due()
    if shard is not None:  # a shard past the count has none: they are their current shard's
        retry = {s for s in retry if session_shard(session_field(*s), shards) == shard}
    keys = marked | set(sessions) | retry
    run = catchup.sessions_catch_up(sessions=keys)
    changes.derived_publish_on_commit(client=client, run=run)  # what changed, for live pages
    unfinished = run.unfinished
    for taken, snapshot in snapshots.items():
        dirty_clear(client, {f: n for f, n in snapshot.items() if session_parse(f) not in unfinished}, taken)
    if unfinished - marked:
        dirty_mark(client, unfinished - marked, shards=shards)
    if (run.more or run.left) and enqueue is not None:
        enqueue()
    coalesce.last_run_write(client, duration_ms=(time.perf_counter() - started) * 1000)
    return len(run.visited)

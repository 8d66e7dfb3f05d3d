"""The slow path's side of the hand-over: drain the sessions the fast path marked dirty.

Guarantee: exactly once in effect. A run snapshots the marks, catches those sessions up, and only then
removes the marks it took, and only those no batch touched again meanwhile (the counter of a mark
changed); a crash before that leaves the marks for the next run, whose catch-up finds the watermarks
already moved and repeats nothing.
"""

import time

import redis
from django.conf import settings

from ..wire import DIRTY_SESSIONS, SCHEDULED_FLAG, session_parse
from . import catchup

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
    """End of a successful run: drop the marks taken, except those touched again meanwhile."""
    if not snapshot:
        return 0
    args = [x for pair in snapshot.items() for x in pair]
    return client.eval(_CLEAR_UNCHANGED, 1, DIRTY_SESSIONS, *args)


def dirty_sessions_catch_up(*, client: redis.Redis, sessions: list[tuple[str, str]] = ()) -> int:
    """Bring every dirty session (and any named) up to date. Returns how many sessions were visited.

    Waits the coalescing window first: while it waits, the scheduled flag is still set, so the fast
    path marks sessions but enqueues no second task, and what arrives meanwhile is caught up together
    (settings.SLOWPATH_COALESCE_MS says what that buys)."""
    time.sleep(settings.SLOWPATH_COALESCE_MS / 1000)
    snapshot = dirty_take(client)
    keys = {session_parse(f) for f in snapshot}
    keys.update((platform, session_id) for platform, session_id in sessions)
    catchup.sessions_catch_up(sessions=keys)
    dirty_clear(client, snapshot)
    return len(keys)

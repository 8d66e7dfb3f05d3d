"""After a batch commits: publish its change records and hand its sessions to the slow path.

Guarantee: at least once. The records and marks are queued on the same pipeline as the stream
acknowledgement, ahead of it (Redis runs a pipeline's commands in order), after the batch committed:
a crash before they run re-delivers the batch, the (idempotent) insert stores nothing new, and they
are published again; consumers of both tolerate repeats.

The durable hand-over to the slow path is the dirty mark in `slowpath:dirty` (Redis persists it; the
catch-up task drains it). Enqueueing a Celery task costs ~0.3-0.6 ms, more than the rest of a batch's
Redis work, so a task is enqueued only to wake the workers, when none is already waiting
(`slowpath:scheduled`, cleared by the task when it starts): a busy fast path enqueues one task per
task run, not one per batch. If the process dies between the acknowledgement and that enqueue, the
marks stay; the flag expires after SCHEDULED_TTL_S and the next batch, or beat's periodic sweep,
wakes a worker.
"""

import redis

from .batching import WriteBatch
from .streams import CDC_STREAM

DIRTY_SESSIONS = "slowpath:dirty"
SCHEDULED_FLAG = "slowpath:scheduled"
# If an enqueue is lost after the flag was set (a crash between the two), the flag expires and the
# next batch enqueues again; beat also sweeps dirty sessions periodically.
SCHEDULED_TTL_S = 60


def session_field(platform: str, session_id: str) -> str:
    return f"{platform}:{session_id}"


def session_parse(field: bytes | str) -> tuple[str, str]:
    text = field.decode() if isinstance(field, bytes) else field
    platform, _, session_id = text.partition(":")
    return platform, session_id


# One command for every dirty mark of a batch (a HINCRBY each cost more than the rest of the pipeline)
# and the wake-up flag; returns whether this batch set the flag, i.e. whether a wake-up is due.
_MARK_DIRTY = """
for i = 1, #ARGV - 1 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
end
return redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[#ARGV]) and 1 or 0
"""


def publish_commands(batch: WriteBatch, *, cdc_maxlen: int) -> list[tuple]:
    """The batch's change record and dirty marks, to send ahead of its acknowledgement. The reply to
    the second says whether wake_slow_path() is due (1) or a task is already waiting (0)."""
    fields = [session_field(platform, session_id) for platform, session_id in batch.sessions]
    return [
        ("XADD", CDC_STREAM, "MAXLEN", "~", cdc_maxlen, "*", "records", batch.changes),
        ("EVAL", _MARK_DIRTY, 2, DIRTY_SESSIONS, SCHEDULED_FLAG, *fields, SCHEDULED_TTL_S),
    ]


def slow_path_connect() -> None:
    """Import the task and open the broker connection ahead of the first batch, whose enqueue would
    otherwise take 30-90 ms (measured) and stand out as the slowest batch of every run."""
    from ..tasks import sessions_catch_up as sessions_catch_up_task

    with sessions_catch_up_task.app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def wake_slow_path(sessions: list[tuple[str, str]]) -> None:
    """Enqueue one catch-up task naming the batch's sessions (it drains every dirty session)."""
    from ..tasks import sessions_catch_up as sessions_catch_up_task

    sessions_catch_up_task.delay([list(s) for s in sessions])


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

"""After a batch commits: publish its change records and hand its sessions to the slow path.

Guarantee: at least once. The records and marks are queued on the same pipeline as the stream
acknowledgement, ahead of it (Redis runs a pipeline's commands in order), after the batch committed:
a crash before they run re-delivers the batch, the (idempotent) insert stores nothing new, and they
are published again; consumers of both tolerate repeats.

The durable hand-over to the slow path is the dirty mark in `wire.DIRTY_SESSIONS` (Redis persists it;
the catch-up task drains it, see telemetry.processing.dirty). Enqueueing a Celery task costs ~0.3-0.6
ms, more than the rest of a batch's Redis work, so a task is enqueued only to wake the workers, when
none is already waiting (`wire.SCHEDULED_FLAG`, cleared by the task when it starts): a busy fast path
enqueues one task per task run, not one per batch. If the process dies between the acknowledgement and
that enqueue, the marks stay; the flag expires after SCHEDULED_TTL_S and the next batch, or beat's
periodic sweep, wakes a worker.

The task is enqueued by name: the fast path does not import the slow path.
"""

from celery import current_app

from ..wire import CATCH_UP_TASK, CDC_STREAM, DIRTY_SESSIONS, SCHEDULED_FLAG, session_field
from .batching import WriteBatch

# If an enqueue is lost after the flag was set (a crash between the two), the flag expires and the
# next batch enqueues again; beat also sweeps dirty sessions periodically.
SCHEDULED_TTL_S = 60


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
    """Open the broker connection ahead of the first batch, whose enqueue would otherwise take 30-90 ms
    (measured) and stand out as the slowest batch of every run."""
    with current_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def wake_slow_path(sessions: list[tuple[str, str]]) -> None:
    """Enqueue one catch-up task naming the batch's sessions (it drains every dirty session)."""
    current_app.send_task(CATCH_UP_TASK, args=[[list(s) for s in sessions]])

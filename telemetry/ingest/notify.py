"""After a batch commits: publish its change records and hand its sessions to the slow path.

Guarantee: at least once. The records and marks are written by the same script as the stream
acknowledgement, ahead of it, after the batch committed; the script stops at its first failing command,
so the acknowledgement never runs without them. A crash (or a refused write) before they run
re-delivers the batch or has the fast path send them again; the (idempotent) insert stores nothing
new, and they are published again; consumers of both tolerate repeats.

The durable hand-over to the slow path is the dirty mark in `wire.DIRTY_SESSIONS` (Redis persists it;
the catch-up task drains it, see telemetry.processing.dirty). Enqueueing a Celery task costs ~0.3-0.6
ms, more than the rest of a batch's Redis work, so a task is enqueued only to wake the workers, when
none is already waiting (`wire.SCHEDULED_FLAG`, cleared by the task when it starts): a busy fast path
enqueues one task per task run, not one per batch. If the process dies between the acknowledgement and
that enqueue, the marks stay; the flag expires after SCHEDULED_TTL_S and the next batch, or beat's
periodic sweep, wakes a worker.

The change stream `cdc:events` holds at most `cdc_maxlen` events (not entries: an entry is a batch, of
one event or of hundreds). Beside the stream, a list holds each entry's event count, oldest first, and a
counter their sum; the same script that adds an entry drops the oldest counts until the sum is within
the cap and trims the stream exactly to the list's length. If the two ever disagree (a key deleted by
hand), the stream is trimmed to the list, whose newest counts are its newest entries: still within the
cap. It costs a few O(1) commands per batch, inside the one script the batch already runs.

The same script adds the batch's counters for /metrics to `wire.FASTPATH_METRICS` (events per platform
and source, events new to the store, the batch's latency bucket): a few HINCRBYs inside a script the
batch already runs, so they cost no round trip. A publish sent again after a fault may count its batch
twice; counters that are rarely high by one batch are worth that.

The task is enqueued by name: the fast path does not import the slow path.
"""

from bisect import bisect_left
from collections.abc import Sequence

from celery import current_app

from ..wire import (
    BATCH_LATENCY_BOUNDS_S,
    CATCH_UP_TASK,
    CDC_STREAM,
    DIRTY_SESSIONS,
    EVENTS_STREAM,
    FASTPATH_METRICS,
    GROUP,
    SCHEDULED_FLAG,
    session_field,
)
from .batching import WriteBatch

# If an enqueue is lost after the flag was set (a crash between the two), the flag expires and the
# next batch enqueues again; beat also sweeps dirty sessions periodically.
SCHEDULED_TTL_S = 60
CDC_COUNTS = f"{CDC_STREAM}:counts"  # events per entry of CDC_STREAM, oldest first
CDC_EVENTS = f"{CDC_STREAM}:total"  # their sum

# One command for the change record (capped by events), every dirty mark of a batch (a HINCRBY each
# cost more than the rest of the pipeline), the wake-up flag and the acknowledgement, which so runs only
# if all before it did (a script stops at its first failing command: under OOM or MISCONF, the XADD).
# Returns whether this batch set the flag, i.e. whether a wake-up is due.
# KEYS: cdc, counts, total, dirty, flag, events, metrics. ARGV: cap, events, records, flag ttl, group,
# number of session fields, the fields, number of counters, counter name and increment pairs, then the
# stream ids to acknowledge.
_PUBLISH = """
redis.call('XADD', KEYS[1], '*', 'records', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[2])
local total = redis.call('INCRBY', KEYS[3], ARGV[2])
local cap = tonumber(ARGV[1])
while total > cap do
  local n = redis.call('LPOP', KEYS[2])
  if not n then
    total = 0
    redis.call('SET', KEYS[3], 0)
  else
    total = redis.call('DECRBY', KEYS[3], n)
  end
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', redis.call('LLEN', KEYS[2]))
local last = 6 + tonumber(ARGV[6])
for i = 7, last do
  redis.call('HINCRBY', KEYS[4], ARGV[i], 1)
end
local counters = last + 1
last = counters + 2 * tonumber(ARGV[counters])
for i = counters + 1, last, 2 do
  redis.call('HINCRBY', KEYS[7], ARGV[i], ARGV[i + 1])
end
local due = redis.call('SET', KEYS[5], 1, 'NX', 'EX', ARGV[4]) and 1 or 0
if #ARGV > last then
  redis.call('XACK', KEYS[6], ARGV[5], unpack(ARGV, last + 1))
end
return due
"""


_LATENCY_FIELDS = [f"latency_le:{bound:g}" for bound in BATCH_LATENCY_BOUNDS_S] + ["latency_le:+Inf"]


def counters(batch: WriteBatch, *, inserted: int, latency_s: float) -> list[str | int]:
    """The batch's counters for wire.FASTPATH_METRICS, as name, increment, name, increment, ..."""
    out: list[str | int] = ["batches", 1, "inserted", inserted, "latency_us_sum", int(latency_s * 1e6),
                            _LATENCY_FIELDS[bisect_left(BATCH_LATENCY_BOUNDS_S, latency_s)], 1]  # fmt: skip
    for platform, source, n in batch.sources:
        out += (f"events:{platform}:{source}", n)
    return out


def publish_command(
    batch: WriteBatch, *, ack_ids: list[bytes], cdc_maxlen: int, counted: Sequence[str | int] = ()
) -> tuple:
    """The batch's change record, dirty marks, counters (from counters()) and acknowledgement, in that
    order, as one command whose reply says whether wake_slow_path() is due (1) or a task is already
    waiting (0)."""
    fields = [session_field(platform, session_id) for platform, session_id in batch.sessions]
    events = sum(len(unit.rows) for unit in batch.units)
    keys = (
        CDC_STREAM,
        CDC_COUNTS,
        CDC_EVENTS,
        DIRTY_SESSIONS,
        SCHEDULED_FLAG,
        EVENTS_STREAM,
        FASTPATH_METRICS,
    )
    return ("EVAL", _PUBLISH, len(keys), *keys, cdc_maxlen, events, batch.changes, SCHEDULED_TTL_S, GROUP,
            len(fields), *fields, len(counted) // 2, *counted, *ack_ids)  # fmt: skip


def slow_path_connect() -> None:
    """Open the broker connection ahead of the first batch, whose enqueue would otherwise take 30-90 ms
    (measured) and stand out as the slowest batch of every run."""
    with current_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def wake_slow_path(sessions: list[tuple[str, str]]) -> None:
    """Enqueue one catch-up task naming the batch's sessions (it drains every dirty session)."""
    current_app.send_task(CATCH_UP_TASK, args=[[list(s) for s in sessions]])

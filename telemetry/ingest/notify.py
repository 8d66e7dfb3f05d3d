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

With several shards (settings.SLOWPATH_SHARDS), each session is marked in its shard's hash
(wire.session_shard) and each shard has its own flag: the one script marks every shard the batch
touches and sets each of their flags, and a task is enqueued per shard whose flag it set, naming that
shard, so that one task per shard runs at a time and tasks of different shards drain disjoint sessions.

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
    EVENTS_STREAM,
    FASTPATH_METRICS,
    GROUP,
    dirty_key,
    scheduled_key,
    session_field,
    session_shard,
)
from .batching import WriteBatch

# If an enqueue is lost after the flag was set (a crash between the two), the flag expires and the
# next batch enqueues again; beat also sweeps dirty sessions periodically.
SCHEDULED_TTL_S = 60
CDC_COUNTS = f"{CDC_STREAM}:counts"  # events per entry of CDC_STREAM, oldest first
CDC_EVENTS = f"{CDC_STREAM}:total"  # their sum

# One command for the change record (capped by events), every dirty mark of a batch (a HINCRBY each
# cost more than the rest of the pipeline), the wake-up flags and the acknowledgement, which so runs only
# if all before it did (a script stops at its first failing command: under OOM or MISCONF, the XADD).
# Returns, per shard the batch touched, whether this batch set its flag, i.e. whether a wake-up is due.
# KEYS: cdc, counts, total, events, metrics, then a dirty hash and its flag per shard. ARGV: cap, events,
# records, flag ttl, group, number of shards, per shard the number of its session fields and the fields,
# number of counters, counter name and increment pairs, then the stream ids to acknowledge.
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
local at = 7
local due = {}
for shard = 1, tonumber(ARGV[6]) do
  local dirty = KEYS[4 + 2 * shard]
  local last = at + tonumber(ARGV[at])
  for i = at + 1, last do
    redis.call('HINCRBY', dirty, ARGV[i], 1)
  end
  at = last + 1
  due[shard] = redis.call('SET', KEYS[5 + 2 * shard], 1, 'NX', 'EX', ARGV[4]) and 1 or 0
end
local counters = at
local last = counters + 2 * tonumber(ARGV[counters])
for i = counters + 1, last, 2 do
  redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1])
end
if #ARGV > last then
  redis.call('XACK', KEYS[4], ARGV[5], unpack(ARGV, last + 1))
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


def sessions_by_shard(sessions: Sequence[tuple[str, str]], shards: int) -> dict[int, list[tuple[str, str]]]:
    """A batch's sessions grouped by their shard, shards in ascending order (publish_command's reply has
    one flag per shard, in this order)."""
    grouped: dict[int, list[tuple[str, str]]] = {}
    for session in sessions:
        grouped.setdefault(session_shard(session_field(*session), shards), []).append(session)
    return dict(sorted(grouped.items()))


def publish_command(
    batch: WriteBatch,
    *,
    ack_ids: list[bytes],
    cdc_maxlen: int,
    counted: Sequence[str | int] = (),
    shards: int = 1,
) -> tuple:
    """The batch's change record, dirty marks, counters (from counters()) and acknowledgement, in that
    order, as one command whose reply has, per shard of sessions_by_shard(), whether wake_slow_path() is
    due for it (1) or a task of that shard is already waiting (0)."""
    grouped = sessions_by_shard(batch.sessions, shards)
    events = sum(len(unit.rows) for unit in batch.units)
    keys: list[str] = [CDC_STREAM, CDC_COUNTS, CDC_EVENTS, EVENTS_STREAM, FASTPATH_METRICS]
    marks: list[str | int] = [len(grouped)]
    for shard, sessions in grouped.items():
        keys += (dirty_key(shard), scheduled_key(shard))
        marks += (len(sessions), *(session_field(platform, session_id) for platform, session_id in sessions))
    return ("EVAL", _PUBLISH, len(keys), *keys, cdc_maxlen, events, batch.changes, SCHEDULED_TTL_S, GROUP,
            *marks, len(counted) // 2, *counted, *ack_ids)  # fmt: skip


def slow_path_connect() -> None:
    """Open the broker connection ahead of the first batch, whose enqueue would otherwise take 30-90 ms
    (measured) and stand out as the slowest batch of every run."""
    with current_app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def wake_slow_path(sessions: list[tuple[str, str]], shard: int | None = None) -> None:
    """Enqueue one catch-up task naming the batch's sessions of a shard (it drains every dirty session of
    that shard). With one shard the task is named no shard, as before shards: it drains every mark."""
    kwargs = {} if shard is None else {"shard": shard}
    current_app.send_task(CATCH_UP_TASK, args=[[list(s) for s in sessions]], kwargs=kwargs)

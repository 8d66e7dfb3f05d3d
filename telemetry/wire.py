"""Names the layers share without importing each other: Redis streams and keys, and task names.

Capture writes `EVENTS_STREAM`; the fast path reads it, dead-letters to `DLQ_STREAM`, publishes change
records to `CDC_STREAM` and marks sessions in `DIRTY_SESSIONS`; the slow path drains those marks in the
task named `CATCH_UP_TASK`, which the fast path enqueues by name. docs/wire-format.md documents them.
(The hook restates EVENTS_STREAM: it may import only the standard library.)
"""

import zlib

EVENTS_STREAM = "telemetry:events"
DLQ_STREAM = "telemetry:dlq"
CDC_STREAM = "cdc:events"
# What the slow path changed, one record per catch-up run that applied something (processing/changes.py);
# the web server's live feed relays it to /ws/metrics. Capped (approximately) at DERIVED_MAXLEN entries.
DERIVED_STREAM = "cdc:derived"
DERIVED_MAXLEN = 10_000
GROUP = "fastpath"  # the fast path's consumer group on EVENTS_STREAM

# Sessions with stored events the slow path has not derived yet: a hash of session_field -> a counter
# the fast path increments per batch (so a clear can tell whether a batch touched it again).
DIRTY_SESSIONS = "slowpath:dirty"
# Set while a catch-up task is queued and has not started: the fast path enqueues one only when unset.
SCHEDULED_FLAG = "slowpath:scheduled"
# The marks are split into settings.SLOWPATH_SHARDS shards so that several workers drain disjoint sets of
# sessions: each shard has its own hash and flag, and a catch-up task drains one shard. Shard 0's keys
# are the two above, so one shard (the default) is exactly the unsharded layout. At most SHARDS_MAX:
# readers and the sweep look at every possible shard key (marks left in a shard past a lowered count are
# found without scanning the keyspace).
SHARDS_MAX = 64


def dirty_key(shard: int) -> str:
    """The dirty hash of a shard."""
    return DIRTY_SESSIONS if shard == 0 else f"{DIRTY_SESSIONS}:{shard}"


def scheduled_key(shard: int) -> str:
    """The wake-up flag of a shard."""
    return SCHEDULED_FLAG if shard == 0 else f"{SCHEDULED_FLAG}:{shard}"


DIRTY_KEYS = tuple(dirty_key(shard) for shard in range(SHARDS_MAX))


def session_shard(field: str | bytes, shards: int) -> int:
    """The shard of a session's field (session_field()): stable across processes and restarts (CRC-32,
    not Python's salted hash), so every fast path and worker agrees."""
    if shards <= 1:
        return 0
    return zlib.crc32(field.encode() if isinstance(field, str) else field) % shards


CATCH_UP_TASK = "telemetry.sessions_catch_up"


def session_field(platform: str, session_id: str) -> str:
    """A session's field in DIRTY_SESSIONS."""
    return f"{platform}:{session_id}"


def session_parse(field: bytes | str) -> tuple[str, str]:
    """(platform, session_id) of a DIRTY_SESSIONS field."""
    text = field.decode() if isinstance(field, bytes) else field
    platform, _, session_id = text.partition(":")
    return platform, session_id


# The fast path's counters for /metrics (a hash; written in the same script as each batch's ack, see
# ingest/notify.py): `events:<platform>:<source>` events committed, `inserted` those new to the store,
# `batches`, `latency_us_sum`, and `latency_le:<bound>` batches whose latency from read to commit fell in
# the bucket ending at that bound in seconds (not cumulative; `latency_le:+Inf` the rest). Outside the
# `metric:` prefix, which rebuilding the live metrics deletes.
FASTPATH_METRICS = "fastpath:metrics"
BATCH_LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The OTLP receiver's counters (capture/otlp_receiver.py): `requests:<signal>`, `records:<signal>` (envelopes
# sent), `refused:<signal>` (records refused in a partialSuccess), `errors:<status>` (4xx/5xx replies),
# `spooled` (requests that went to the spool because Redis could not take them).
OTLP_METRICS = "otlp:metrics"
# When a Celery worker last ran its heartbeat task (epoch seconds, beat schedules it): /healthz's sign
# that beat, the broker and a worker all work.
WORKER_HEARTBEAT = "worker:heartbeat"

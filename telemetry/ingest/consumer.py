"""The fast path: one consumer of `telemetry:events` in group `fastpath`.

Guarantee: at-least-once delivery, ack after commit. Each batch is first prepared (decoded, grouped
into per-session units, compressed), then committed in this order:
  1. insert the batch in one transaction (event ids already stored are skipped);
  2. publish change records and mark the touched sessions for the slow path, and
  3. acknowledge the stream entries: 2 and 3 are one script, which stops before 3 if 2 fails (dead
     letters are acknowledged in the same step as their dead-letter XADD);
  4. once its reply is read, if no catch-up task is waiting, enqueue one (see notify.py for why after
     the ack is safe).
A crash between any two steps re-delivers the batch, and every step tolerates the repeat, so a crash
can cause a repeat, never a loss. The fast path never reads the database.

A fault of the machine (database locked, full or read-only, PostgreSQL restarting, Redis gone or
refusing writes) is never the entries' fault: each step waits it out with backoff, holding the batch in
hand, and the process stays up (faults.py has the rule; storing.py splits a batch the database refuses
to find the entries at fault). While the write-ahead log is at its bound the fast path waits for a
checkpoint before it writes (checkpoint.py). When told to stop during a wait, it leaves what it holds
pending for the next start.

Under `runfastpath` a reader process prepares batches (reader.py) and this process commits them; the
reply of 2 and 3 is read while the next batch is inserted, or before waiting for one (settle()).
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from ..connections import redis_client
from ..store.codec import CURRENT, Codec
from . import batching, notify
from .checkpoint import WalGuard, automatic_checkpoints_off, wal_checkpoints
from .deferred import Deferred
from .faults import Backoff, StopEvent, Stopping, describe
from .reader import ReaderProcess
from .reading import BatchReading
from .storing import BatchStore
from .streams import Entry, EventStream

logger = logging.getLogger(__name__)


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class FlushStats:
    """What one flush did, for logs, tests and the benchmark."""

    entries: int = 0
    inserted: int = 0
    dead: int = 0
    prepare_s: float = 0.0  # decode, validate, compress, lay out
    queued_s: float = 0.0  # from prepared to commit(): waiting for the batch before it (reader.py)
    seconds: float = 0.0  # own time in commit() and settle(): dead letters, insert, publish, acknowledge
    enqueued: bool = False
    since_read: float = 0.0  # from the batch's arrival (its XREADGROUP reply) to its acknowledged reply


@dataclass(slots=True)
class _Sent:
    """A committed batch whose publish and acknowledgement were sent (or are to be sent again after a
    fault: sent is None), reply unread."""

    batch: batching.WriteBatch
    publish: batching.WriteBatch  # what was stored: the batch, or the parts of it that stored
    started: float
    commit_s: float  # this batch's own time in commit()
    inserted: int
    dead: int
    commands: list[tuple]
    sent: Deferred | None


@dataclass
class StreamConsumer(BatchReading):
    client: redis.Redis
    consumer: str
    batch_size: int = 100
    flush_ms: int = 100
    max_event_bytes: int = 1024 * 1024
    reclaim_idle_ms: int = 60_000
    reclaim_every_s: float = 5.0
    max_deliveries: int = 5
    trim_every_s: float = 10.0
    cdc_maxlen: int = 100_000  # events, not entries (notify.py)
    shards: int = 1  # of the slow path's dirty marks (settings.SLOWPATH_SHARDS, notify.py)
    dlq_maxlen: int = 100_000
    retry_max_s: float = 5.0  # the longest wait between two tries while a fault lasts
    wal_max_bytes: int = 64 * 1024 * 1024  # checkpoint.py
    codec: Codec = CURRENT
    reader_process: bool = False  # run() reads and prepares batches in a child process (reader.py)
    last_flush: FlushStats = field(default_factory=FlushStats)

    def __post_init__(self) -> None:
        self.stream = EventStream(
            self.client,
            consumer=self.consumer,
            dlq_maxlen=self.dlq_maxlen,
            max_event_bytes=self.max_event_bytes,
        )
        self.stream.ensure_group()
        # After a restart under the same name, first finish what this consumer was given and never acked.
        self._own_pending = True
        self._pending_cursor: bytes | str = "0"
        self._handed = (0, 0)  # the newest id handed out for committing (what a lost reply came after)
        self._next_reclaim = 0.0
        # Trim at start-up too, so that a process that keeps failing early still trims what was acknowledged.
        self._next_trim = 0.0
        self._next_keep_claimed = 0.0
        self._unsettled: _Sent | None = None
        self._stop: StopEvent = threading.Event()  # run() and batches() put theirs here
        self._wal: WalGuard | None = None
        self._waking_failed = False
        self.db_backoff = Backoff("storing a batch", cap_s=self.retry_max_s)
        self.redis_backoff = Backoff("Redis", cap_s=self.retry_max_s)
        self.wal_backoff = Backoff("waiting for a WAL checkpoint", cap_s=self.retry_max_s)
        self.db_backoff.on_wait = self.wal_backoff.on_wait = self._keep_claimed
        self.store = BatchStore(
            stream=self.stream,
            codec=self.codec,
            max_event_bytes=self.max_event_bytes,
            backoff=self.db_backoff,
            redis_backoff=self.redis_backoff,
            stop=lambda: self._stop,
        )

    @classmethod
    def from_settings(cls, *, consumer: str | None = None) -> "StreamConsumer":
        return cls(
            client=redis_client(),
            consumer=consumer or default_consumer_name(),
            batch_size=settings.FASTPATH_BATCH_SIZE,
            flush_ms=settings.FASTPATH_FLUSH_MS,
            max_event_bytes=settings.FASTPATH_MAX_EVENT_BYTES,
            reclaim_idle_ms=settings.FASTPATH_RECLAIM_IDLE_MS,
            reclaim_every_s=settings.FASTPATH_RECLAIM_EVERY_S,
            max_deliveries=settings.FASTPATH_MAX_DELIVERIES,
            trim_every_s=settings.FASTPATH_TRIM_EVERY_S,
            cdc_maxlen=settings.CDC_MAXLEN,
            shards=settings.SLOWPATH_SHARDS,
            dlq_maxlen=settings.DLQ_MAXLEN,
            retry_max_s=settings.FASTPATH_RETRY_MAX_S,
            wal_max_bytes=settings.SQLITE_WAL_MAX_BYTES,
            reader_process=settings.FASTPATH_READER_PROCESS,
        )

    def run_once(self) -> int:
        """Collect and flush one batch. Returns the number of entries handled; 0 means idle."""
        self._housekeep()
        entries = self._collect()
        if not entries:
            return 0
        self.flush(entries)
        return len(entries)

    def run(self, stop: threading.Event, *, once: bool = False) -> int:
        """Consume until stop is set (or, with once, until nothing is queued). Returns entries handled.

        With reader_process, batches are read and prepared in a child process (reader.py) while this
        one commits them: on two cores, ~1.45x the throughput of doing both here. (Threads gained under
        10%: most of both halves holds the GIL.) Automatic WAL checkpoints are left to a background
        thread, so no commit pays for one."""
        self._stop = stop
        reader = ReaderProcess(self.batches, once=once) if self.reader_process else None
        total = 0
        try:
            _slow_path_connect()
            with wal_checkpoints(max_bytes=self.wal_max_bytes) as self._wal, automatic_checkpoints_off():
                if reader:
                    for batch in reader.batches(stop, idle=self.settle):
                        self.commit(batch, settle=False)
                        total += batch.entries
                    self.settle()
                else:
                    for batch in self.batches(stop, once=once):
                        self.commit(batch)
                        total += batch.entries
        except Stopping as exc:
            logger.info("stopped while waiting out a fault (%s): what was in hand stays pending", exc)
        finally:
            self._wal = None
            for backoff in (self.db_backoff, self.redis_backoff, self.wal_backoff):
                backoff.close()
            if self._unsettled:  # failing or stopped: leave its acknowledgement to a redelivery
                if self._unsettled.sent:
                    self._unsettled.sent.cancel()
                self._unsettled = None
            if reader:
                reader.close()
        return total

    def flush(self, entries: list[Entry]) -> FlushStats:
        """Prepare and commit one batch."""
        self.commit(self.prepare(entries, arrived=time.monotonic()))
        return self.last_flush

    def commit(self, batch: batching.WriteBatch, *, settle: bool = True) -> None:
        """Store, publish, acknowledge: the order is the guarantee (see the module docstring). With
        settle=False the publish and acknowledgement are sent and their reply left for settle(), so
        Redis handles them while this process inserts the next batch. Faults are waited out here."""
        t0 = time.monotonic()
        if batch.dead:
            self._dead_letter(batch.dead)
        self._wal_wait()
        stored = self.store.store(batch)
        if stored.dead:
            self._dead_letter(stored.dead)
        t1 = time.monotonic()
        self.settle()  # the previous batch's replies arrived while this one was inserted
        previous_s = time.monotonic() - t1
        publish = stored.publish
        if publish.units:
            # Latency for /metrics: from the batch's arrival to its commit (the publish is microseconds on).
            counted = notify.counters(publish, inserted=stored.inserted, latency_s=t1 - batch.arrived)
            commands = [
                notify.publish_command(
                    publish,
                    ack_ids=stored.ack_ids,
                    cdc_maxlen=self.cdc_maxlen,
                    counted=counted,
                    shards=self.shards,
                )
            ]
        else:
            commands = [self.stream.ack_command(stored.ack_ids)] if stored.ack_ids else []
        dead = len(batch.dead) + len(stored.dead)
        self._unsettled = _Sent(
            batch, publish, t0, time.monotonic() - t0 - previous_s, stored.inserted, dead, commands, None
        )
        if commands:
            with contextlib.suppress(
                Exception
            ):  # Redis is failing: settle() sends them again, waiting it out
                self._unsettled.sent = Deferred(self.client, commands)
        if settle:
            self.settle()

    def settle(self) -> FlushStats | None:
        """Read the replies of the batch last committed, and wake the slow path if that is due. The batch
        counts as flushed from here: last_flush describes it."""
        done = self._unsettled
        if done is None:
            return None
        t0 = time.monotonic()
        replies = self._replies(done)
        self._unsettled = None
        enqueued = False
        if done.publish.units:
            grouped = notify.sessions_by_shard(done.publish.sessions, self.shards)
            for (shard, sessions), due in zip(grouped.items(), replies[0], strict=True):
                if due == 1:
                    self._wake(sessions, None if self.shards == 1 else shard)
                    enqueued = True
        self.last_flush = FlushStats(
            entries=done.batch.entries,
            inserted=done.inserted,
            dead=done.dead,
            prepare_s=done.batch.prepared - done.batch.arrived,
            queued_s=done.started - done.batch.prepared,
            seconds=done.commit_s + time.monotonic() - t0,
            enqueued=enqueued,
            since_read=time.monotonic() - done.batch.arrived,
        )
        return self.last_flush

    def _replies(self, done: _Sent) -> list[Any]:
        """The batch's publish and acknowledgement replies; after a fault, sent again (both repeat safely)
        until they are answered."""
        while done.commands:
            try:
                if done.sent is None:
                    done.sent = Deferred(self.client, done.commands)
                replies = done.sent.replies()
            except Exception as exc:
                done.sent = None
                self.redis_backoff.failed(exc, stop=self._stop)
                continue
            self.redis_backoff.succeeded()
            return replies
        return []

    def _wake(self, sessions: list[tuple[str, str]], shard: int | None) -> None:
        # A failed wake-up loses nothing: the dirty marks are set, the flag expires and the next batch or
        # beat's sweep wakes a worker. Say so once, not once per batch.
        try:
            notify.wake_slow_path(sessions, shard)
        except Exception as exc:
            if not self._waking_failed:
                logger.warning("could not wake the slow path (%s); its periodic sweep will", describe(exc))
            self._waking_failed = True
        else:
            self._waking_failed = False

    def _dead_letter(self, dead: list[batching.DeadLetter]) -> None:
        for d in dead:
            logger.warning("dead-letter %s: %s", d.stream_id.decode(), d.reason)
        self._redis(self.stream.dead_letter, dead)

    def _redis(self, call: Callable[..., Any], *args: Any) -> Any:
        """call(*args), waiting out faults of Redis."""
        while True:
            try:
                result = call(*args)
            except Exception as exc:
                self.redis_backoff.failed(exc, stop=self._stop)
                continue
            self.redis_backoff.succeeded()
            return result

    def _wal_wait(self) -> None:
        """While the WAL is at its bound, ask for a checkpoint and wait, rather than write."""
        if self._wal is None:
            return
        while self._wal.over():
            self._wal.checkpoint_now.set()
            self.wal_backoff.failed(self._wal.describe(), stop=self._stop)
        self.wal_backoff.succeeded()

    def _keep_claimed(self) -> None:
        """While waiting out a fault, now and then reset the idle time of the entries held, so that no
        other consumer takes them over (and raises their delivery count) as if this one had died."""
        now = time.monotonic()
        if now < self._next_keep_claimed:
            return
        self._next_keep_claimed = now + self.reclaim_idle_ms / 3000
        try:
            self.stream.keep_claimed()
        except Exception:
            logger.debug("could not keep the pending entries claimed", exc_info=True)


def _slow_path_connect() -> None:
    try:
        notify.slow_path_connect()
    except Exception as exc:  # the broker is down: the first wake-up connects, or says it could not
        logger.warning("could not connect to the Celery broker yet (%s)", describe(exc))

"""The fast path: one consumer of `telemetry:events` in group `fastpath`.

Guarantee: at-least-once delivery, ack after commit. Each batch is first prepared (decoded, grouped
into per-session units, compressed), then committed in this order:
  1. insert the batch in one transaction (event ids already stored are skipped);
  2. publish change records and mark the touched sessions for the slow path, and
  3. acknowledge the stream entries: 2 and 3 are sent to Redis in one write, in that order (dead
     letters are acknowledged atomically with their dead-letter XADD);
  4. once their replies are read, if no catch-up task is waiting, enqueue one (see notify.py for why
     after the ack is safe).
A crash between any two steps re-delivers the batch, and every step tolerates the repeat, so a crash
can cause a repeat, never a loss. The fast path never reads the database.

Under `runfastpath` a reader process prepares batches (reader.py) and this process commits them; the
replies of 2 and 3 are read while the next batch is inserted, or before waiting for one (settle()).
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
from django.conf import settings

from ..connections import redis_client
from ..store import writer
from ..store.codec import CURRENT, Codec
from . import batching, notify
from .checkpoint import automatic_checkpoints_off, wal_checkpoints
from .deferred import Deferred
from .reader import ReaderProcess
from .streams import Entry, EventStream, ReadAhead

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
    """A committed batch whose publish and acknowledgement were sent, replies unread."""

    batch: batching.WriteBatch
    started: float
    commit_s: float  # this batch's own time in commit()
    inserted: int
    sent: Deferred | None


@dataclass
class StreamConsumer:
    client: redis.Redis
    consumer: str
    batch_size: int = 100
    flush_ms: int = 100
    max_event_bytes: int = 1024 * 1024
    reclaim_idle_ms: int = 60_000
    reclaim_every_s: float = 5.0
    max_deliveries: int = 5
    trim_every_s: float = 10.0
    cdc_maxlen: int = 100_000
    dlq_maxlen: int = 100_000
    codec: Codec = CURRENT
    reader_process: bool = False  # run() reads and prepares batches in a child process (reader.py)
    last_flush: FlushStats = field(default_factory=FlushStats)

    def __post_init__(self) -> None:
        self.stream = EventStream(self.client, consumer=self.consumer, dlq_maxlen=self.dlq_maxlen)
        self.stream.ensure_group()
        # After a restart under the same name, first finish what this consumer was given and never acked.
        self._own_pending = True
        self._pending_cursor = "0"
        self._next_reclaim = 0.0
        self._next_trim = time.monotonic() + self.trim_every_s
        self._unsettled: _Sent | None = None

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
            dlq_maxlen=settings.DLQ_MAXLEN,
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
        reader = ReaderProcess(self.batches, once=once) if self.reader_process else None
        total = 0
        try:
            notify.slow_path_connect()
            with wal_checkpoints(), automatic_checkpoints_off():
                if reader:
                    for batch in reader.batches(stop, idle=self.settle):
                        self.commit(batch, settle=False)
                        total += batch.entries
                    self.settle()
                else:
                    for batch in self.batches(stop, once=once):
                        self.commit(batch)
                        total += batch.entries
        finally:
            if self._unsettled:  # failing: leave its acknowledgement to a redelivery
                if self._unsettled.sent:
                    self._unsettled.sent.cancel()
                self._unsettled = None
            if reader:
                reader.close()
        return total

    def batches(self, stop: threading.Event, *, once: bool = False) -> Iterator[batching.WriteBatch]:
        """Read and prepare batches until stop is set (or, with once, until nothing is queued).

        After a full batch (a backlog), the next one is requested before this one is prepared, so that
        Redis builds its reply meanwhile; a batch read that way is always handed out, even after stop
        is set, so that stopping leaves nothing read and unprocessed."""
        ahead: ReadAhead | None = None
        try:
            while True:
                entries = ahead.entries() if ahead else []
                ahead = None
                self._housekeep()  # here too during a backlog, which reads ahead without _collect()
                if not entries:
                    if stop.is_set():
                        return
                    entries = self._collect()
                    if not entries:
                        if once:
                            return
                        continue
                arrived = time.monotonic()
                backlog = len(entries) >= self.batch_size
                if backlog and not (stop.is_set() or self._own_pending or self._reclaim_due()):
                    ahead = self.stream.read_ahead(count=self.batch_size)
                yield self.prepare(entries, arrived=arrived)
        finally:
            if ahead:
                ahead.cancel()

    def _collect(self) -> list[Entry]:
        while self._own_pending:
            # Read past what was already handed out: those entries may still be committing.
            own, last = self.stream.read_own_pending(
                after=self._pending_cursor, count=self.batch_size, max_deliveries=self.max_deliveries
            )
            if last is None:
                self._own_pending = False
                break
            self._pending_cursor = last
            self._dead_letter_poison(own.poison)
            if own.entries:
                return own.entries
        if self._reclaim_due():
            self._next_reclaim = time.monotonic() + self.reclaim_every_s
            reclaimed = self.stream.reclaim(
                min_idle_ms=self.reclaim_idle_ms, count=self.batch_size, max_deliveries=self.max_deliveries
            )
            self._dead_letter_poison(reclaimed.poison)
            if reclaimed.entries:
                logger.info("reclaimed %d entries from a stalled consumer", len(reclaimed.entries))
                return reclaimed.entries
        clock = batching.BatchClock(max_events=self.batch_size, flush_ms=self.flush_ms)
        entries: list[Entry] = []
        while True:
            wait_ms = clock.wait_ms(time.monotonic() * 1000)
            if wait_ms == 0:
                break
            got = self.stream.read(count=clock.room(), block_ms=wait_ms)
            if not got:
                break
            entries.extend(got)
            clock.add(len(got), time.monotonic() * 1000)
        return entries

    def flush(self, entries: list[Entry]) -> FlushStats:
        """Prepare and commit one batch."""
        self.commit(self.prepare(entries, arrived=time.monotonic()))
        return self.last_flush

    def prepare(self, entries: list[Entry], *, arrived: float) -> batching.WriteBatch:
        batch = batching.batch_prepare(
            entries, codec=self.codec, max_bytes=self.max_event_bytes, arrived=arrived
        )
        batch.prepared = time.monotonic()
        return batch

    def commit(self, batch: batching.WriteBatch, *, settle: bool = True) -> None:
        """Store, publish, acknowledge: the order is the guarantee (see the module docstring). With
        settle=False the publish and acknowledgement are sent and their replies left for settle(), so
        Redis handles them while this process inserts the next batch."""
        t0 = time.monotonic()
        if batch.dead:
            for d in batch.dead:
                logger.warning("dead-letter %s: %s", d.stream_id.decode(), d.reason)
            self.stream.dead_letter(batch.dead)
        inserted = writer.batch_write(batch.units, batch.codec_id) if batch.units else 0
        t1 = time.monotonic()
        self.settle()  # the previous batch's replies arrived while this one was inserted
        previous_s = time.monotonic() - t1
        commands = notify.publish_commands(batch, cdc_maxlen=self.cdc_maxlen) if batch.units else []
        if batch.ack_ids:
            commands.append(self.stream.ack_command(batch.ack_ids))
        sent = Deferred(self.client, commands) if commands else None
        self._unsettled = _Sent(batch, t0, time.monotonic() - t0 - previous_s, inserted, sent)
        if settle:
            self.settle()

    def settle(self) -> FlushStats | None:
        """Read the replies of the batch last committed, and wake the slow path if that is due. The batch
        counts as flushed from here: last_flush describes it."""
        done, self._unsettled = self._unsettled, None
        if done is None:
            return None
        t0 = time.monotonic()
        replies = done.sent.replies() if done.sent else []
        enqueued = bool(done.batch.units) and replies[1] == 1
        if enqueued:
            notify.wake_slow_path(done.batch.sessions)
        self.last_flush = FlushStats(
            entries=done.batch.entries,
            inserted=done.inserted,
            dead=len(done.batch.dead),
            prepare_s=done.batch.prepared - done.batch.arrived,
            queued_s=done.started - done.batch.prepared,
            seconds=done.commit_s + time.monotonic() - t0,
            enqueued=enqueued,
            since_read=time.monotonic() - done.batch.arrived,
        )
        return self.last_flush

    def _dead_letter_poison(self, poison: list[batching.DeadLetter]) -> None:
        if poison:
            logger.warning("dead-lettering %d entries delivered too often", len(poison))
            self.stream.dead_letter(poison)

    def _reclaim_due(self) -> bool:
        return time.monotonic() >= self._next_reclaim

    def _housekeep(self) -> None:
        if self.trim_every_s and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.trim_every_s
            removed = self.stream.trim()
            if removed:
                logger.debug("trimmed %d acknowledged entries", removed)

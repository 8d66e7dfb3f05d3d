"""The fast path: one consumer of `telemetry:events` in group `fastpath`.

Guarantee: at-least-once delivery, ack after commit. Each batch is first prepared (decoded, grouped
into per-session units, compressed), then committed in this order:
  1. insert the batch in one transaction (event ids already stored are skipped);
  2. publish change records and mark the touched sessions for the slow path, and
  3. acknowledge the stream entries: 2 and 3 go in one Redis pipeline, in that order, one round trip
     (dead letters are acknowledged atomically with their dead-letter XADD);
  4. if no catch-up task is waiting, enqueue one (see notify.py for why after the ack is safe).
A crash between any two steps re-delivers the batch, and every step tolerates the repeat, so a crash
can cause a repeat, never a loss. The fast path never reads the database.
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings

from ..connections import redis_client
from . import batching, notify, writer
from .checkpoint import automatic_checkpoints_off, wal_checkpoints
from .codec import CURRENT, Codec
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
    seconds: float = 0.0  # commit: insert, publish, acknowledge
    enqueued: bool = False
    since_read: float = 0.0  # from the batch's arrival to its acknowledgement


@dataclass(slots=True)
class Prepared:
    """A batch ready to commit: everything CPU-bound is done."""

    entries: int
    decoded: batching.Decoded
    units: list[batching.Unit]
    blobs: list[bytes]
    started: float


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
    last_flush: FlushStats = field(default_factory=FlushStats)

    def __post_init__(self) -> None:
        self.stream = EventStream(self.client, consumer=self.consumer, dlq_maxlen=self.dlq_maxlen)
        self.stream.ensure_group()
        # After a restart under the same name, first finish what this consumer was given and never acked.
        self._own_pending = True
        self._pending_cursor = "0"
        self._next_reclaim = 0.0
        self._next_trim = time.monotonic() + self.trim_every_s

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

        Automatic WAL checkpoints are left to a background thread, so no commit pays for one. (A
        variant that prepared the next batch while a second thread committed the previous one gained
        under 10% here: most of both halves holds the GIL.)"""
        total = 0
        notify.slow_path_connect()
        with wal_checkpoints(), automatic_checkpoints_off():
            while not stop.is_set():
                handled = self.run_once()
                total += handled
                if once and not handled:
                    break
        return total

    def _collect(self) -> list[Entry]:
        if self._own_pending:
            # Read past what was already handed out: those entries may still be committing.
            entries = self.stream.read(count=self.batch_size, block_ms=None, pending=self._pending_cursor)
            if entries:
                self._pending_cursor = entries[-1][0]
                return entries
            self._own_pending = False
        if time.monotonic() >= self._next_reclaim:
            self._next_reclaim = time.monotonic() + self.reclaim_every_s
            reclaimed = self.stream.reclaim(
                min_idle_ms=self.reclaim_idle_ms, count=self.batch_size, max_deliveries=self.max_deliveries
            )
            if reclaimed.poison:
                logger.warning("dead-lettering %d entries delivered too often", len(reclaimed.poison))
                self.stream.dead_letter(reclaimed.poison)
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
        return self.commit(self.prepare(entries))

    def prepare(self, entries: list[Entry]) -> Prepared:
        started = time.perf_counter()
        decoded = batching.entries_decode(entries, max_bytes=self.max_event_bytes)
        units = batching.units_group(decoded.events)
        blobs = writer.units_compress(units, self.codec)
        return Prepared(len(entries), decoded, units, blobs, started)

    def commit(self, batch: Prepared) -> FlushStats:
        """Store, publish, acknowledge. The order is the guarantee (see the module docstring)."""
        t0 = time.perf_counter()
        inserted = 0
        dead = batch.decoded.dead
        if dead:
            for d in dead:
                logger.warning("dead-letter %s: %s", d.stream_id.decode(), d.reason)
            self.stream.dead_letter(dead)
        dead_ids = {d.stream_id for d in dead}
        pipe = self.client.pipeline(transaction=False)
        flag_at = None
        if batch.units:
            inserted = writer.batch_write(batch.units, batch.blobs, self.codec)
            flag_at = notify.batch_publish(pipe, batch.units, cdc_maxlen=self.cdc_maxlen)
        self.stream.ack_on(pipe, [sid for sid in batch.decoded.ids if sid not in dead_ids])
        results = pipe.execute()
        enqueued = flag_at is not None and bool(results[flag_at])
        if enqueued:
            notify.wake_slow_path(batch.units)
        now = time.perf_counter()
        self.last_flush = FlushStats(
            entries=batch.entries,
            inserted=inserted,
            dead=len(dead),
            seconds=now - t0,
            enqueued=enqueued,
            since_read=now - batch.started,
        )
        return self.last_flush

    def _housekeep(self) -> None:
        if self.trim_every_s and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.trim_every_s
            removed = self.stream.trim()
            if removed:
                logger.debug("trimmed %d acknowledged entries", removed)

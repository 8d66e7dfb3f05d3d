"""The fast path: one consumer of `telemetry:events` in group `fastpath`.

Guarantee: at-least-once delivery, ack after commit. Each flush runs in this order:
  1. insert the batch in one transaction (event ids already stored are skipped);
  2. publish change records and mark the touched sessions for the slow path;
  3. acknowledge the stream entries (dead letters are acknowledged with their dead-letter XADD).
A crash between any two steps re-delivers the batch, and every step tolerates the repeat, so a crash
can cause a repeat, never a loss. The fast path never reads the database.
"""

import logging
import os
import socket
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings

from ..connections import redis_client
from . import batching, notify, writer
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
    seconds: float = 0.0
    enqueued: bool = False


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

    def _collect(self) -> list[Entry]:
        if self._own_pending:
            entries = self.stream.read(count=self.batch_size, block_ms=None, pending=True)
            if entries:
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
        """Store, publish, acknowledge. The order is the guarantee (see the module docstring)."""
        t0 = time.perf_counter()
        decoded = batching.entries_decode(entries, max_bytes=self.max_event_bytes)
        units = batching.units_group(decoded.events)
        inserted = 0
        enqueued = False
        if units:
            blobs = writer.units_compress(units, self.codec)
            inserted = writer.batch_write(units, blobs, self.codec)
            enqueued = notify.batch_publish(self.client, units, cdc_maxlen=self.cdc_maxlen)
        if decoded.dead:
            for d in decoded.dead:
                logger.warning("dead-letter %s: %s", d.stream_id.decode(), d.reason)
            self.stream.dead_letter(decoded.dead)
        dead_ids = {d.stream_id for d in decoded.dead}
        self.stream.ack([sid for sid in decoded.ids if sid not in dead_ids])
        self.last_flush = FlushStats(
            entries=len(entries),
            inserted=inserted,
            dead=len(decoded.dead),
            seconds=time.perf_counter() - t0,
            enqueued=enqueued,
        )
        return self.last_flush

    def _housekeep(self) -> None:
        if self.trim_every_s and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.trim_every_s
            removed = self.stream.trim()
            if removed:
                logger.debug("trimmed %d acknowledged entries", removed)

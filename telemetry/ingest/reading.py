"""The read half of the fast path: read entries as consumer group `fastpath`, prepare them into batches.

This is what the reader process runs (reader.py) and, in one process, what StreamConsumer (consumer.py)
runs before committing; it never writes the database or acknowledges a stored entry. It hands out
entries in stream order and remembers the newest one handed out: when a reply from Redis is lost, what
Redis delivered after it is read again from this consumer's pending list (a delay, and one more delivery
counted, never a loss). Faults of Redis are waited out with backoff (faults.py); trimming at start-up,
then every trim_every_s, drops what every group acknowledged, even in a process that keeps failing.
"""

import logging
import time
from collections.abc import Iterator

from ..store.codec import Codec
from . import batching
from .faults import Backoff, Fault, StopEvent, Stopping, describe, fault_kind
from .streams import Entry, EventStream, ReadAhead, id_tuple

logger = logging.getLogger(__name__)


class BatchReading:
    """StreamConsumer's read half; the attributes are StreamConsumer's fields and state."""

    stream: EventStream
    batch_size: int
    flush_ms: int
    max_event_bytes: int
    reclaim_idle_ms: int
    reclaim_every_s: float
    max_deliveries: int
    trim_every_s: float
    codec: Codec
    redis_backoff: Backoff
    _stop: StopEvent
    _own_pending: bool
    _pending_cursor: bytes | str
    _handed: tuple[int, int]
    _next_reclaim: float
    _next_trim: float

    def batches(self, stop: StopEvent, *, once: bool = False) -> Iterator[batching.WriteBatch]:
        """Read and prepare batches until stop is set (or, with once, until nothing is queued).

        After a full batch (a backlog), the next one is requested before this one is prepared, so that
        Redis builds its reply meanwhile; a batch read that way is always handed out, even after stop
        is set, so that stopping leaves nothing read and unprocessed."""
        self._stop = stop
        ahead: ReadAhead | None = None
        try:
            while True:
                entries = self._ahead_entries(ahead)
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
                    ahead = self._read_ahead()
                yield self.prepare(entries, arrived=arrived)
        except Stopping:
            return  # told to stop while Redis was failing: what was read stays pending
        finally:
            if ahead:
                ahead.cancel()
            self.redis_backoff.close()

    def _ahead_entries(self, ahead: ReadAhead | None) -> list[Entry]:
        if ahead is None:
            return []
        try:
            return self._handing(ahead.entries())
        except Exception as exc:
            # The reply is lost: what Redis delivered is read again from the pending list.
            self._reread_own_pending()
            self.redis_backoff.failed(exc, stop=self._stop)
            return []

    def _read_ahead(self) -> ReadAhead | None:
        try:
            return self.stream.read_ahead(count=self.batch_size)
        except Exception:  # Redis is failing: the next _collect() waits it out
            return None

    def _collect(self) -> list[Entry]:
        """The next entries to handle (waiting out faults of Redis); [] when none came in flush_ms."""
        while True:
            try:
                entries = self._collect_once()
            except Exception as exc:
                # What Redis delivered before the fault (a reply read or lost) is read again.
                self._reread_own_pending()
                self.redis_backoff.failed(exc, stop=self._stop)
                continue
            self.redis_backoff.succeeded()
            return self._handing(entries)

    def _collect_once(self) -> list[Entry]:
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
            if reclaimed.more and (reclaimed.entries or reclaimed.poison):
                # A dead consumer left more than one page: take the rest now, not reclaim_every_s later.
                self._next_reclaim = 0.0
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

    def _handing(self, entries: list[Entry]) -> list[Entry]:
        if entries:
            self._handed = max(self._handed, id_tuple(entries[-1][0]))
        return entries

    def _reread_own_pending(self) -> None:
        """After a lost reply: read again this consumer's pending entries after the last one handed out
        (those before it are committing or committed)."""
        self._own_pending = True
        self._pending_cursor = f"{self._handed[0]}-{self._handed[1]}"

    def prepare(self, entries: list[Entry], *, arrived: float) -> batching.WriteBatch:
        try:
            batch = batching.batch_prepare(
                entries, codec=self.codec, max_bytes=self.max_event_bytes, arrived=arrived
            )
        except Exception as exc:
            if fault_kind(exc) is Fault.MACHINE:
                raise
            batch = self._prepare_apart(entries, arrived=arrived)
        batch.prepared = time.monotonic()
        return batch

    def _prepare_apart(self, entries: list[Entry], *, arrived: float) -> batching.WriteBatch:
        """Preparing does no I/O, so an exception there comes from an entry's content: prepare each entry
        alone, dead-letter those that fail with the exception, and prepare the rest together."""
        good, dead = [], []
        for entry in entries:
            try:
                batching.batch_prepare(
                    [entry], codec=self.codec, max_bytes=self.max_event_bytes, arrived=arrived
                )
            except Exception as exc:
                raw = entry[1].get(batching.EVENT_FIELD, b"")
                dead.append(batching.DeadLetter(entry[0], raw, f"could not be prepared: {describe(exc)}"))
            else:
                good.append(entry)
        batch = batching.batch_prepare(
            good, codec=self.codec, max_bytes=self.max_event_bytes, arrived=arrived
        )
        batch.entries = len(entries)
        batch.dead += dead
        return batch

    def _dead_letter_poison(self, poison: list[batching.DeadLetter]) -> None:
        if poison:
            logger.warning("dead-lettering %d entries delivered too often", len(poison))
            self.stream.dead_letter(poison)

    def _reclaim_due(self) -> bool:
        return time.monotonic() >= self._next_reclaim

    def _housekeep(self) -> None:
        if self.trim_every_s and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.trim_every_s
            try:
                removed = self.stream.trim()
            except Exception:  # Redis is failing: the read that follows waits it out; trim next time
                logger.debug("trim failed", exc_info=True)
                return
            if removed:
                logger.debug("trimmed %d acknowledged entries", removed)

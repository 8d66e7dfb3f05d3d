"""Storing one prepared batch whatever the database does: wait out faults of the machine, and find the
entries the database refuses.

Guarantee: batch_store returns only once every entry of the batch is stored (committed) or refused by
the database on its own (a dead letter, with the database's reason); until then it retries, with
backoff, the batch it holds: its entries stay pending and are not read again (re-reading raises their
delivery count). Nothing is stored twice: each part of a split batch is its own transaction, a part
that fails rolls back whole, and event ids already stored are skipped.

Which exception counts as what is faults.py's rule: a machine fault retries the same batch (or part),
a data error splits it, an unknown error retries the whole batch a few times and then splits it,
dead-lettering an entry that fails alone only if some other part stored.

To split, the batch's entries are read back by id (XRANGE: not a delivery) and prepared again part by
part: the prepared batch holds compressed units, not entries, and carrying the entries along would
cost every batch for the rare one that fails.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..store import writer
from ..store.codec import Codec
from .batching import EVENT_FIELD, DeadLetter, WriteBatch, batch_prepare
from .faults import UNKNOWN_RETRIES, Backoff, Fault, StopEvent, database_reset, describe, fault_kind
from .streams import Entry, EventStream

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Stored:
    """What storing a batch came to."""

    inserted: int  # events new to the store
    publish: WriteBatch  # what was stored, to publish: the batch itself, or the parts of it that stored
    ack_ids: list[bytes]  # entries to acknowledge with the publish: all but the dead letters
    dead: list[DeadLetter] = field(default_factory=list)  # refused by the database alone: dead-letter them


@dataclass
class BatchStore:
    stream: EventStream
    codec: Codec
    max_event_bytes: int
    backoff: Backoff  # faults of the database
    redis_backoff: Backoff  # faults of Redis, while reading a split batch's entries back
    stop: Callable[[], StopEvent]  # the event that ends a wait (Stopping)

    def store(self, batch: WriteBatch) -> Stored:
        unknown = 0
        while True:
            try:
                inserted = writer.batch_write(batch.units, batch.codec_id) if batch.units else 0
            except Exception as exc:
                kind = fault_kind(exc)
                if kind is not Fault.DATA:
                    database_reset()
                if kind is Fault.MACHINE or (kind is Fault.UNKNOWN and unknown < UNKNOWN_RETRIES):
                    unknown += kind is Fault.UNKNOWN
                    self.backoff.failed(exc, stop=self.stop())
                    continue
                logger.warning(
                    "a batch of %d entries does not store (%s): storing it in parts to find the entries at fault",
                    len(batch.ack_ids),
                    describe(exc),
                )
                return self._store_apart(batch)
            self.backoff.succeeded()
            return Stored(inserted, batch, batch.ack_ids)

    def _store_apart(self, batch: WriteBatch) -> Stored:
        entries = self._entries(batch.ack_ids)  # the ids not found are gone: acknowledged, nothing to store
        stored: list[Entry] = []
        dead: list[DeadLetter] = []
        inserted = 0
        systemic = False
        todo = [entries]
        while todo:
            suspects: list[DeadLetter] = []  # failed alone with an unknown error
            while todo:
                part = todo.pop()
                try:
                    prepared = batch_prepare(
                        part, codec=self.codec, max_bytes=self.max_event_bytes, arrived=0.0
                    )
                    inserted += writer.batch_write(prepared.units, prepared.codec_id) if prepared.units else 0
                except Exception as exc:
                    kind = fault_kind(exc)
                    if kind is not Fault.DATA:
                        database_reset()
                    if kind is Fault.MACHINE:
                        self.backoff.failed(exc, stop=self.stop())
                        todo.append(part)
                    elif len(part) > 1:
                        half = len(part) // 2
                        todo += [part[half:], part[:half]]  # the first half is tried first
                    else:
                        (stream_id, fields) = part[0]
                        letter = DeadLetter(
                            stream_id,
                            fields.get(EVENT_FIELD, b""),
                            f"the database refused it: {describe(exc)}",
                        )
                        (dead if kind is Fault.DATA else suspects).append(letter)
                    continue
                if prepared.dead:  # only if the limits changed since the batch was first prepared
                    dead += prepared.dead
                    refused = {d.stream_id for d in prepared.dead}
                    part = [e for e in part if e[0] not in refused]
                stored += part
            if suspects and not stored:
                # No part stored: the failure follows the system, not these entries. Wait, then retry them.
                if not systemic:
                    systemic = True
                    logger.warning(
                        "every part of a batch of %d entries fails alike (%s): not the entries' fault, "
                        "nothing is dead-lettered; retrying",
                        len(entries),
                        suspects[0].reason,
                    )
                self.backoff.failed(
                    f"every part of a batch fails ({suspects[0].reason}); nothing is dead-lettered",
                    stop=self.stop(),
                )
                ids = {d.stream_id for d in suspects}
                todo = [[e for e in entries if e[0] in ids]]
                continue
            dead += suspects
        self.backoff.succeeded()
        dead_ids = {d.stream_id for d in dead}
        publish = batch_prepare(
            stored, codec=self.codec, max_bytes=self.max_event_bytes, arrived=batch.arrived
        )
        publish.prepared = batch.prepared
        return Stored(inserted, publish, [sid for sid in batch.ack_ids if sid not in dead_ids], dead)

    def _entries(self, ids: list[bytes]) -> list[Entry]:
        while True:
            try:
                found, _gone = self.stream.entries_get(ids)
            except Exception as exc:
                self.redis_backoff.failed(exc, stop=self.stop())
                continue
            self.redis_backoff.succeeded()
            return found

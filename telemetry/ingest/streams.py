"""Redis Streams I/O of the fast path: read as a consumer group, acknowledge, dead-letter, reclaim, trim.

Guarantee: an entry leaves the pending list only through `ack` (after its event is committed) or
`dead_letter` (the dead-letter XADD and the XACK run in one step, so a crash cannot drop it or
dead-letter it twice: deadletters.py). `telemetry:events` is trimmed only below the oldest entry any
group still needs, never by length, so an unconsumed event is never cut.
"""

from dataclasses import dataclass

import redis

from ..wire import EVENTS_STREAM, GROUP
from .batching import DeadLetter
from .deadletters import dead_letters_move
from .deferred import Deferred

# Entries of this consumer that may sit between those being checked (batches read ahead or in the
# reader-to-writer pipe): far more than the few batches the fast path ever has in flight.
_IN_FLIGHT_MAX = 10_000
# XAUTOCLAIM pages one reclaim() call may scan. Redis looks at up to 10 x COUNT pending entries per page,
# so with the default batch of 100 one call passes over up to 10,000 entries of live consumers (not idle
# enough) before it gives up; the next call goes on from where this one stopped.
_RECLAIM_PAGES_MAX = 10
_START = b"0-0"

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(slots=True)
class Reclaimed:
    entries: list[Entry]  # to process again
    poison: list[DeadLetter]  # delivered too often: dead-letter them
    more: bool = False  # the pending list was not scanned to its end: reclaim again soon


class EventStream:
    def __init__(
        self, client: redis.Redis, *, consumer: str, dlq_maxlen: int, max_event_bytes: int = 1024 * 1024
    ) -> None:
        self.r = client
        # XREADGROUP replies are parsed here, not by redis-py's generic callback: on the fast path that
        # callback cost ~1.5 us per entry, a quarter of the read. Same connections, own callbacks.
        self._reader = redis.Redis(connection_pool=client.connection_pool)
        self._reader.set_response_callback("XREADGROUP", lambda response, **options: response)
        self.consumer = consumer
        self.dlq_maxlen = dlq_maxlen
        self.max_event_bytes = max_event_bytes
        # Where the next reclaim() goes on scanning the group's pending list (XAUTOCLAIM's cursor).
        self._reclaim_cursor = _START

    def ensure_group(self) -> None:
        """Create the consumer group from the start of the stream, so events queued before the first
        consumer ever ran are read too. Idempotent."""
        try:
            self.r.xgroup_create(EVENTS_STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, *, count: int, block_ms: int | None, pending: bytes | str | None = None) -> list[Entry]:
        """New entries for this consumer; or, with pending=<id>, the entries after that id it was given
        before and never acknowledged ("0" for all of them)."""
        resp = self._reader.xreadgroup(
            GROUP, self.consumer, {EVENTS_STREAM: pending if pending is not None else ">"}, count=count,
            block=None if pending is not None else block_ms,
        )  # fmt: skip
        return self._entries(resp)

    def read_ahead(self, *, count: int) -> "ReadAhead":
        """Ask for up to count new entries without blocking, and take the reply later: Redis prepares
        it while this process works on the batch in hand. The entries are delivered (pending for this
        consumer) from the moment Redis runs the command, as with read()."""
        command = ("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", count, "STREAMS", EVENTS_STREAM, ">")
        return ReadAhead(self, Deferred(self.r, [command]))

    def _entries(self, resp) -> list[Entry]:
        if not resp:
            return []
        # RESP3 (redis-py's default): {stream: [[id, [field, value, ...]], ...]}; RESP2: [[stream, [...]]].
        # A pending entry trimmed or deleted from the stream comes back without fields: nothing to
        # store, just acknowledge it.
        entries = next(iter(resp.values())) if isinstance(resp, dict) else resp[0][1]
        gone = [sid for sid, fields in entries if not fields]
        if gone:
            self.ack(gone)
        return [(sid, _fields(flat)) for sid, flat in entries if flat]

    def ack(self, ids: list[bytes]) -> None:
        if ids:
            self.r.xack(EVENTS_STREAM, GROUP, *ids)

    @staticmethod
    def ack_command(ids: list[bytes]) -> tuple:
        """The acknowledgement, to send after other commands (see deferred.py)."""
        return ("XACK", EVENTS_STREAM, GROUP, *ids)

    def dead_letter(self, dead: list[DeadLetter]) -> int:
        """Move entries to the dead-letter stream with their reasons and acknowledge them, each in one
        step; safe to repeat. Returns how many moved."""
        return dead_letters_move(
            self.r, dead, consumer=self.consumer, maxlen=self.dlq_maxlen, max_event_bytes=self.max_event_bytes
        )

    def entries_get(self, ids: list[bytes]) -> tuple[list[Entry], list[bytes]]:
        """The entries with these ids, read without delivering them again (XRANGE does not count as a
        delivery), in the order given; and the ids no longer in the stream."""
        pipe = self.r.pipeline(transaction=False)
        for sid in ids:
            pipe.xrange(EVENTS_STREAM, min=sid, max=sid)
        found: list[Entry] = []
        gone: list[bytes] = []
        for sid, got in zip(ids, pipe.execute(), strict=True):
            if got:
                found.append((sid, got[0][1]))
            else:
                gone.append(sid)
        return found, gone

    def keep_claimed(self) -> int:
        """Reset the idle time of every entry this consumer holds, without counting a delivery (XCLAIM
        JUSTID), so that while it waits out a fault no other consumer takes them over as if it had died.
        Returns how many it holds."""
        pending = self.r.xpending_range(
            EVENTS_STREAM, GROUP, min="-", max="+", count=_IN_FLIGHT_MAX, consumername=self.consumer
        )
        ids = [p["message_id"] for p in pending]
        if ids:
            self.r.xclaim(EVENTS_STREAM, GROUP, self.consumer, 0, ids, justid=True)
        return len(ids)

    def reclaim(self, *, min_idle_ms: int, count: int, max_deliveries: int) -> Reclaimed:
        """Take over entries idle in other (dead) consumers' pending lists.

        XAUTOCLAIM moves them to this consumer and bumps their delivery count; XPENDING then tells how
        often each was delivered. Entries at or over max_deliveries are poison (each delivery crashed
        or stalled a consumer) and are handed back for the dead-letter stream.

        One XAUTOCLAIM looks at a bounded slice of the pending list (10 x count entries) and returns a
        cursor: entries of live consumers at its front, not idle enough, would hide every entry behind
        them if each call started again at 0-0. So the cursor is followed, page after page, until some
        entries are claimed, the list's end is reached (Redis answers 0-0) or _RECLAIM_PAGES_MAX pages
        were scanned; it is kept across calls, so the next call goes on from there and a whole pass
        over the list is never more than a few calls."""
        claimed: list[Entry] = []
        cursor = self._reclaim_cursor
        for _ in range(_RECLAIM_PAGES_MAX):
            resp = self.r.xautoclaim(
                EVENTS_STREAM, GROUP, self.consumer, min_idle_ms, start_id=cursor, count=count
            )
            cursor = _id_bytes(resp[0])
            # Redis 7 drops deleted entries from the pending list itself (and lists them in resp[2]);
            # 6.2 returns them without fields: nothing to store, just acknowledge them.
            page = [(sid, fields) for sid, fields in resp[1] if sid is not None]
            gone = [sid for sid, fields in page if not fields]
            if gone:
                self.ack(gone)
            claimed += [(sid, fields) for sid, fields in page if fields]
            if claimed or cursor == _START:
                break
        self._reclaim_cursor = cursor
        reclaimed = self._poison_split(claimed, max_deliveries)
        reclaimed.more = cursor != _START
        return reclaimed

    def read_own_pending(
        self, *, after: bytes | str, count: int, max_deliveries: int
    ) -> tuple[Reclaimed, bytes | None]:
        """This consumer's entries after `after` that it was given before and never acknowledged (what
        it held when it last stopped or crashed), split like reclaim(): an entry that has been delivered
        max_deliveries times is poison, or a restart under the same name would crash on it forever.
        Also returns the last id read, for the next call (None when nothing is pending)."""
        entries = self.read(count=count, block_ms=None, pending=after)
        if not entries:
            return Reclaimed([], []), None
        return self._poison_split(entries, max_deliveries), entries[-1][0]

    def _poison_split(self, entries: list[Entry], max_deliveries: int) -> Reclaimed:
        """Entries this consumer now holds, split by how often each has been delivered."""
        if not entries:
            return Reclaimed([], [])
        pending = self.r.xpending_range(
            EVENTS_STREAM, GROUP, min=entries[0][0], max=entries[-1][0], count=len(entries) + _IN_FLIGHT_MAX,
            consumername=self.consumer,
        )  # fmt: skip
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        good, poison = [], []
        for sid, fields in entries:
            n = deliveries.get(sid, 1)
            if n >= max_deliveries:
                raw = fields.get(b"event", b"")
                poison.append(DeadLetter(sid, raw, f"delivered {n} times without being acknowledged"))
            else:
                good.append((sid, fields))
        return Reclaimed(good, poison)

    def trim(self) -> int:
        """Drop entries every consumer group has acknowledged. Returns how many were removed."""
        try:
            groups = self.r.xinfo_groups(EVENTS_STREAM)
        except redis.ResponseError:
            return 0  # no stream yet
        if not groups:
            return 0
        floor = None
        for g in groups:
            summary = self.r.xpending(EVENTS_STREAM, g["name"])
            # Everything below the oldest pending entry, and up to the last delivered one, is acknowledged.
            keep_from = summary["min"] if summary["pending"] else g["last-delivered-id"]
            key = id_tuple(keep_from)
            floor = key if floor is None or key < floor else floor
        if floor is None or floor == (0, 0):
            return 0
        return self.r.xtrim(EVENTS_STREAM, minid=f"{floor[0]}-{floor[1]}", approximate=True)


class ReadAhead:
    """An XREADGROUP sent and not yet answered."""

    def __init__(self, stream: EventStream, sent: Deferred) -> None:
        self._stream = stream
        self._sent = sent

    def entries(self) -> list[Entry]:
        (resp,) = self._sent.replies()
        return self._stream._entries(resp)

    def cancel(self) -> None:
        """Drop the reply unread. Its entries stay pending for this consumer (read again at a restart
        under the same name, or reclaimed by another consumer): a delay, never a loss."""
        self._sent.cancel()


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    if len(flat) == 2:  # the wire format's single `event` field
        return {flat[0]: flat[1]}
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _id_bytes(stream_id: bytes | str) -> bytes:
    return stream_id if isinstance(stream_id, bytes) else stream_id.encode()


def id_tuple(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)

"""The dead-letter stream `telemetry:dlq`: moving bad entries there, and bringing them back after a fix.

Guarantees:
- Dead-lettering is one step per entry, run in Redis (a script): if the entry is still pending in the
  group, it is copied to the dead-letter stream and acknowledged; if it is not (a retry after a lost
  reply), nothing happens. So a crash or a lost reply can neither drop an entry nor dead-letter it twice.
- A dead letter keeps the whole `event` up to `max_event_bytes`; a larger one keeps its size, sha256 and
  first DLQ_HEAD_BYTES, and its reason says it was cut (such a dead letter cannot be replayed). With it:
  the reason, the original stream id, the consumer, when it failed, and its delivery history (how often
  it was delivered, when last; how often it was replayed already, and from which dead letter).
- Replay is one step per dead letter too: XADD its event back to `telemetry:events`, then XDEL the dead
  letter, in one script, so a dead letter is queued once however often it is replayed. The store keys
  events by their id, so even an event queued twice is stored once. A replayed entry that is still bad
  comes back with its new reason and one more replay counted.
"""

import hashlib
import time
from dataclasses import dataclass

import redis

from ..wire import DLQ_STREAM, EVENTS_STREAM, GROUP
from .batching import DeadLetter

DLQ_HEAD_BYTES = 64 * 1024  # what a dead letter keeps of an event over the size limit

# ARGV: group, maxlen, then per entry: stream id, n, then n field/value pairs.
_DEAD_LETTER = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local i, moved = 3, 0
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  local fields = {}
  for j = 1, 2 * n do fields[j] = ARGV[i + 1 + j] end
  i = i + 2 + 2 * n
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if pending[1] then
    fields[#fields + 1] = 'deliveries'
    fields[#fields + 1] = tostring(pending[1][4])
    fields[#fields + 1] = 'last_delivered_ms'
    fields[#fields + 1] = string.format('%d', now_ms - pending[1][3])
    local original = redis.call('XRANGE', KEYS[1], id, id)
    if original[1] then
      local f = original[1][2]
      for k = 1, #f, 2 do
        if f[k] == 'replays' or f[k] == 'replay_of' then
          fields[#fields + 1] = f[k]
          fields[#fields + 1] = f[k + 1]
        end
      end
    end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
    redis.call('XACK', KEYS[1], ARGV[1], id)
    moved = moved + 1
  end
end
return moved
"""

# KEYS: dlq, events; ARGV: the dead letter's id. Returns the new entry's id, false if the dead letter is
# gone, or the string 'cut' if it kept only the head of its event.
_REPLAY = """
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if not found[1] then return false end
local f = found[1][2]
local event, replays
for k = 1, #f, 2 do
  if f[k] == 'event' then event = f[k + 1] elseif f[k] == 'replays' then replays = tonumber(f[k + 1]) end
end
if not event then return 'cut' end
local id = redis.call('XADD', KEYS[2], '*', 'event', event, 'replay_of', ARGV[1],
                      'replays', tostring((replays or 0) + 1))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""


def _fields(d: DeadLetter, *, consumer: str, failed_at: str, max_event_bytes: int) -> list:
    reason = d.reason
    fields: list = []
    if len(d.raw) > max_event_bytes:
        head = d.raw[:DLQ_HEAD_BYTES]
        reason += (
            f" (cut: the event is {len(d.raw)} bytes, over the {max_event_bytes}-byte limit; "
            f"kept its first {len(head)} bytes and its sha256)"
        )
        fields += [
            "event_head",
            head,
            "event_bytes",
            len(d.raw),
            "event_sha256",
            hashlib.sha256(d.raw).hexdigest(),
        ]
    elif d.raw:
        fields += ["event", d.raw]
    fields += ["reason", reason, "stream_id", d.stream_id, "consumer", consumer, "failed_at", failed_at]
    return fields


def dead_letters_move(
    client: redis.Redis, dead: list[DeadLetter], *, consumer: str, maxlen: int, max_event_bytes: int
) -> int:
    """Move entries of the event stream to the dead-letter stream with their reasons, acknowledging
    each in the same step. Returns how many moved (entries no longer pending are skipped)."""
    if not dead:
        return 0
    failed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args: list = [GROUP, maxlen]
    for d in dead:
        fields = _fields(d, consumer=consumer, failed_at=failed_at, max_event_bytes=max_event_bytes)
        args += [d.stream_id, len(fields) // 2, *fields]
    return int(client.register_script(_DEAD_LETTER)(keys=[EVENTS_STREAM, DLQ_STREAM], args=args))


class ReplayError(ValueError):
    """A dead letter that cannot be replayed: str(exc) says why."""


@dataclass(slots=True)
class Replayed:
    dead_letter_id: str
    stream_id: str  # the entry it became in telemetry:events


def dead_letter_replay(client: redis.Redis, *, dead_letter_id: str) -> Replayed:
    """Queue a dead letter's event again and delete the dead letter, in one step. Raises ReplayError for
    an id that is not in the dead-letter stream or whose event was cut."""
    try:
        result = client.register_script(_REPLAY)(keys=[DLQ_STREAM, EVENTS_STREAM], args=[dead_letter_id])
    except redis.ResponseError as exc:
        if "Invalid stream ID" in str(exc):
            raise ReplayError(f"not a dead-letter id: {dead_letter_id}") from None
        raise
    if not result:
        raise ReplayError(f"no dead letter {dead_letter_id}")
    text = result.decode() if isinstance(result, bytes) else str(result)
    if text == "cut":
        raise ReplayError(
            f"dead letter {dead_letter_id} kept only the first bytes of its event: nothing to replay"
        )
    return Replayed(dead_letter_id, text)


def dead_letter_ids(client: redis.Redis, *, page: int = 500) -> list[str]:
    """Every dead letter's id, oldest first."""
    ids: list[str] = []
    start = "-"
    while True:
        got = client.xrange(DLQ_STREAM, min=start, max="+", count=page)
        ids += [sid.decode() for sid, _ in got]
        if len(got) < page:
            return ids
        start = f"({ids[-1]}"


def dead_letters_purge(client: redis.Redis, *, ids: list[str] | None) -> int:
    """Delete the named dead letters, or all of them (ids=None). Returns how many were deleted."""
    if ids is None:
        pipe = client.pipeline(transaction=True)
        pipe.xlen(DLQ_STREAM)
        pipe.delete(DLQ_STREAM)
        return int(pipe.execute()[0])
    try:
        return int(client.xdel(DLQ_STREAM, *ids)) if ids else 0
    except redis.ResponseError as exc:
        if "Invalid stream ID" in str(exc):
            raise ReplayError(f"not a dead-letter id among: {' '.join(ids)}") from None
        raise

"""`blueplane import claude-code`: send existing Claude Code history to the event stream, and know what
became of it.

Every readable line of every transcript under the path gets the envelope the tailer would build (the
same function builds both). A line that is not a JSON object is not an event: it is counted and the
first few are named (`path:line: reason`), and a file with nothing readable sends nothing, so it makes
no session. Given `stored` (whether event ids are in the raw store; the interface passes it in, since
capture does not read the store), only events not stored yet are sent, so the report can say "N new,
M already stored"; without it every event is sent and the store ignores the ids it has. Sent events
wait in the stream when the fast path is not running; `stored_wait` waits, bounded, for a running one
to take them. Redis is only reached once there is something to send. The importer keeps no offsets.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from tqdm import tqdm

from ..wire import EVENTS_STREAM, GROUP
from .privacy import Privacy
from .transcripts import FileState, LineProblem, ProjectCache, file_events, transcript_files

PIPELINE_EVENTS = 500
PROBLEMS_SHOWN = 5
# A consumer of the fast path's group that touched the stream this recently is reading it: the fast
# path blocks on XREADGROUP for BLUEPLANE_FASTPATH_FLUSH_MS (100 ms) at a time when idle.
READING_IDLE_MS = 5_000

# (event_id, timestamp) pairs -> whether each is stored already, in the same order.
Stored = Callable[[list[tuple[str, str]]], list[bool]]


@dataclass
class ImportStats:
    files: int = 0
    bytes_read: int = 0
    events: int = 0  # readable lines, each an envelope
    new: int = 0  # events sent
    duplicates: int = 0  # already stored: not sent
    repeats: int = 0  # events read twice in this import (the same id and time): sent once
    checked: bool = False  # whether the store was asked; if not, every event was sent as new
    bad_lines: int = 0
    problems: list[str] = field(default_factory=list)  # the first PROBLEMS_SHOWN, `path:line: reason`
    unreadable_files: list[str] = field(default_factory=list)  # `path: why`
    empty_files: list[str] = field(default_factory=list)  # lines, none of them readable
    sent: list[tuple[str, str]] = field(default_factory=list)  # (event_id, timestamp) of each sent
    last_id: bytes | None = None  # stream id of the last one

    def problem_note(self, path: str, problem: LineProblem) -> None:
        self.bad_lines += 1
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(f"{path}:{problem.line}: {problem.reason}")


class _Sender:
    """Batches envelopes, asks the store which it has, and XADDs the others, connecting on first use."""

    def __init__(
        self,
        stats: ImportStats,
        *,
        client: redis.Redis | None,
        connect: Callable[[], redis.Redis] | None,
        stream: str,
        stored: Stored | None,
    ) -> None:
        self.stats, self.client, self.connect, self.stream, self.stored = (
            stats,
            client,
            connect,
            stream,
            stored,
        )
        self.envelopes: list[bytes] = []
        self.keys: list[tuple[str, str]] = []
        self.seen: set[tuple[str, str]] = set()
        stats.checked = stored is not None

    def add(self, envelopes: list[bytes], keys: list[tuple[str, str]]) -> None:
        for envelope, key in zip(envelopes, keys, strict=True):
            if key in self.seen:
                self.stats.repeats += 1
                continue
            self.seen.add(key)
            self.envelopes.append(envelope)
            self.keys.append(key)
        if len(self.envelopes) >= PIPELINE_EVENTS:
            self.flush()

    def flush(self) -> None:
        if not self.envelopes:
            return
        known = self.stored(self.keys) if self.stored else [False] * len(self.keys)
        envelopes = [e for e, k in zip(self.envelopes, known, strict=True) if not k]
        self.stats.sent += [key for key, k in zip(self.keys, known, strict=True) if not k]
        self.stats.duplicates += len(self.envelopes) - len(envelopes)
        self.envelopes, self.keys = [], []
        if not envelopes:
            return
        if self.client is None:
            assert self.connect is not None, "history_import needs a client or connect"
            self.client = self.connect()
        pipe = self.client.pipeline(transaction=False)
        for envelope in envelopes:
            pipe.xadd(self.stream, {"event": envelope})
        self.stats.last_id = pipe.execute()[-1]
        self.stats.new += len(envelopes)


def history_import(
    root: str,
    *,
    client: redis.Redis | None = None,
    connect: Callable[[], redis.Redis] | None = None,
    privacy: Privacy,
    stream: str = EVENTS_STREAM,
    progress: bool = True,
    stored: Stored | None = None,
) -> ImportStats:
    """Send every readable transcript line under root (a projects folder, a project folder or one file)
    that is not stored yet. `client` is the Redis to send to, or `connect` makes one when first needed."""
    files = list(transcript_files(root))
    sizes = {path: _size(path) for path in files}
    stats = ImportStats()
    sender = _Sender(stats, client=client, connect=connect, stream=stream, stored=stored)
    projects = ProjectCache(privacy)
    with tqdm(
        total=sum(sizes.values()), unit="B", unit_scale=True, desc="importing", disable=not progress
    ) as bar:
        for path in files:
            state = FileState()
            events = bad = 0
            try:
                while True:
                    read = file_events(path, state, privacy=privacy, projects=projects, final=True)
                    for problem in read.problems:
                        stats.problem_note(path, problem)
                    bad += len(read.problems)
                    events += len(read.envelopes)
                    sender.add(read.envelopes, read.keys)
                    if read.state.offset <= state.offset:
                        break
                    bar.update(read.state.offset - state.offset)
                    state = read.state
            except OSError as exc:
                stats.unreadable_files.append(f"{path}: {exc.strerror or exc}")
            if bad and not events:
                stats.empty_files.append(path)
            stats.files += 1
            stats.events += events
            stats.bytes_read += state.offset
        sender.flush()
    return stats


def fastpath_reading(client: redis.Redis, *, stream: str = EVENTS_STREAM) -> bool:
    """Whether a fast path is reading the stream now (a consumer of its group active in the last seconds)."""
    try:
        consumers = client.xinfo_consumers(stream, GROUP)
    except redis.ResponseError:  # no stream, or no group yet: no fast path ever read it
        return False
    return any(c["idle"] < READING_IDLE_MS for c in consumers)


def stored_wait(
    client: redis.Redis,
    *,
    last_id: bytes,
    stream: str = EVENTS_STREAM,
    stall_s: float = 15.0,
    max_s: float = 600.0,
    poll_s: float = 0.1,
) -> bool:
    """Wait until the fast path has acknowledged every entry of `stream` up to last_id, which it does
    once they are stored (or dead-lettered, with the reason). Returns True then; False at once when no
    fast path is reading the stream, once it has made no progress for stall_s, or after max_s."""
    if not fastpath_reading(client, stream=stream):
        return False
    start = time.monotonic()
    mark, since = None, start
    while True:
        done, now_mark = _acked_through(client, stream, last_id)
        if done:
            return True
        now = time.monotonic()
        if now_mark != mark:
            mark, since = now_mark, now
        if now - since > stall_s or now - start > max_s:
            return False
        time.sleep(poll_s)


def _acked_through(client: redis.Redis, stream: str, last_id: bytes) -> tuple[bool, tuple]:
    """(whether the group has read and acknowledged everything up to last_id, a mark that moves with
    the group's progress)."""
    groups = {_text(g["name"]): g for g in client.xinfo_groups(stream)}
    group = groups.get(GROUP)
    if group is None:
        return False, ()
    delivered = _id(group["last-delivered-id"])
    pending = client.xpending(stream, GROUP)
    mark = (delivered, pending["pending"], pending["min"])
    if delivered < _id(last_id):
        return False, mark
    return pending["pending"] == 0 or _id(pending["min"]) > _id(last_id), mark


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = _text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0

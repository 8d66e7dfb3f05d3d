"""Claude Code transcripts: read JSONL files by byte offset and turn each complete line into an event.

Guarantee: every complete line of every transcript under the projects folder is sent at least once.
The tailer finds files itself (a scan of the folder: main sessions, `<session>/subagents/agent-*.jsonl`
and older `agent-*.jsonl`), never through hooks. It reads from the byte offset it reached last time,
consumes only up to the last newline (a half-written last line waits for its end), starts a file over
when it was truncated or replaced (another inode, a smaller size, or different first bytes), and
saves its offsets only after Redis accepted the events. A crash can therefore re-send lines; their
deterministic ids make that a no-op in the store.

`file_events()` is shared with the importer, so a tailed line and an imported line give the same
envelope byte for byte.
"""

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

import orjson
import redis

from ..wire import EVENTS_STREAM
from .claude_events import iso_from_ns, timestamp_valid, transcript_envelope
from .privacy import Privacy

logger = logging.getLogger(__name__)

HEAD_BYTES = 1024
READ_CHUNK_BYTES = 16 * 1024 * 1024
# A file whose first lines carry no timestamp yet is held back this long, waiting for a line that
# has one; after that the file's modification time stands in (see _resolve_timestamps).
HOLD_S = 30.0


@dataclass
class FileState:
    """How far one transcript file has been sent, and what later lines need from earlier ones."""

    dev: int = 0
    ino: int = 0
    offset: int = 0
    size: int = 0
    mtime_ns: int = 0
    head: str = ""  # digest of the first HEAD_BYTES sent, to notice a file rewritten in place
    last_ts: str | None = None  # timestamp of the last line that had one (for lines without)
    cwd: str | None = None  # last working directory seen in the file (for lines without)


@dataclass(frozen=True)
class FileIdentity:
    key: str  # stable, path-free name of the file, used in ids of lines without a uuid
    session_hint: str  # session id for lines without one
    agent_id: str | None


def file_identity(path: str, privacy: Privacy) -> FileIdentity:
    """What a transcript's location says: `<project>/<session>.jsonl`, `<project>/<session>/subagents/
    agent-<id>.jsonl`, or (older builds) `<project>/agent-<id>.jsonl`."""
    parts = os.path.normpath(path).split(os.sep)
    stem = parts[-1].removesuffix(".jsonl")
    agent_id = stem.removeprefix("agent-") if stem.startswith("agent-") else None
    if len(parts) >= 3 and parts[-2] == "subagents":
        return FileIdentity(key=f"{parts[-3]}/{stem}", session_hint=parts[-3], agent_id=agent_id)
    if agent_id is not None:
        # Old-style agent ids are short: qualify them with the (hashed) project folder.
        project = privacy.digest(parts[-2] if len(parts) >= 2 else "")
        return FileIdentity(key=f"{project}/{stem}", session_hint="unknown", agent_id=agent_id)
    return FileIdentity(key=stem, session_hint=stem or "unknown", agent_id=None)


def transcript_files(root: str) -> Iterator[str]:
    """Every *.jsonl under root (or root itself if it is a file), in a stable order."""
    if os.path.isfile(root):
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".jsonl"):
                yield os.path.join(folder, name)


class ProjectCache:
    """cwd -> project ({hash, name}); walking up to `.git` once per directory, not once per line."""

    def __init__(self, privacy: Privacy) -> None:
        self.privacy = privacy
        self._known: dict[str, dict | None] = {}

    def get(self, cwd: str | None) -> dict | None:
        if not cwd:
            return None
        if cwd not in self._known:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[cwd] = self.privacy.project(cwd)
        return self._known[cwd]


def file_events(
    path: str,
    state: FileState,
    *,
    privacy: Privacy,
    projects: ProjectCache,
    final: bool,
    now_ns: int | None = None,
    max_bytes: int = READ_CHUNK_BYTES,
) -> tuple[list[bytes], FileState]:
    """Envelopes (JSON bytes) for the complete lines after state.offset, and the state after them.

    `final` (the importer) resolves every line now; otherwise lines at the start of a file that have
    no timestamp and nothing to borrow one from are held back (see HOLD_S). The returned state is
    only to be saved once the envelopes are in Redis. Raises OSError if the file cannot be read.
    """
    now_ns = now_ns or time.time_ns()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        state = _state_checked(f, st, state)
        f.seek(state.offset)
        data = f.read(max_bytes)
        if len(data) == max_bytes and b"\n" not in data:
            data += f.read()  # one line longer than a chunk: take it whole
    end = data.rfind(b"\n")
    tail = data[end + 1 :]
    if final and tail.strip() and _parses(tail):
        # A last line without its newline: a writer that died mid-line or a file closed without one.
        # The importer takes it when it is whole JSON; the tailer waits for the newline.
        data, end = data + b"\n", len(data)
    if end < 0:
        return [], state
    identity = file_identity(path, privacy)
    lines: list[tuple[int, int, object]] = []  # (offset, offset after the line, record or None)
    position = state.offset
    for raw in data[: end + 1].split(b"\n")[:-1]:
        offset = position
        position += len(raw) + 1
        if not raw.strip():
            lines.append((offset, position, None))
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Stored, not dropped: a corrupt line is still a fact about the session.
            record = {"type": "unknown", "unparsed": raw.decode("utf-8", "replace")}
        lines.append((offset, position, record))

    file_idle = (now_ns - st.st_mtime_ns) / 1e9 >= HOLD_S
    mtime_ts = iso_from_ns(st.st_mtime_ns)
    envelopes: list[bytes] = []
    new = FileState(**asdict(state))
    new.dev, new.ino, new.size, new.mtime_ns = st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
    next_ts = _next_timestamps(lines)
    for i, (offset, after, record) in enumerate(lines):
        if record is None:
            new.offset = after
            continue
        timestamp, source = _resolve_timestamp(record, new.last_ts, next_ts[i])
        if timestamp is None:
            if not (final or file_idle):
                break  # wait for a line with a timestamp to borrow from
            timestamp, source = mtime_ts, "file_mtime"
        if source == "record":
            new.last_ts = timestamp
        if isinstance(record, dict) and isinstance(record.get("cwd"), str):
            new.cwd = record["cwd"]
        envelope = transcript_envelope(
            record,
            file_key=identity.key,
            offset=offset,
            session_hint=identity.session_hint,
            timestamp=timestamp,
            timestamp_from=source,
            privacy=privacy,
            project=projects.get(new.cwd),
            agent_id=identity.agent_id,
        )
        envelopes.append(orjson.dumps(envelope))
        new.offset = after
    new.offset = min(new.offset, st.st_size)  # the importer's added newline is not in the file
    if new.offset and not new.head:
        new.head = _head_digest(path, min(new.offset, HEAD_BYTES))
    return envelopes, new


def _parses(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def _next_timestamps(lines: list[tuple[int, int, object]]) -> list[str | None]:
    """For each line, the timestamp of the nearest later line that has one (None if none yet)."""
    result: list[str | None] = [None] * len(lines)
    upcoming = None
    for i in range(len(lines) - 1, -1, -1):
        result[i] = upcoming
        record = lines[i][2]
        if isinstance(record, dict) and timestamp_valid(record.get("timestamp")):
            upcoming = record["timestamp"]
    return result


def _resolve_timestamp(record: object, previous: str | None, upcoming: str | None) -> tuple[str | None, str]:
    """The record's own timestamp; else the nearest earlier line's; else (at the start of a file) the
    nearest later line's. All three are properties of the file, so a re-read resolves the same."""
    own = record.get("timestamp") if isinstance(record, dict) else None
    if timestamp_valid(own):
        return own, "record"
    if previous:
        return previous, "previous"
    if upcoming:
        return upcoming, "next"
    return None, ""


def _state_checked(f: BinaryIO, st: os.stat_result, state: FileState) -> FileState:
    """The state to read from: the saved one, or a fresh one if the file is not the one it describes."""
    if not state.offset:
        return state
    if (st.st_dev, st.st_ino) != (state.dev, state.ino):
        logger.info("transcript %s was replaced; reading it from the start", f.name)
        return FileState()
    if st.st_size < state.offset:
        logger.info("transcript %s was truncated; reading it from the start", f.name)
        return FileState()
    if state.head and st.st_mtime_ns != state.mtime_ns:
        f.seek(0)
        head = f.read(min(state.offset, HEAD_BYTES))
        if _digest_bytes(head) != state.head:
            logger.info("transcript %s was rewritten; reading it from the start", f.name)
            return FileState()
    return state


def _digest_bytes(data: bytes) -> str:
    from hashlib import blake2b

    return blake2b(data, digest_size=8).hexdigest()


def _head_digest(path: str, size: int) -> str:
    with open(path, "rb") as f:
        return _digest_bytes(f.read(size))


class OffsetStore:
    """Offsets of every tailed file, in one JSON file under BLUEPLANE_HOME, replaced atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.states: dict[str, FileState] = {}
        try:
            with open(path, "rb") as f:
                raw = orjson.loads(f.read())
            self.states = {p: FileState(**s) for p, s in raw.get("files", {}).items()}
        except FileNotFoundError:
            pass
        except (ValueError, TypeError) as exc:
            logger.warning("ignoring unreadable offsets file %s (%s): files are re-read", path, exc)

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        body = {"version": 1, "files": {p: asdict(s) for p, s in self.states.items()}}
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(body))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class Tailer:
    """Follows every transcript under `root`; call poll() repeatedly."""

    def __init__(
        self,
        *,
        root: str,
        client: redis.Redis,
        offsets_path: str,
        privacy: Privacy,
        stream: str = EVENTS_STREAM,
    ) -> None:
        self.root = root
        self.client = client
        self.offsets = OffsetStore(offsets_path)
        self.privacy = privacy
        self.projects = ProjectCache(privacy)
        self.stream = stream

    def poll(self) -> int:
        """Send what was appended since the last poll. Returns the number of events sent; 0 means idle.

        Raises redis-py's errors when Redis is unreachable; nothing is marked as sent then.
        """
        sent = 0
        dirty = False
        seen: set[str] = set()
        for path in transcript_files(self.root) if os.path.exists(self.root) else ():
            seen.add(path)
            state = self.offsets.states.get(path) or FileState()
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            unchanged = (st.st_ino, st.st_size, st.st_mtime_ns) == (state.ino, state.size, state.mtime_ns)
            if unchanged and state.offset == st.st_size:
                continue
            try:
                envelopes, new = file_events(
                    path, state, privacy=self.privacy, projects=self.projects, final=False
                )
            except OSError as exc:
                logger.warning("cannot read transcript %s: %s", path, exc)
                continue
            if envelopes:
                pipe = self.client.pipeline(transaction=False)
                for envelope in envelopes:
                    pipe.xadd(self.stream, {"event": envelope})
                pipe.execute()
                sent += len(envelopes)
            if new != state:
                self.offsets.states[path] = new
                dirty = True
        for gone in set(self.offsets.states) - seen:
            del self.offsets.states[gone]
            dirty = True
        if dirty:
            self.offsets.save()
        return sent

"""Reading one Claude Code transcript: which lines are new since a byte offset, and their envelopes.

Deterministic: the envelopes of a file depend only on its bytes (and the install's privacy salt), so
the tailer, a restart of it and the importer build the same envelope for the same line, byte for byte,
and the store keeps one. A line's timestamp is its own, else one borrowed from the file's nearest
earlier (or, at its start, later) line that has one, else NO_TIMESTAMP: never the file's modification
time, which changes between reads. A line that is not a JSON object is not an event: it comes back as
a LineProblem (its number and why), and reading goes on after it.
"""

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

import orjson

from .claude_events import timestamp_valid, transcript_envelope
from .privacy import Privacy

logger = logging.getLogger(__name__)

HEAD_BYTES = 1024
READ_CHUNK_BYTES = 16 * 1024 * 1024
# A file whose first lines carry no timestamp yet is held back until a line that has one arrives, or
# until nothing has written to it for this long: then the file has none, and NO_TIMESTAMP stands in.
HOLD_S = 30.0
# What a file with no timestamp in any line gets: a constant, so a re-read gives the same envelopes (a
# modification time would not). Marked `"timestamp_from": "none"` in the envelope's metadata.
NO_TIMESTAMP = "1970-01-01T00:00:00.000Z"


@dataclass
class FileState:
    """How far one transcript file has been sent, and what later lines need from earlier ones."""

    dev: int = 0
    ino: int = 0
    offset: int = 0
    size: int = 0
    mtime_ns: int = 0
    head: str = ""  # digest of the file's first head_bytes (up to HEAD_BYTES), to recognise its content
    head_bytes: int = 0
    last_ts: str | None = None  # timestamp of the last line that had one (for lines without)
    # The project ({hash, name}) of the last working directory seen in the file, for lines without one:
    # the directory itself is not kept here, only what the events carry.
    project: dict | None = None
    line: int = 0  # lines before offset, to name a line by its number
    gone_since: float = 0.0  # epoch seconds since the file is missing from the scans; 0: present


@dataclass(frozen=True)
class LineProblem:
    """A line that is not sent: it is not JSON, or not a JSON object."""

    line: int  # 1-based
    offset: int
    reason: str


@dataclass
class FileRead:
    """What file_events() read: envelopes to send, their (event_id, timestamp), the state after them,
    and the lines it skipped."""

    envelopes: list[bytes] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    state: FileState = field(default_factory=FileState)
    problems: list[LineProblem] = field(default_factory=list)


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
) -> FileRead:
    """Envelopes (JSON bytes) for the complete lines after state.offset, and the state after them.

    `final` (the importer) resolves every line now, and takes a last line without its newline (a
    problem when it is not JSON). Otherwise lines at the start of a file that have no timestamp and
    nothing to borrow one from are held back (see HOLD_S). The returned state is only to be saved once
    the envelopes are in Redis. Raises OSError if the file cannot be read.
    """
    now_ns = now_ns or time.time_ns()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        state = _state_checked(f, st, state)
        f.seek(state.offset)
        data = f.read(max_bytes)
        if len(data) == max_bytes and b"\n" not in data:
            data += f.read()  # one line longer than a chunk: take it whole
    limit = state.offset + len(data)  # the file's bytes read (it may have grown since the fstat)
    at_end = limit >= st.st_size
    end = data.rfind(b"\n")
    if final and at_end and data[end + 1 :].strip():
        # A last line without its newline: a writer that died mid-line, a file closed without one, or
        # a line still being written. The importer reads it now; the tailer waits for the newline.
        data, end = data + b"\n", len(data)
    read = FileRead(state=FileState(**asdict(state)))
    if end < 0:
        return read
    # (offset, offset after the line, its 1-based number, the record or None, why it is not sent)
    lines: list[tuple[int, int, int, dict | None, str | None]] = []
    position, number = state.offset, state.line
    for raw in data[: end + 1].split(b"\n")[:-1]:
        offset = position
        position += len(raw) + 1
        number += 1
        if not raw.strip():
            lines.append((offset, position, number, None, None))
            continue
        record, reason = _record(raw)
        if reason and position > limit:
            reason = f"incomplete last line (no newline; {reason})"
        lines.append((offset, position, number, record, reason))

    file_idle = (now_ns - st.st_mtime_ns) / 1e9 >= HOLD_S
    identity = file_identity(path, privacy)
    new = read.state
    new.dev, new.ino, new.size, new.mtime_ns = st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
    next_ts = _next_timestamps(lines)
    for i, (offset, after, number, record, reason) in enumerate(lines):
        if record is None:
            if reason:
                read.problems.append(LineProblem(line=number, offset=offset, reason=reason))
            new.offset, new.line = after, number
            continue
        timestamp, source = _resolve_timestamp(record, new.last_ts, next_ts[i])
        if timestamp is None:
            # No line up to here has a timestamp, and none after it yet. Only once the file is complete
            # (imported, or idle, all of it read) does it have none at all.
            if not ((final or file_idle) and at_end):
                break
            timestamp, source = NO_TIMESTAMP, "none"
        if source == "record":
            new.last_ts = timestamp
        if isinstance(record.get("cwd"), str):
            new.project = projects.get(record["cwd"])
        envelope = transcript_envelope(
            record,
            file_key=identity.key,
            offset=offset,
            session_hint=identity.session_hint,
            timestamp=timestamp,
            timestamp_from=source,
            privacy=privacy,
            project=new.project,
            agent_id=identity.agent_id,
        )
        read.envelopes.append(orjson.dumps(envelope))
        read.keys.append((envelope["event_id"], timestamp))
        new.offset, new.line = after, number
    new.offset = min(new.offset, limit)  # the importer's added newline is not in the file
    if new.head_bytes < min(new.offset, HEAD_BYTES):
        new.head_bytes = min(new.offset, HEAD_BYTES)
        new.head = _head_digest(path, new.head_bytes)
    return read


_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _record(raw: bytes) -> tuple[dict | None, str | None]:
    """The line's JSON object, or None and why it is not one."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return None, f"not a JSON object but {_KINDS.get(type(record), 'null')}"
    return record, None


def _next_timestamps(lines: list[tuple]) -> list[str | None]:
    """For each line, the timestamp of the nearest later line that has one (None if none yet)."""
    result: list[str | None] = [None] * len(lines)
    upcoming = None
    for i in range(len(lines) - 1, -1, -1):
        result[i] = upcoming
        record = lines[i][3]
        if record is not None and timestamp_valid(record.get("timestamp")):
            upcoming = record["timestamp"]
    return result


def _resolve_timestamp(record: dict, previous: str | None, upcoming: str | None) -> tuple[str | None, str]:
    """The record's own timestamp; else the nearest earlier line's; else (at the start of a file) the
    nearest later line's. All three are properties of the file, so a re-read resolves the same."""
    own = record.get("timestamp")
    if timestamp_valid(own):
        return own, "record"
    if previous:
        return previous, "previous"
    if upcoming:
        return upcoming, "next"
    return None, ""


def _state_checked(f: BinaryIO, st: os.stat_result, state: FileState) -> FileState:
    """The state to read from: the saved one, or a fresh one if the file is not the one it describes.

    A file is recognised by its first bytes, not its inode: a folder restored by copying (a sync tool,
    a backup) brings the same transcripts back as new inodes, and reading them again from the start
    would re-send their whole history.
    """
    if not state.offset:
        return state
    if st.st_size < state.offset:
        logger.info("transcript %s was truncated; reading it from the start", f.name)
        return FileState()
    same_inode = (st.st_dev, st.st_ino) == (state.dev, state.ino)
    if same_inode and st.st_mtime_ns == state.mtime_ns:
        return state
    if not state.head_bytes:  # saved before head_bytes existed: the inode is all there is to go by
        if same_inode:
            return state
        logger.info("transcript %s was replaced; reading it from the start", f.name)
        return FileState()
    f.seek(0)
    if _digest_bytes(f.read(state.head_bytes)) != state.head:
        logger.info("transcript %s was replaced or rewritten; reading it from the start", f.name)
        return FileState()
    if not same_inode:
        logger.info("transcript %s is back (as another file, same content); going on from byte %d",
                    f.name, state.offset)  # fmt: skip
    return state


def _digest_bytes(data: bytes) -> str:
    from hashlib import blake2b

    return blake2b(data, digest_size=8).hexdigest()


def _head_digest(path: str, size: int) -> str:
    with open(path, "rb") as f:
        return _digest_bytes(f.read(size))

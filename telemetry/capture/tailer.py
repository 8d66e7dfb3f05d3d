"""Claude Code transcripts, followed: send each complete line once it is written, and remember how far.

Guarantee: every complete line of every transcript under the projects folder that is a JSON object is
sent at least once, and re-reading a file always gives the same envelopes, byte for byte. The tailer
finds files itself (a scan of the folder: main sessions, `<session>/subagents/agent-*.jsonl` and older
`agent-*.jsonl`), never through hooks. It reads from the byte offset it reached last time, consumes
only up to the last newline (a half-written last line waits for its end), starts a file over when it
was truncated or replaced by other content (a smaller size, or different first bytes), and saves its
offsets only after Redis accepted the events. A crash can therefore re-send lines; their deterministic
ids make that a no-op in the store. Offsets outlive a file that disappears for a while (a projects
folder unmounted, moved away and back, restored by a sync tool as new files with the same content), so
its return re-sends nothing. A line that is not a JSON object is skipped (logged once), not sent.

What a line becomes is transcripts.py's `file_events()`, shared with the importer, so a tailed line
and an imported line give the same envelope byte for byte.
"""

import logging
import os
import time
from dataclasses import asdict, replace

import orjson
import redis

from ..wire import EVENTS_STREAM
from .privacy import Privacy
from .transcripts import FileState, LineProblem, ProjectCache, file_events, transcript_files

logger = logging.getLogger(__name__)

# Offsets of a file that disappeared are kept this long, so a folder that comes back (remounted,
# restored) is not read again from the start; never forgotten while the projects folder itself is gone.
FORGET_AFTER_S = 7 * 24 * 3600.0


class OffsetStore:
    """Offsets of every tailed file, in one JSON file under BLUEPLANE_HOME, replaced atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.states: dict[str, FileState] = {}
        try:
            with open(path, "rb") as f:
                raw = orjson.loads(f.read())
            known = set(FileState.__dataclass_fields__)
            # Fields an older version saved and this one does not keep (the raw `cwd`) are dropped.
            self.states = {
                p: FileState(**{k: v for k, v in s.items() if k in known})
                for p, s in raw.get("files", {}).items()
            }
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
        self._reported: set[tuple[str, int]] = set()

    def poll(self) -> int:
        """Send what was appended since the last poll. Returns the number of events sent; 0 means idle.

        Raises redis-py's errors when Redis is unreachable; nothing is marked as sent then.
        """
        sent = 0
        dirty = False
        seen: set[str] = set()
        root_present = os.path.exists(self.root)
        for path in transcript_files(self.root) if root_present else ():
            seen.add(path)
            state = self.offsets.states.get(path) or FileState()
            if state.gone_since:
                state = self.offsets.states[path] = replace(state, gone_since=0.0)
                dirty = True
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            unchanged = (st.st_ino, st.st_size, st.st_mtime_ns) == (state.ino, state.size, state.mtime_ns)
            if unchanged and state.offset == st.st_size:
                continue
            try:
                read = file_events(path, state, privacy=self.privacy, projects=self.projects, final=False)
            except OSError as exc:
                logger.warning("cannot read transcript %s: %s", path, exc)
                continue
            self._problems_log(path, read.problems)
            if read.envelopes:
                pipe = self.client.pipeline(transaction=False)
                for envelope in read.envelopes:
                    pipe.xadd(self.stream, {"event": envelope})
                pipe.execute()
                sent += len(read.envelopes)
            if read.state != state:
                self.offsets.states[path] = read.state
                dirty = True
        if root_present:  # a missing root says nothing about its files: keep every offset
            dirty |= self._missing_note(seen)
        if dirty:
            self.offsets.save()
        return sent

    def _missing_note(self, seen: set[str]) -> bool:
        """Mark files missing from this scan; forget those missing for FORGET_AFTER_S. Returns whether
        any state changed."""
        now = time.time()
        changed = False
        for path in set(self.offsets.states) - seen:
            state = self.offsets.states[path]
            if not state.gone_since:
                self.offsets.states[path] = replace(state, gone_since=now)
                changed = True
            elif now - state.gone_since > FORGET_AFTER_S:
                del self.offsets.states[path]
                changed = True
        return changed

    def _problems_log(self, path: str, problems: list[LineProblem]) -> None:
        """Log each skipped line once, though a line held back before it brings it up again."""
        for problem in problems:
            key = (path, problem.offset)
            if key in self._reported:
                continue
            if len(self._reported) > 10_000:
                self._reported.clear()
            self._reported.add(key)
            logger.warning("transcript %s:%d: %s; line skipped", path, problem.line, problem.reason)

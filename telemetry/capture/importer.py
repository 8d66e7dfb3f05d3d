"""`blueplane import claude-code`: send existing Claude Code history to the event stream.

Every line of every transcript under the path is sent with the same envelope the tailer would build
(the same function builds both), so a second import, or an import of files the tailer already sent,
stores nothing new: the store ignores ids it has. The importer keeps no offsets of its own.
Events wait in the stream when the fast path is not running.
"""

import os
from dataclasses import dataclass

import redis
from tqdm import tqdm

from ..wire import EVENTS_STREAM
from .privacy import Privacy
from .transcripts import FileState, ProjectCache, file_events, transcript_files

PIPELINE_EVENTS = 500


@dataclass
class ImportStats:
    files: int = 0
    events: int = 0
    bytes: int = 0
    unreadable: int = 0


def history_import(
    root: str,
    *,
    client: redis.Redis,
    privacy: Privacy,
    stream: str = EVENTS_STREAM,
    progress: bool = True,
) -> ImportStats:
    """Send every transcript line under root (a projects folder, a project folder or one file)."""
    files = list(transcript_files(root))
    sizes = {path: _size(path) for path in files}
    stats = ImportStats()
    projects = ProjectCache(privacy)
    with tqdm(
        total=sum(sizes.values()), unit="B", unit_scale=True, desc="importing", disable=not progress
    ) as bar:
        for path in files:
            state = FileState()
            try:
                while True:
                    read = file_events(path, state, privacy=privacy, projects=projects, final=True)
                    envelopes, new = read.envelopes, read.state
                    if new.offset <= state.offset:
                        break
                    _send(client, stream, envelopes)
                    stats.events += len(envelopes)
                    bar.update(new.offset - state.offset)
                    state = new
            except OSError as exc:
                stats.unreadable += 1
                bar.write(f"skipped {path}: {exc}")
            stats.files += 1
            stats.bytes += state.offset
    return stats


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _send(client: redis.Redis, stream: str, envelopes: list[bytes]) -> None:
    for start in range(0, len(envelopes), PIPELINE_EVENTS):
        pipe = client.pipeline(transaction=False)
        for envelope in envelopes[start : start + PIPELINE_EVENTS]:
            pipe.xadd(stream, {"event": envelope})
        pipe.execute()

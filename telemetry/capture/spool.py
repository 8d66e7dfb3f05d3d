"""The spool: where capture code puts events when Redis cannot be reached, until they are replayed.

One JSON envelope per line in `$BLUEPLANE_HOME/spool/<name>.jsonl`, appended with O_APPEND in one
write() so concurrent hooks do not interleave. Replay renames the file aside first (new hooks then
start a fresh file), waits until nothing has written to the renamed file for `settle_s` (a hook that
opened it just before the rename may still be writing), XADDs every line, then deletes it. A crash
mid-replay leaves the renamed file, which the next replay sends again: envelope ids make that a
no-op in the store, so a replay can repeat, never lose.

Appending is stdlib only (the hook uses it); replaying takes a redis-py client from the caller.
"""

import os
import time

SPOOL_DIR = "spool"
ACTIVE_SUFFIX = ".jsonl"
REPLAY_PREFIX = "replay-"


def spool_dir(home: str) -> str:
    return os.path.join(home, SPOOL_DIR)


def spool_append(home: str, line: bytes, *, name: str = "claude_code") -> None:
    """Append one envelope (JSON, no newline) to the spool."""
    folder = spool_dir(home)
    path = os.path.join(folder, name + ACTIVE_SUFFIX)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except FileNotFoundError:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)


def spool_replay(client: object, home: str, *, stream: str, settle_s: float = 2.0, batch: int = 500) -> int:
    """Send spooled envelopes to `stream`. Returns how many lines were sent; 0 when there was nothing.

    Raises redis-py's errors if Redis is still unreachable; the files stay for the next attempt.
    """
    folder = spool_dir(home)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        if name.endswith(ACTIVE_SUFFIX) and not name.startswith(REPLAY_PREFIX):
            aside = f"{REPLAY_PREFIX}{time.time_ns()}-{os.getpid()}-{name}"
            try:  # noqa: SIM105 - contextlib costs the hook an import
                os.rename(os.path.join(folder, name), os.path.join(folder, aside))
            except FileNotFoundError:
                pass  # another replayer took it
    sent = 0
    now = time.time()
    for name in sorted(os.listdir(folder)):
        if not name.startswith(REPLAY_PREFIX):
            continue
        path = os.path.join(folder, name)
        try:
            if now - os.stat(path).st_mtime < settle_s:
                continue
            with open(path, "rb") as f:
                lines = [line.strip() for line in f]
        except FileNotFoundError:
            continue
        lines = [line for line in lines if line]
        for start in range(0, len(lines), batch):
            pipe = client.pipeline(transaction=False)
            for line in lines[start : start + batch]:
                pipe.xadd(stream, {"event": line})
            pipe.execute()
        sent += len(lines)
        os.unlink(path)
    return sent


def spool_state(home: str) -> dict:
    """What waits in the spool, for `blueplane status`: {"files", "bytes" (not yet replayed),
    "oldest_age_s" (seconds since the least recently written file was last written; None when empty)}.
    A plain dict, not a TypedDict: the hook imports this module and must not pay for `typing`."""
    files, size, oldest_mtime = 0, 0, None
    try:
        entries = list(os.scandir(spool_dir(home)))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not entry.name.endswith(ACTIVE_SUFFIX):  # active and set-aside files alike
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue  # replayed meanwhile
        files += 1
        size += stat.st_size
        oldest_mtime = stat.st_mtime if oldest_mtime is None else min(oldest_mtime, stat.st_mtime)
    age = None if oldest_mtime is None else max(0.0, time.time() - oldest_mtime)
    return {"files": files, "bytes": size, "oldest_age_s": age}

"""The spool: where capture code puts events when Redis cannot be reached, until they are replayed.

Appending (the hook): one JSON envelope per line in `$BLUEPLANE_HOME/spool/<name>.jsonl`, with O_APPEND
in one write(), so concurrent hooks do not interleave. A record always starts on a fresh line: when the
file does not end with a newline (a hook killed mid-write, a disk that filled up), the record is written
after one, so a broken line never glues onto the next hook's record; it stays a line of its own, which
replay skips. A short write cuts off what it wrote (or, if another hook appended meanwhile, ends the
broken line) and raises OSError.

Replaying (runcapture): the file is renamed aside first (new hooks then start a fresh file), left until
nothing has written to it for `settle_s` (a hook that opened it just before the rename may still be
writing), then sent in batches from the byte offset reached so far. That offset is saved atomically in
`<file>.offset` after Redis accepted each batch, so a crash mid-replay re-sends at most the batch that
was in flight (envelope ids make that a no-op in the store) and nothing before it. A line that is not
a whole JSON object (half-written) is skipped and counted, never sent, and never stops the lines after
it. The file and its offset are deleted once everything in it is sent. Nothing is ever dropped for
size: `spool_state()` tells `blueplane status` how much is waiting.

Stdlib only: the hook imports this module under `python -I -S`, so the append path imports nothing
(not even `json` or `errno`); replaying takes a redis-py client from the caller.
"""

import os
import time

SPOOL_DIR = "spool"
ACTIVE_SUFFIX = ".jsonl"
REPLAY_PREFIX = "replay-"
OFFSET_SUFFIX = ".offset"
READ_CHUNK_BYTES = 4 * 1024 * 1024


def spool_dir(home: str) -> str:
    return os.path.join(home, SPOOL_DIR)


def spool_append(home: str, line: bytes, *, name: str = "claude_code") -> None:
    """Append one envelope (JSON, no newline) to the spool. Raises OSError when it was not written whole."""
    folder = spool_dir(home)
    path = os.path.join(folder, name + ACTIVE_SUFFIX)
    # Read access too: the last byte tells whether the previous writer finished its line.
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    try:
        record = line + b"\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            record = b"\n" + record
        written = os.write(fd, record)
        if written < len(record):
            # Not retried: the rest could land after another hook's record. Cut the part that was
            # written off again, unless another writer appended meanwhile; then end the line, so the
            # broken part stays a line of its own, which replay skips.
            end = os.lseek(fd, 0, os.SEEK_CUR)
            try:
                if os.fstat(fd).st_size == end:
                    os.ftruncate(fd, end - written)
                else:
                    os.write(fd, b"\n")
            except OSError:
                pass
            raise OSError(f"spool {path}: wrote {written} of {len(record)} bytes (disk full?)")
    finally:
        os.close(fd)


def spool_replay(client: object, home: str, *, stream: str, settle_s: float = 2.0, batch: int = 500) -> int:
    """Send spooled envelopes to `stream`. Returns how many lines were sent; 0 when there was nothing.

    Raises redis-py's errors if Redis is still unreachable; what was not sent stays for the next attempt.
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
    names = sorted(os.listdir(folder))
    present = set(names)
    sent = 0
    for name in names:
        path = os.path.join(folder, name)
        if not name.startswith(REPLAY_PREFIX):
            continue
        if name.endswith(ACTIVE_SUFFIX):
            sent += _file_replay(client, path, stream=stream, settle_s=settle_s, batch=batch)
        elif name.partition(ACTIVE_SUFFIX)[0] + ACTIVE_SUFFIX not in present:
            # The offset (or its temporary file) of a spool file already replayed and deleted: a crash
            # came between the two deletions.
            try:  # noqa: SIM105
                os.unlink(path)
            except FileNotFoundError:
                pass
    return sent


def spool_state(home: str) -> tuple[int, int, float | None]:
    """(files, bytes not yet replayed, age in seconds of the oldest event waiting, None when none waits).

    For `blueplane status`: the spool is only ever emptied by replay, never dropped, so a large or old
    one means Redis has been unreachable (or runcapture not running) for that long. The age is that of
    the oldest waiting envelope's timestamp (its capture time), else of its file's last write.
    """
    folder = spool_dir(home)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0, 0, None
    files = waiting = 0
    oldest: float | None = None
    now = time.time()
    for name in names:
        if not name.endswith(ACTIVE_SUFFIX):
            continue
        path = os.path.join(folder, name)
        offset = _offset_read(path + OFFSET_SUFFIX) if name.startswith(REPLAY_PREFIX) else 0
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size <= offset:
                    continue
                f.seek(offset)
                first = f.readline(64 * 1024)
                mtime = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            continue  # replayed meanwhile
        files += 1
        waiting += size - offset
        since = _envelope_time(first)
        age = now - (since if since is not None else mtime)
        oldest = age if oldest is None else max(oldest, age)
    return files, waiting, oldest


def _envelope_time(line: bytes) -> float | None:
    import json
    from datetime import datetime

    try:
        stamp = json.loads(line)["timestamp"]
        return datetime.fromisoformat(stamp).timestamp()
    except (ValueError, TypeError, KeyError):
        return None


def _offset_read(path: str) -> int:
    """The byte offset saved for a spool file being replayed; 0 when there is none (or it is unreadable:
    starting over re-sends, which the store absorbs, where guessing could skip)."""
    try:
        with open(path, "rb") as f:
            return max(int(f.read(32)), 0)
    except (FileNotFoundError, ValueError):
        return 0


def _offset_save(path: str, offset: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"%d" % offset)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _whole(line: bytes) -> bool:
    """Whether a spooled line is a whole envelope (a JSON object), not the start of one cut short."""
    import json

    if line[:1] != b"{" or line[-1:] != b"}":
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # includes UnicodeDecodeError
        return False


def _file_replay(client: object, path: str, *, stream: str, settle_s: float, batch: int) -> int:
    """Send one renamed-aside spool file from its saved offset, then delete it. Returns lines sent."""
    import fcntl
    import logging

    try:
        f = open(path, "rb")  # noqa: SIM115 - held open for the lock, closed below
    except FileNotFoundError:
        return 0
    with f:
        try:
            # Two replayers (two runcapture processes) would each send the file; the kernel drops the
            # lock with its holder, so a killed replayer never blocks the next one.
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        st = os.fstat(f.fileno())
        if st.st_nlink == 0 or time.time() - st.st_mtime < settle_s:
            return 0  # finished by the replayer that held the lock, or a hook may still be writing
        offset_path = path + OFFSET_SUFFIX
        offset = _offset_read(offset_path)
        if offset > st.st_size:
            offset = 0  # not the file this offset was saved for
        sent = skipped = 0
        while True:
            f.seek(offset)
            data = f.read(READ_CHUNK_BYTES)
            if not data:
                break
            if b"\n" not in data:
                data += f.read()  # one line longer than a chunk, or a last line without its newline
            if f.tell() < os.fstat(f.fileno()).st_size:
                data = data[: data.rfind(b"\n") + 1]  # the rest comes with the next chunk
            # Else a last line without its newline is final: the file settled, so its writer is gone.
            lines: list[bytes] = []
            position = offset
            for raw in data.split(b"\n"):
                at, position = position, min(position + len(raw) + 1, offset + len(data))
                line = raw.strip()
                if not line:
                    continue
                if _whole(line):
                    lines.append(line)
                else:
                    skipped += 1
                    logging.getLogger(__name__).warning(
                        "spool %s: skipping a broken line at byte %d (%d bytes; a hook cut short)",
                        path,
                        at,
                        len(raw),
                    )
                if len(lines) >= batch:
                    sent += _send(client, stream, lines)
                    lines = []
                    _offset_save(offset_path, position)
            sent += _send(client, stream, lines)
            offset += len(data)
            _offset_save(offset_path, offset)
        if skipped:
            logging.getLogger(__name__).warning("spool %s: %d broken lines skipped", path, skipped)
        if os.fstat(f.fileno()).st_size > offset:
            return sent  # a late hook wrote more meanwhile: sent on the next pass
        # The data first: a crash between the two leaves an orphan offset, which the next replay removes.
        os.unlink(path)
        try:  # noqa: SIM105
            os.unlink(offset_path)
        except FileNotFoundError:
            pass
    return sent


def _send(client: object, stream: str, lines: list[bytes]) -> int:
    if not lines:
        return 0
    pipe = client.pipeline(transaction=False)
    for line in lines:
        pipe.xadd(stream, {"event": line})
    pipe.execute()
    return len(lines)

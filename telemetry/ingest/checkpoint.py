"""WAL checkpoints off the fast path's commit thread, and a bound on the WAL's size.

SQLite runs a checkpoint inside whichever commit pushes the WAL past 1000 pages, and that commit then
pays for copying and fsyncing the pages: every ~15th fast-path batch took several times longer. The
fast path turns automatic checkpoints off on its own connection (and on every connection it reopens
after a fault), and a background thread checkpoints on a connection of its own; sqlite3 releases the
GIL meanwhile. Other processes keep automatic checkpoints.

PASSIVE once a second, not more often (in between the thread only looks at the WAL's size): a batch
rewrites the same index pages as the batch before it (each session's leaf, the right edge of each
append-only index), and a checkpoint copies each page once however many batches changed it. Measured
with bench/fastpath.py, every 0.1 s cost ~10% of the fast path's throughput against every 1 s.

Guarantee: the WAL stays bounded, also while the system catches up after a fault. A PASSIVE checkpoint
never blocks anyone, but the WAL only starts over from its beginning once a checkpoint has copied all
of it and no reader still needs it: a writer that never pauses, or a reader that holds an old snapshot
(the slow path's long transactions), lets it grow without end. So:
- above 3/4 of its bound the thread escalates to a TRUNCATE checkpoint (after a PASSIVE one, so that
  little is left to copy): it holds writers back for the moment it needs (the fast path waits in its
  busy handler), waits up to its busy timeout for readers to move on, and empties the WAL file;
- at its bound the fast path stops writing (WalGuard.over) and waits, asking for that checkpoint now,
  rather than grow the file further: a reader that holds a snapshot for long pauses the fast path for
  as long, never fills the disk;
- the bound is SQLITE_WAL_MAX_BYTES, or the free space of the database's disk if that is less: copying
  the WAL into the database may grow the database by as much as the WAL holds, so a WAL larger than
  the free space could not be checkpointed any more. After a disk-full fault this is what keeps the
  catch-up from filling the disk again;
- `journal_size_limit` (settings) truncates the file to the bound whenever SQLite starts it over.
"""

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.backends.signals import connection_created

from .faults import Backoff, Stopping

logger = logging.getLogger(__name__)

# Below this the WAL is never a concern, and WalGuard.over() skips looking at the free space.
_SMALL_WAL_BYTES = 1024 * 1024
# Above this share of its bound the WAL is checkpointed with TRUNCATE. Each such checkpoint holds the
# writers back while it copies the rest and syncs (17-230 ms measured during a backlog, most under 50):
# escalating late keeps them few, early enough that the fast path rarely meets the bound itself.
_ESCALATE_AT = 0.75
# How often the thread looks at the WAL's size (a stat), to escalate soon after it passes _ESCALATE_AT.
_SIZE_EVERY_S = 0.1
# How long a TRUNCATE checkpoint waits for readers to move on before it gives up until the next try.
_TRUNCATE_WAIT_S = 2.0


class WalGuard:
    """The size of the database's WAL against its bound (see the module docstring)."""

    def __init__(self, db_path: str, *, max_bytes: int) -> None:
        self.wal_path = db_path + "-wal"
        self.directory = os.path.dirname(db_path) or "."
        self.max_bytes = max_bytes
        self.checkpoint_now = threading.Event()  # set by a writer that waits on the bound
        self.peak_bytes = 0

    def size(self) -> int:
        try:
            size = os.stat(self.wal_path).st_size
        except FileNotFoundError:
            return 0
        self.peak_bytes = max(self.peak_bytes, size)
        return size

    def bound(self) -> int:
        """The WAL's bound now: SQLITE_WAL_MAX_BYTES, or the free space of the disk if that is less."""
        try:
            stat = os.statvfs(self.directory)
        except OSError:
            return self.max_bytes
        return max(_SMALL_WAL_BYTES, min(self.max_bytes, stat.f_bavail * stat.f_frsize))

    def over(self) -> bool:
        """Whether the WAL is at its bound: the fast path then waits for a checkpoint before it writes."""
        size = self.size()
        return size > _SMALL_WAL_BYTES and size >= self.bound()

    def describe(self) -> str:
        return f"the write-ahead log is {self.size() / 1e6:.1f} MB, at its {self.bound() / 1e6:.1f} MB bound"


@contextmanager
def wal_checkpoints(*, max_bytes: int, interval_s: float = 1.0) -> Iterator[WalGuard | None]:
    """Checkpoint in a background thread while the block runs, keeping the WAL bounded; yields the
    WalGuard the writer consults. A no-op on databases other than SQLite (yields None)."""
    if connection.vendor != "sqlite":
        yield None
        return
    path = connection.settings_dict["NAME"]
    guard = WalGuard(path, max_bytes=max_bytes)
    stop = threading.Event()
    backoff = Backoff("WAL checkpoint", cap_s=interval_s)

    def run() -> None:
        db: sqlite3.Connection | None = None
        next_passive = time.monotonic() + interval_s
        try:
            while not stop.is_set():
                requested = guard.checkpoint_now.wait(_SIZE_EVERY_S)
                guard.checkpoint_now.clear()
                truncate = requested or guard.size() > guard.bound() * _ESCALATE_AT
                if not truncate and time.monotonic() < next_passive:
                    continue
                next_passive = time.monotonic() + interval_s
                try:
                    if db is None:
                        db = sqlite3.connect(path, isolation_level=None, timeout=_TRUNCATE_WAIT_S)
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    if truncate:
                        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                        if busy:
                            logger.debug("WAL checkpoint: a reader still needs the WAL; trying again")
                    backoff.succeeded()
                except sqlite3.Error as exc:
                    if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY"):
                        continue  # another checkpoint or a writer holds on: the next round tries again
                    if db is not None:  # disk full, I/O error, file gone: try again, on a new connection
                        db.close()
                        db = None
                    try:
                        backoff.failed(exc, stop=stop)
                    except Stopping:
                        return
            if db is not None:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.warning("last WAL checkpoint failed; SQLite checkpoints at the next start", exc_info=True)
        finally:
            backoff.close()
            if db is not None:
                db.close()

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    try:
        yield guard
    finally:
        stop.set()
        guard.checkpoint_now.set()
        thread.join(timeout=10)


@contextmanager
def automatic_checkpoints_off() -> Iterator[None]:
    """On this process's default connection, and any it reopens after a fault, leave checkpoints to
    wal_checkpoints() while the block runs."""
    if connection.vendor != "sqlite":
        yield
        return

    def off(sender: object, connection: object, **kwargs: object) -> None:
        if connection.alias == DEFAULT_DB_ALIAS:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_autocheckpoint=0")

    connection_created.connect(off, weak=False)
    try:
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        yield
    finally:
        connection_created.disconnect(off)
        if connection.connection is not None:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_autocheckpoint=1000")
            except Exception:  # a connection broken by a fault: it is not reused
                connection.close()

"""WAL checkpoints off the fast path's commit thread.

SQLite runs a checkpoint inside whichever commit pushes the WAL past 1000 pages, and that commit then
pays for copying and fsyncing the pages: every ~15th fast-path batch took several times longer. The
fast path turns automatic checkpoints off on its own connection, and a background thread checkpoints
(PASSIVE, so it never blocks writers or readers) on a connection of its own; sqlite3 releases the GIL
meanwhile. Other processes keep automatic checkpoints, so the WAL stays bounded if the fast path is gone.

Once a second, not more often: a batch rewrites the same index pages as the batch before it (each
session's leaf, the right edge of each append-only index), and a checkpoint copies each page once
however many batches changed it. Measured with bench/fastpath.py, every 0.1 s cost ~10% of the
fast path's throughput against every 1 s; the WAL then peaks at some tens of MB during a backlog.
"""

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)


@contextmanager
def wal_checkpoints(*, interval_s: float = 1.0) -> Iterator[None]:
    """Checkpoint in a background thread while the block runs; a no-op on databases other than SQLite."""
    if connection.vendor != "sqlite":
        yield
        return
    path = connection.settings_dict["NAME"]
    stop = threading.Event()

    def run() -> None:
        db = sqlite3.connect(path, isolation_level=None, timeout=5, check_same_thread=False)
        try:
            while not stop.wait(interval_s):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            logger.exception("background WAL checkpoint failed; automatic checkpoints resume")
        finally:
            db.close()

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@contextmanager
def automatic_checkpoints_off() -> Iterator[None]:
    """On this thread's connection, leave checkpoints to wal_checkpoints() while the block runs."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=1000")

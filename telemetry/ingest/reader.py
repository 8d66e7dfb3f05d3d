"""The fast path's read half in a process of its own, so that a batch's work uses two cores.

The reader process reads entries and prepares batches (decode, validate, compress, lay out rows:
about half of a batch's CPU); the runfastpath process commits them, in order. Only the committing
process writes the database or acknowledges entries, so consumer.py's at-least-once argument is
unchanged: what the reader has read and the writer not yet committed is still pending under this
consumer's name, and is read again after a restart. The pipe between them holds about one batch, so
the reader runs at most a batch or two ahead.

Pausing: while the writer waits out a fault of the database (or for a WAL checkpoint), it reads nothing
from the pipe; the reader, blocked sending its next batch, reads nothing from Redis. So the reader is
never more than the pipe's batch, the one it is sending and one read-ahead ahead, however long the
fault lasts, and those entries stay pending, their delivery count unchanged (the writer keeps them
claimed: consumer.py). The reader waits out faults of Redis itself (reading.py).

Stopping: the writer sets the reader's stop event; the reader finishes the batch in hand, sends it,
then an empty message, and exits; the writer commits what it received and returns. The reader ignores
SIGINT and SIGTERM (Ctrl-C signals the whole process group: the writer decides when to stop) and
leaves by itself if the writer dies.
"""

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator

from django.db import connections

from .batching import WriteBatch

# What the reader runs: StreamConsumer.batches, as (stop, once=...) -> batches in order.
BatchSource = Callable[..., Iterator[WriteBatch]]

_END = b""
_POLL_S = 0.1  # how often a waiting writer passes on its stop request


class ReaderDied(RuntimeError):
    """The reader process exited without finishing; its uncommitted entries stay pending."""


class ReaderProcess:
    def __init__(self, source: BatchSource, *, once: bool) -> None:
        # Fork before this process starts threads or opens connections it would share with the child.
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._stop = context.Event()
        connections.close_all()  # the child must not inherit an open database connection
        self._process = context.Process(
            target=_read, args=(source, send, self._stop, once, os.getpid()), name="fastpath-reader"
        )
        self._process.start()
        send.close()
        self._finished = False

    def batches(self, stop: threading.Event, *, idle: Callable[[], object]) -> Iterator[WriteBatch]:
        """The reader's batches in order, until it has drained (once) or stopped after stop was set.
        idle() runs whenever no batch is waiting, before this waits for one."""
        while True:
            if stop.is_set():
                self._stop.set()
            if not self._receive.poll():
                idle()
                if not self._receive.poll(_POLL_S):
                    continue
            try:
                data = self._receive.recv_bytes()
            except (EOFError, OSError):  # OSError: it died in the middle of sending a batch
                self._process.join(timeout=5)
                raise ReaderDied(f"the fast-path reader exited with code {self._process.exitcode}") from None
            if data == _END:
                self._finished = True
                return
            yield pickle.loads(data)

    def close(self) -> None:
        """Wait for a reader that finished; kill one that did not (the writer failed mid-run)."""
        self._stop.set()
        if self._finished:
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receive.close()


class _Stop:
    """Stop when the writer asks, or when it is gone (this process then belongs to another parent)."""

    def __init__(self, event: threading.Event, parent_pid: int) -> None:
        self.event = event
        self.parent_pid = parent_pid

    def is_set(self) -> bool:
        return self.event.is_set() or os.getppid() != self.parent_pid

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to timeout for the stop (a wait out of a fault of Redis); True if it came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if left <= 0:
                return False
            self.event.wait(left)
        return True


def _read(source: BatchSource, send, stop: threading.Event, once: bool, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for batch in source(_Stop(stop, parent_pid), once=once):
            send.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        send.send_bytes(_END)
    except BrokenPipeError:
        pass  # the writer is gone; what this process read stays pending for the next run

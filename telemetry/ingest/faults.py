"""Faults of the machine versus bad entries: how the fast path tells them apart, and how it waits out the
former.

Guarantee: a fault of the machine never costs an entry anything. While one lasts, the fast path keeps
the entries it holds pending, retries the same batch (it does not read them again, which would raise
their delivery count towards the dead-letter bound) with exponential, jittered backoff capped at a few
seconds, logs one line when the fault starts and one when it clears, and carries on by itself. Only an
entry that is itself bad is dead-lettered.

The rule (fault_kind), for an exception raised while storing a batch:

- MACHINE: not the entries' fault. Retry the same batch until it works (or the process is told to stop).
  * The database: every DatabaseError but IntegrityError and DataError, from Django or the drivers
    (sqlite3, psycopg): OperationalError ("database is locked", "disk I/O error", "database or disk is
    full", "attempt to write a readonly database", "unable to open database file", PostgreSQL
    restarting or a lost connection), InterfaceError, InternalError, "database disk image is
    malformed". ProgrammingError and NotSupportedError too: a missing table or a bug in the SQL fails
    every entry alike, so waiting for a migration or a fix loses nothing where dead-lettering would.
  * Redis: ConnectionError and TimeoutError (BusyLoadingError included), and the error replies with
    which Redis refuses every write (OOM, MISCONF: it cannot persist, its disk is full; LOADING,
    READONLY, BUSY, MASTERDOWN, TRYAGAIN, NOREPLICAS).
  * The Celery broker (kombu's OperationalError), any OSError (ENOSPC, EROFS, EIO, EDQUOT, a socket
    error), MemoryError.
- DATA: the database refused this content. IntegrityError and DataError (a CHECK or trigger, a value
  out of range or too long for its column), and ValueError or OverflowError raised by the driver while
  binding a value (a NUL in a PostgreSQL text, an integer SQLite cannot hold, a string it cannot
  encode). The batch is split (each part in its own transaction) until the entries that fail alone are
  found; those are dead-lettered with the database's reason and the rest is stored. Trusting this
  verdict even when every entry fails alone is the lesser risk: a dead letter keeps its whole entry and
  `blueplane dlq replay` brings it back after a fix, while holding a batch of truly bad entries would
  stop the pipeline with nothing to clear it.
- UNKNOWN: anything else, most likely a bug. Neither verdict is safe: "data" would dead-letter good
  events, "machine" could hold the pipeline on one entry. So the whole batch is retried, with backoff,
  UNKNOWN_RETRIES times; then it is split like a data error, and an entry failing alone is
  dead-lettered only when another part of the same batch stored (the failure follows the entry). When
  no part stored, the failure follows the system: nothing is dead-lettered, and what failed is retried
  with backoff like a machine fault.

Redis steps that carry no entry content (publish, acknowledge, read, dead-letter) are retried on any
Exception: no entry can be at fault there. An exception that is not an Exception (SystemExit,
KeyboardInterrupt) is never caught: the process stops, and its entries stay pending.
"""

import enum
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

import redis
from django.db import connection
from django.db import utils as db_errors
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

UNKNOWN_RETRIES = 3
# Redis error replies that refuse a command for the server's state, not for the command.
_REDIS_REFUSALS = ("OOM", "MISCONF", "LOADING", "READONLY", "BUSY", "MASTERDOWN", "TRYAGAIN", "NOREPLICAS")


class Fault(enum.Enum):
    MACHINE = "machine"
    DATA = "data"
    UNKNOWN = "unknown"


class Stopping(Exception):
    """The process was told to stop while waiting out a fault: what it holds stays pending."""


class StopEvent(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def fault_kind(exc: BaseException) -> Fault:
    """Whose fault exc is (the module docstring states the rule)."""
    if isinstance(
        exc, db_errors.IntegrityError | db_errors.DataError | sqlite3.IntegrityError | sqlite3.DataError
    ):
        return Fault.DATA
    if isinstance(exc, db_errors.Error | sqlite3.Error):  # InterfaceError is an Error, not a DatabaseError
        return Fault.MACHINE
    if isinstance(exc, redis.ResponseError):
        # A refusal inside a script comes wrapped: "Error running script (...): ... -OOM command not allowed"
        text = str(exc)
        refused = text.startswith(_REDIS_REFUSALS) or any(f"-{code} " in text for code in _REDIS_REFUSALS)
        return Fault.MACHINE if refused else Fault.UNKNOWN
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | BrokerError | OSError | MemoryError):
        return Fault.MACHINE
    if isinstance(exc, ValueError | OverflowError):
        return Fault.DATA
    return Fault.UNKNOWN


def describe(exc: BaseException) -> str:
    """One line naming the exception, for logs and dead-letter reasons."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def database_reset() -> None:
    """Drop the database connection after a fault, so the next attempt opens a fresh one (a file that
    was read-only when it was opened stays so for that connection; a PostgreSQL connection may be
    dead). Not inside an outer transaction: that one is the caller's to end."""
    if not connection.in_atomic_block:
        connection.close()


class Backoff:
    """Waits out one fault at a time: exponential delays from first_s, capped at cap_s, each jittered
    down by up to half (so processes that failed together do not retry together).

    Logs one line when a fault starts and one when it clears. A fault that comes and goes (a nearly full
    disk, where each checkpoint frees room for a batch or two) is one fault: it clears only once things
    have worked for quiet_s since its last failure (or at close(), if the last try worked)."""

    def __init__(self, what: str, *, first_s: float = 0.05, cap_s: float = 5.0, quiet_s: float = 2.0) -> None:
        self.what = what
        self.first_s = first_s
        self.cap_s = cap_s
        self.quiet_s = quiet_s
        self.failures = 0  # since the fault started
        self.in_a_row = 0  # since the last success: sets the delay
        self.started = self.last_failed = 0.0
        # Called before each wait, e.g. to keep the entries held claimed (consumer.py).
        self.on_wait: Callable[[], None] | None = None

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException | str, *, stop: StopEvent) -> None:
        """Note a failure and wait before the next attempt. Raises Stopping if stop is set."""
        self.last_failed = time.monotonic()
        if not self.failures:
            self.started = self.last_failed
            reason = exc if isinstance(exc, str) else describe(exc)
            unknown = not isinstance(exc, str) and fault_kind(exc) is Fault.UNKNOWN
            logger.warning(
                "%s: %s; retrying with backoff until it works", self.what, reason, exc_info=unknown or None
            )
        self.failures += 1
        self.in_a_row += 1
        delay = min(self.cap_s, self.first_s * 2 ** min(self.in_a_row - 1, 30))
        if self.on_wait:
            self.on_wait()
        if stop.is_set() or stop.wait(delay * random.uniform(0.5, 1.0)):
            raise Stopping(self.what)

    def succeeded(self) -> None:
        if self.failures:
            self.in_a_row = 0
            if time.monotonic() - self.last_failed >= self.quiet_s:
                self._cleared()

    def close(self) -> None:
        """At the end of a run: a fault whose last try worked has cleared."""
        if self.failures and not self.in_a_row:
            self._cleared()

    def _cleared(self) -> None:
        logger.info(
            "%s: works again (it failed %d times over %.1f s)",
            self.what,
            self.failures,
            self.last_failed - self.started,
        )
        self.failures = 0

"""Sessions whose catch-up fails: whose fault it was, what is recorded, and when they are tried again.

The rule: a fault of the machine is never a session's fault, and a session's fault never stops another
session.
- A machine fault is one that says nothing about the events being derived: the database is locked,
  busy, full, read-only, gone or out of memory, the connection broke, the server cancelled the
  statement or rolled back a deadlock or serialisation conflict, the file system failed, the task ran
  out of time. `fault_is_machine` lists them. It aborts the catch-up run, which rolls back and is
  retried as a whole (the task's autoretry); no session is marked.
- Anything else (an overflow, a value no column takes, a bug a particular input reaches) is the
  session's fault: its catch-up is rolled back alone, the others carry on, and `session_failure_record`
  counts it on SessionProgress (failures, last_error, retry_at: 30 s after the first failure, doubling,
  at most an hour) and records it as a DataIssue of the session (kind DERIVE_FAILED). The session is
  not tried again before retry_at: its dirty mark stays, and the run due after that (beat sweeps every
  30 s, `sessions_retry_due`) takes it.
- The first catch-up of the session that succeeds resets the count and removes the DERIVE_FAILED issue,
  which describes the session's current state, not its history (so a rebuild agrees with it).
A list of machine faults rather than of data faults: a data fault taken for a machine one would stop
every session on every run, the failure this module exists to prevent; a machine fault taken for a
session's costs that session a delay of 30 s.
"""

import sqlite3
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, InterfaceError, OperationalError

from ..models import DataIssue, Session, SessionProgress
from .facts import IssueKind
from .rollups import project_unknown_id

DERIVE_FAILED = IssueKind.DERIVE_FAILED
BACKOFF_MIN = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)

# SQLite reports every one of these as OperationalError, like "integer overflow", which is the data's.
_SQLITE_MACHINE = ("locked", "busy", "disk i/o", "disk is full", "unable to open", "readonly",
                   "no such table", "no such column", "interrupted", "out of memory", "not a database",
                   "malformed")  # fmt: skip
# PostgreSQL SQLSTATE classes: 08 connection, 40 transaction rollback (deadlock, serialisation), 53
# insufficient resources (disk full, out of memory, too many connections), 57 operator intervention
# (cancelled, shutting down), 58 system error (I/O), XX internal error.
_POSTGRES_MACHINE = ("08", "40", "53", "57", "58", "XX")
# Raised by Celery in a task over its soft time limit (this layer does not import Celery).
_TIME_LIMIT = "SoftTimeLimitExceeded"


def fault_is_machine(exc: BaseException) -> bool:
    """Whether an exception is the machine's fault rather than the data's (see the module docstring)."""
    if isinstance(exc, OSError | MemoryError | InterfaceError) or type(exc).__name__ == _TIME_LIMIT:
        return True
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate:
        # 55P03: a lock not granted in time (the raw horizon's wait for a stalled writer, store/horizon.py).
        return sqlstate[:2] in _POSTGRES_MACHINE or sqlstate == "55P03"
    if isinstance(cause, sqlite3.Error):
        message = str(exc).lower()
        return isinstance(exc, OperationalError) and any(m in message for m in _SQLITE_MACHINE)
    return isinstance(exc, OperationalError)  # no SQLSTATE: the connection itself failed


def backoff(failures: int) -> timedelta:
    """How long a session that failed `failures` times in a row waits before its next try."""
    return min(BACKOFF_MIN * 2 ** min(max(failures - 1, 0), 20), BACKOFF_MAX)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def session_failure_record(
    *, platform: str, session_id: str, error: str, now: datetime | None = None
) -> SessionProgress:
    """Count a failed catch-up of the session, set its next try, and record the error as its data issue
    (in the caller's transaction, after the failed work was rolled back)."""
    now = now or datetime.now(UTC)
    progress, _ = SessionProgress.objects.get_or_create(platform=platform, session_id=session_id)
    progress.failures += 1
    progress.last_error = error[:500]
    progress.retry_at = now + backoff(progress.failures)
    progress.save(update_fields=["failures", "last_error", "retry_at", "updated_at"])
    session, _ = Session.objects.get_or_create(
        platform=platform, session_id=session_id, defaults={"project_id": project_unknown_id()}
    )
    DataIssue.objects.update_or_create(
        session=session, seq=0, kind=DERIVE_FAILED, defaults={"detail": progress.last_error}
    )
    Session.objects.filter(pk=session.pk).update(
        data_issues=DataIssue.objects.filter(session=session).count()
    )
    return progress


def session_failure_clear(*, progress: SessionProgress) -> None:
    """At a successful catch-up of a session that had failed: healthy again (the caller saves
    `progress`, in the same transaction)."""
    progress.failures = 0
    progress.last_error = ""
    progress.retry_at = None
    session = Session.objects.filter(platform=progress.platform, session_id=progress.session_id).first()
    if session is not None:
        DataIssue.objects.filter(session=session, kind=DERIVE_FAILED).delete()
        Session.objects.filter(pk=session.pk).update(
            data_issues=DataIssue.objects.filter(session=session).count()
        )


def sessions_retry_due(*, now: datetime | None = None) -> set[tuple[str, str]]:
    """Failing sessions whose next try is due (whether or not a dirty mark still names them)."""
    due = SessionProgress.objects.filter(failures__gt=0, retry_at__lte=now or datetime.now(UTC))
    return set(due.values_list("platform", "session_id"))

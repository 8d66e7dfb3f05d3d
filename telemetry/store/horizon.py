"""Which raw rows are final: the slow path's watermark must never move past a row that has yet to commit.

A raw row's seq is allocated when it is inserted, but it becomes visible when its transaction commits.
On SQLite one writer holds the write lock from its first insert to its commit, so seq order is commit
order and every row a reader sees below the newest seq is final. On PostgreSQL several fast-path
consumers write at once and sequence values are not commit-ordered: a batch that took seq 100 can
commit after one that took 101, and a catch-up that read 101 would have moved its watermark past 100
for good.

So on PostgreSQL every writer of raw rows holds WRITE_LOCK shared, from before its first insert until
its commit (`raw_writes_begin`, in the writer's transaction), and `raw_horizon` takes it exclusively for
an instant and reads each table's newest seq. At that instant no write is in flight: every seq allocated
so far belongs to a transaction that committed or rolled back, and any later insert gets a larger seq.
The slow path reads no row past the horizon; rows after it wait for the next catch-up, which their own
fast-path notification (sent after their commit) asks for. Writers never wait for each other, only,
for the instant of a horizon, for the slow path.
"""

from django.conf import settings
from django.db import connection

from ..models import RAW_TRACE_MODELS

WRITE_LOCK = 0x62705F7277  # "bp_rw": a key of this project's own in PostgreSQL's advisory lock space


def raw_writes_begin(cursor) -> None:
    """Called first in a transaction that inserts raw rows (see the module docstring)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [WRITE_LOCK])


def raw_horizon() -> dict[str, int] | None:
    """The newest seq of each platform's raw table below which every row is final, or None where every
    visible row is (SQLite). Waits at most settings.RAW_HORIZON_WAIT_MS for writes in flight; longer
    (a writer stalled inside its transaction) raises the database's lock timeout, a fault of the
    machine: the catch-up is tried again later.

    The exclusive lock is a session lock, released at once, so it is never held for the rest of a
    caller's transaction. Callers take the horizon before their transaction where they can; inside
    one (a test's), a lock timeout aborts that transaction, which the caller rolls back."""
    if connection.vendor != "postgresql":
        return None
    local = connection.in_atomic_block  # set_config's is_local: the setting ends with the transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        before = cursor.fetchone()[0]
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, %s)", [f"{settings.RAW_HORIZON_WAIT_MS}ms", local]
        )
        try:
            cursor.execute("SELECT pg_advisory_lock(%s)", [WRITE_LOCK])
        except Exception:
            if not local:  # inside a transaction, it is aborted now; its rollback restores the setting
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [before])
            raise
        try:
            horizon = {}
            for platform, model in RAW_TRACE_MODELS.items():
                cursor.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {model._meta.db_table}")
                horizon[platform] = cursor.fetchone()[0]
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [WRITE_LOCK])
            cursor.execute("SELECT set_config('lock_timeout', %s, %s)", [before, local])
    return horizon

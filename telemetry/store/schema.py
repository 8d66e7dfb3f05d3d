"""The database schema when several hosts share one database: one migration at a time, and roles that
do not migrate wait for the schema instead of failing on missing tables.

On PostgreSQL every `migrate` (the web role's `blueplane up`, `blueplane manage migrate`, `token create`)
holds a session-level advisory lock for its whole run: two hosts started at once migrate one after the
other, and the second finds nothing left to apply. Django's own migrate has no such guard, and two of
them racing fail on a table the other just created. SQLite serves one host, whose writers already queue
on the database's own lock (IMMEDIATE transactions).
"""

import contextlib
import logging
import threading
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

# A key of this project's own in PostgreSQL's advisory lock space ("bp_mig"), apart from the fast path's
# write lock (store/horizon.py).
MIGRATE_LOCK = 0x62705F6D6967


@contextlib.contextmanager
def migrate_lock(*, database: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Hold the migration lock (PostgreSQL; nothing elsewhere) for the duration of the block."""
    connection = connections[database]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK])
        if not cursor.fetchone()[0]:
            logger.info("another host is migrating the database: waiting for it")
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK])


def schema_current(*, database: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether every migration is applied. False also while the database does not answer."""
    from django.db.migrations.executor import MigrationExecutor
    from django.db.utils import DatabaseError

    connection = connections[database]
    try:
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return False
    finally:
        connection.close()  # a waiting role holds no connection between looks


def schema_wait(*, cancel: threading.Event, interval_s: float = 2.0) -> bool:
    """Wait until the schema is current (another host's web role, or `blueplane manage migrate`, applies
    it). Returns False when cancel was set first."""
    said = False
    while not schema_current():
        if not said:
            logger.info(
                "waiting for the database to be migrated (by a web role, or `blueplane manage migrate`)"
            )
            said = True
        if cancel.wait(interval_s):
            return False
    logger.info("database ready")
    return True

"""The store's SQLite database, found and opened read-only with the standard library alone.

For what must answer before Django could even start (~0.3 s): `blueplane report` and the statusline.
They read the rollups and sessions the selectors read, with the same sums (the tests hold them to the
API's answers). Nothing here imports Django or a third-party package: the statusline runs under
`python -I -S`. The path and the opening are sqlitefile.py's (the statusline uses it alone).
"""

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from .sqlitefile import StoreUnavailable, database_file, readonly_open

__all__ = ["StoreUnavailable", "connect", "database_path", "project_known"]


def database_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The SQLite file Django uses, or StoreUnavailable when the store is not SQLite."""
    return Path(database_file(environ))


def connect(environ: Mapping[str, str] = os.environ, *, table: str = "sessions") -> sqlite3.Connection:
    """A read-only connection to the store, which must already hold `table` (it is migrated). Waits
    up to 2 s for a writer's lock, as a reader of a WAL database rarely has to."""
    path = database_path(environ)
    if not path.is_file():
        raise StoreUnavailable("no data yet: the database is not set up; `blueplane up` sets it up")
    try:
        db = readonly_open(str(path))
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        if found.fetchone() is None:
            db.close()
            raise StoreUnavailable("no data yet: the database is not migrated; `blueplane up` migrates it")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"the database cannot be read: {exc}") from None
    return db


def project_known(db: sqlite3.Connection, project: str) -> bool:
    """Whether a project has this key or name (the reports' --project takes either)."""
    found = db.execute("SELECT 1 FROM projects WHERE key = ? OR name = ? LIMIT 1", (project, project))
    return found.fetchone() is not None

"""The store's SQLite database, found and opened read-only with the standard library alone.

For what must answer before Django could even start (~0.3 s): `blueplane report` and the statusline.
They read the rollups and sessions the selectors read, with the same sums (the tests hold them to the
API's answers). Nothing here imports Django or a third-party package: the statusline runs under
`python -I -S`. The path follows blueplane/settings.py (`_database`): $BLUEPLANE_DATABASE_URL when it
is a sqlite:// URL, else $BLUEPLANE_HOME/telemetry.db.
"""

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit


class StoreUnavailable(Exception):
    """The store cannot be read this way: not created yet, not migrated, or not SQLite (PostgreSQL is
    read through Django). The message says which, in words for the user."""


def database_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The SQLite file Django uses, or StoreUnavailable when the store is not SQLite."""
    url = environ.get("BLUEPLANE_DATABASE_URL")
    if url is None:
        home = Path(environ.get("BLUEPLANE_HOME", "").strip() or "~/.blueplane").expanduser()
        return home / "telemetry.db"
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise StoreUnavailable("the store is not SQLite (BLUEPLANE_DATABASE_URL)")
    # As dj-database-url reads it: sqlite:////abs/path is /abs/path, sqlite:///rel is rel.
    name = unquote(parts.path[1:])
    if name in ("", ":memory:"):
        raise StoreUnavailable("the store is an in-memory database")
    return Path(name)


def connect(environ: Mapping[str, str] = os.environ, *, table: str = "sessions") -> sqlite3.Connection:
    """A read-only connection to the store, which must already hold `table` (it is migrated). Waits
    up to 2 s for a writer's lock, as a reader of a WAL database rarely has to."""
    path = database_path(environ)
    if not path.is_file():
        raise StoreUnavailable("no data yet: the database is not set up; `blueplane up` sets it up")
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0)
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        if found.fetchone() is None:
            db.close()
            raise StoreUnavailable("no data yet: the database is not migrated; `blueplane up` migrates it")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"the database cannot be read: {exc}") from None
    return db

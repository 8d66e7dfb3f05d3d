"""The store's SQLite file, found and opened read-only with `os` and `sqlite3` alone.

The statusline runs under `python -I -S` at every prompt and has ~50 ms in all, interpreter included:
pathlib and urllib.parse cost ~10 ms each to import there, so they are left to readonly.py (which
builds on this) and loaded here only for a BLUEPLANE_DATABASE_URL. The path follows
blueplane/settings.py (`_database`): $BLUEPLANE_DATABASE_URL when it is a sqlite:// URL, else
$BLUEPLANE_HOME/telemetry.db.
"""

import os
import sqlite3
from collections.abc import Mapping


class StoreUnavailable(Exception):
    """The store cannot be read this way: not created yet, not migrated, or not SQLite (PostgreSQL is
    read through Django). The message says which, in words for the user."""


def database_file(environ: Mapping[str, str] = os.environ) -> str:
    """The SQLite file Django uses, or StoreUnavailable when the store is not SQLite."""
    url = environ.get("BLUEPLANE_DATABASE_URL")
    if url is None:
        home = environ.get("BLUEPLANE_HOME", "").strip() or "~/.blueplane"
        return os.path.join(os.path.expanduser(home), "telemetry.db")
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise StoreUnavailable("the store is not SQLite (BLUEPLANE_DATABASE_URL)")
    # As dj-database-url reads it: sqlite:////abs/path is /abs/path, sqlite:///rel is rel.
    name = unquote(parts.path[1:])
    if name in ("", ":memory:"):
        raise StoreUnavailable("the store is an in-memory database")
    return name


def readonly_open(path: str, *, timeout_s: float = 2.0) -> sqlite3.Connection:
    """A read-only connection to the file at path (which must exist: sqlite3.Error otherwise)."""
    # In an SQLite URI only %, ? and # are special in the path.
    escaped = path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
    return sqlite3.connect(f"file:{escaped}?mode=ro", uri=True, timeout=timeout_s)

"""Reading Cursor's SQLite files, read-only, and only the keys Blueplane needs.

Guarantees (docs: cursor-formats §3.1, §5):
- Every file is opened with a `file:...?mode=ro` URI and a short busy timeout: never written, no pragma
  that writes, no `immutable=1` (which skips the WAL, where the newest turns are), never copied.
- Only these are ever selected: global `cursorDiskKV` keys `composerData:*` and `bubbleId:<c>:<b>` (by
  exact key), workspace `ItemTable` keys in WORKSPACE_KEYS, and the tracking database's
  `ai_code_hashes` and `scored_commits` rows. Never `cursorAuth/*` or any other `ItemTable` key: they
  hold login tokens.
- A value may be TEXT, a UTF-8 BLOB or SQL NULL; NULL and undecodable values come back as None.

A locked or busy database raises sqlite3.OperationalError; the caller retries on its next poll.
"""

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

import orjson

BUSY_TIMEOUT_S = 0.05
BATCH_KEYS = 500  # keys per `key IN (...)`: well under SQLite's variable limit
COMPOSER_PREFIX = "composerData:"
BUBBLE_PREFIX = "bubbleId:"
WORKSPACE_COMPOSERS = "composer.composerData"
WORKSPACE_TABS = "workbench.panel.aichat.view.aichat.chatdata"
WORKSPACE_GENERATIONS = "aiService.generations"
WORKSPACE_KEYS = (WORKSPACE_COMPOSERS, WORKSPACE_TABS, WORKSPACE_GENERATIONS)
AI_CODE_COLUMNS = (
    "hash", "source", "fileExtension", "fileName", "requestId", "conversationId", "timestamp", "createdAt",
    "model",
)  # fmt: skip


@contextmanager
def connect_ro(path: str, *, timeout_s: float = BUSY_TIMEOUT_S) -> Iterator[sqlite3.Connection]:
    """A read-only connection to one of Cursor's databases, closed on exit."""
    uri = f"file:{quote(path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)
    try:
        yield conn
    finally:
        conn.close()


def value_json(value: object) -> object | None:
    """A stored value as JSON: TEXT or a UTF-8 BLOB; None for NULL, bad UTF-8 or bad JSON."""
    if value is None:
        return None
    try:
        return orjson.loads(value if isinstance(value, bytes | str) else str(value))
    except orjson.JSONDecodeError:
        return None


def composer_key(composer_id: str) -> str:
    return COMPOSER_PREFIX + composer_id


def bubble_key(composer_id: str, bubble_id: str) -> str:
    return f"{BUBBLE_PREFIX}{composer_id}:{bubble_id}"


def key_parse(key: str) -> tuple[str, str, str] | None:
    """('composer', composerId, '') or ('bubble', composerId, bubbleId) for a key we read, else None."""
    if key.startswith(COMPOSER_PREFIX):
        return "composer", key[len(COMPOSER_PREFIX) :], ""
    if key.startswith(BUBBLE_PREFIX):
        composer, sep, bubble = key[len(BUBBLE_PREFIX) :].partition(":")
        return ("bubble", composer, bubble) if sep else None
    return None


def composers_read(conn: sqlite3.Connection) -> Iterator[tuple[str, bytes | str | None]]:
    """(composerId, raw value) of every global `composerData:*` row."""
    # A range on the key (the table's UNIQUE index) rather than LIKE, which cannot use it.
    rows = conn.execute(
        "SELECT key, value FROM cursorDiskKV WHERE key >= ? AND key < ?",
        (COMPOSER_PREFIX, COMPOSER_PREFIX[:-1] + ";"),
    )
    for key, value in rows:
        yield key[len(COMPOSER_PREFIX) :], value


def values_read(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, bytes | str | None]:
    """The raw values of these exact cursorDiskKV keys (absent keys are left out), in batches."""
    keys = list(keys)
    out: dict[str, bytes | str | None] = {}
    for start in range(0, len(keys), BATCH_KEYS):
        chunk = keys[start : start + BATCH_KEYS]
        marks = ",".join("?" * len(chunk))
        out.update(conn.execute(f"SELECT key, value FROM cursorDiskKV WHERE key IN ({marks})", chunk))
    return out


def rows_after(conn: sqlite3.Connection, rowid: int) -> list[tuple[int, str]]:
    """(rowid, key) of the composer and bubble rows written since `rowid`.

    Cursor's tables declare `key UNIQUE ON CONFLICT REPLACE`, so every write of a key inserts a new row
    with a rowid above every existing one: rows past the highest rowid seen are exactly what changed."""
    return conn.execute(
        "SELECT rowid, key FROM cursorDiskKV WHERE rowid > ? AND (key >= ? AND key < ? OR key >= ? AND key < ?)",
        (rowid, BUBBLE_PREFIX, BUBBLE_PREFIX[:-1] + ";", COMPOSER_PREFIX, COMPOSER_PREFIX[:-1] + ";"),
    ).fetchall()


def top_row(conn: sqlite3.Connection) -> tuple[int, str]:
    """(highest rowid, a signature of that row). If that row is deleted, the next new row can take its
    rowid, which rows_after would then miss: a changed signature says to read everything again."""
    row = conn.execute(
        "SELECT rowid, key, length(value) FROM cursorDiskKV ORDER BY rowid DESC LIMIT 1"
    ).fetchone()
    return (0, "") if row is None else (row[0], f"{row[1]}:{row[2]}")


def top_check(conn: sqlite3.Connection, rowid: int, signature: str) -> bool:
    """Whether the row at `rowid` is still the one top_row() described."""
    if rowid == 0:
        return True
    row = conn.execute("SELECT key, length(value) FROM cursorDiskKV WHERE rowid = ?", (rowid,)).fetchone()
    return row is not None and f"{row[0]}:{row[1]}" == signature


def workspace_read(conn: sqlite3.Connection) -> dict[str, bytes | str | None]:
    """The workspace ItemTable values Blueplane reads (WORKSPACE_KEYS), by key; nothing else."""
    marks = ",".join("?" * len(WORKSPACE_KEYS))
    return dict(conn.execute(f"SELECT key, value FROM ItemTable WHERE key IN ({marks})", WORKSPACE_KEYS))


def tracking_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Columns of a tracking table (older schemas lack some); [] when the table does not exist."""
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]  # read-only pragma


def ai_code_read(conn: sqlite3.Connection, *, after_rowid: int = 0) -> list[tuple[int, dict]]:
    """(rowid, row) of the `ai_code_hashes` rows past a rowid (rows are only ever added)."""
    have = tracking_columns(conn, "ai_code_hashes")
    columns = [c for c in AI_CODE_COLUMNS if c in have]
    if "hash" not in columns:
        return []
    rows = conn.execute(
        f"SELECT rowid, {', '.join(columns)} FROM ai_code_hashes WHERE rowid > ? ORDER BY rowid",
        (after_rowid,),
    )
    return [(row[0], dict(zip(columns, row[1:], strict=True))) for row in rows]


def scored_commits_read(conn: sqlite3.Connection) -> list[dict]:
    """Every `scored_commits` row, all columns (the table holds one row per commit and branch)."""
    if not tracking_columns(conn, "scored_commits"):
        return []
    cursor = conn.execute("SELECT * FROM scored_commits")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]

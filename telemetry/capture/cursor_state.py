"""What the Cursor monitor remembers between polls and restarts: a small SQLite file of its own under
$BLUEPLANE_HOME/capture (never one of Cursor's files), or memory for a one-off import.

- `sent`: per Cursor record (`composer:<id>`, `bubble:<c>:<b>`, `generation:<id>`, `aicode:<hash>`,
  `commit:<hash>:<branch>`) the revision last accepted by Redis, and for composers and bubbles what
  their neighbours need (a bubble's position, own time and selected model; a composer's workspace, era
  and times).
- `requests`: requestId (= generationUUID) -> composerId, to join generations.
- `meta`: file signatures and rowid cursors, JSON.

Changes are staged and written only after Redis accepted the events they describe (at-least-once): a
crash re-sends, and the deterministic ids make that harmless. SQLite rather than one JSON file because a
large Cursor history holds 100,000s of bubbles, and each poll changes a handful.
"""

import os
import sqlite3

import orjson

from .cursor_records import Memo

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, revision TEXT NOT NULL, memo TEXT);
CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, composer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CursorState:
    def __init__(self, path: str | None) -> None:
        """`path` None keeps everything in memory (an import remembers nothing)."""
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.db = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
        if path:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.staged_sent: dict[str, tuple[str, str | None]] = {}
        self.staged_requests: dict[str, str] = {}
        self.staged_meta: dict[str, object] = {}

    def close(self) -> None:
        self.db.close()

    # --- reads (staged values first: a poll sees its own changes) ---

    def revision(self, key: str) -> str | None:
        if key in self.staged_sent:
            return self.staged_sent[key][0]
        row = self.db.execute("SELECT revision FROM sent WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def memos(self, composer_id: str) -> dict[str, Memo]:
        """The bubbles of a composer already sent, by bubbleId."""
        prefix = f"bubble:{composer_id}:"
        rows = self.db.execute(
            "SELECT key, revision, memo FROM sent WHERE key >= ? AND key < ?", (prefix, prefix[:-1] + ";")
        ).fetchall()
        rows += [(k, r, m) for k, (r, m) in self.staged_sent.items() if k.startswith(prefix)]
        out = {}
        for key, revision, memo in rows:
            position, own_ms, user_model = orjson.loads(memo)
            out[key[len(prefix) :]] = Memo(revision, position, own_ms, user_model)
        return out

    def composers(self) -> dict[str, dict]:
        """Every composer sent: its memo ({workspace, era, created, last}) by composerId."""
        rows = self.db.execute(
            "SELECT key, memo FROM sent WHERE key >= 'composer:' AND key < 'composer;'"
        ).fetchall()
        return {key[len("composer:") :]: orjson.loads(memo or b"{}") for key, memo in rows}

    def request_composer(self, request_id: str) -> str | None:
        if request_id in self.staged_requests:
            return self.staged_requests[request_id]
        row = self.db.execute("SELECT composer FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return row[0] if row else None

    def meta(self, name: str, default: object = None) -> object:
        if name in self.staged_meta:
            return self.staged_meta[name]
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return orjson.loads(row[0]) if row else default

    # --- staged writes ---

    def stage_sent(self, key: str, revision: str, memo: object = None) -> None:
        self.staged_sent[key] = (revision, None if memo is None else orjson.dumps(memo).decode())

    def stage_bubble(self, key: str, memo: Memo) -> None:
        self.stage_sent(key, memo.revision, [memo.position, memo.own_ms, memo.user_model])

    def stage_request(self, request_id: str, composer_id: str) -> None:
        self.staged_requests[request_id] = composer_id

    def stage_meta(self, name: str, value: object) -> None:
        self.staged_meta[name] = value

    def commit(self) -> None:
        """Write what was staged, in one transaction: call after Redis accepted the events."""
        if not (self.staged_sent or self.staged_requests or self.staged_meta):
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO sent (key, revision, memo) VALUES (?, ?, ?)",
                [(k, r, m) for k, (r, m) in self.staged_sent.items()],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO requests (request_id, composer) VALUES (?, ?)",
                list(self.staged_requests.items()),
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [(k, orjson.dumps(v).decode()) for k, v in self.staged_meta.items()],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.discard()

    def discard(self) -> None:
        """Forget what was staged (Redis refused the events: they are read and sent again)."""
        self.staged_sent, self.staged_requests, self.staged_meta = {}, {}, {}

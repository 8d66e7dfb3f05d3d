"""The Cursor database monitor: read Cursor's databases (read-only), send what is new or changed.

Guarantee: every conversation, referenced message, joinable generation, scored commit and AI code row
in Cursor's databases reaches the event stream at least once, in its latest revision, and a poll that
finds nothing new sends nothing. It is cheap on large databases:
- a database whose file signature (size and mtime of the file and its `-wal`) has not changed since the
  last poll is not opened at all;
- in the global database only rows written since the last poll are looked at: Cursor's tables are
  `key UNIQUE ON CONFLICT REPLACE`, so every write is a new row with a rowid above all others
  (cursor_db.rows_after; a deleted top row makes it read everything again), and only the changed
  composers' new or changed bubbles are fetched (`key IN (...)`);
- what was sent (revisions, and what a bubble's neighbours need) is kept in CursorState, which is
  written only after Redis accepted the events, so a crash re-sends and a restart re-sends nothing.

A database that is locked, busy or half-written is logged once and read again on the next poll; a
malformed row is skipped (logged once) until Cursor writes it again. Nothing here raises for Cursor's
data; only Redis errors leave poll(), with nothing marked as sent.

The same object, with an in-memory state and one poll, is `blueplane import cursor`.
"""

import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable

import orjson
import redis

from ..wire import EVENTS_STREAM
from . import cursor_db as db
from .cursor_conversations import WorkspaceData, composer_conversation, workspace_data
from .cursor_paths import CursorPaths, Workspace, cursor_paths, workspaces_find
from .cursor_records import Conversation, Record, conversation_records, place_metadata
from .cursor_state import CursorState
from .cursor_tracking import (
    TIME_JOIN_ERAS,
    ai_code_record,
    generation_record,
    scored_commit_record,
    time_join,
)
from .privacy import Privacy

logger = logging.getLogger(__name__)

FLUSH_EVENTS = 500  # envelopes per XADD pipeline (and per state commit)

Send = Callable[[list[bytes]], None]


def file_sig(path: str) -> list | None:
    """(size, mtime_ns) of a database and of its -wal; None when the database does not exist."""
    sig = []
    for name in (path, path + "-wal"):
        try:
            st = os.stat(name)
        except OSError:
            if name == path:
                return None
            sig.append(None)
            continue
        sig.append([st.st_size, st.st_mtime_ns])
    return sig


def redis_send(client: redis.Redis, stream: str = EVENTS_STREAM) -> Send:
    def send(envelopes: list[bytes]) -> None:
        pipe = client.pipeline(transaction=False)
        for envelope in envelopes:
            pipe.xadd(stream, {"event": envelope})
        pipe.execute()

    return send


class CursorMonitor:
    """Polls Cursor's databases under `home`; call poll() repeatedly."""

    def __init__(
        self,
        *,
        home: str,
        privacy: Privacy,
        send: Send,
        state: CursorState,
        user_dir: str | None = None,
        locate: Callable[[str], str] | None = None,
    ) -> None:
        self.home, self.privacy, self.send, self.state = home, privacy, send, state
        self.user_dir, self.locate = user_dir, locate
        self.paths: CursorPaths = cursor_paths(home=home, user_dir=user_dir, locate=locate)
        self._storage_sig: int | None = None
        self.workspaces: dict[str, WorkspaceData] = {}
        self.heads: dict[str, tuple[Workspace, dict]] = {}
        self.composer_memos: dict[str, dict] = state.composers()
        self.pending: list[bytes] = []
        self.troubled: dict[str, str] = {}
        self.bad_rows: set[str] = set()
        self.counts: Counter = Counter()  # (workspace id or "", event type, detail) -> events sent
        self.progress = None  # an object with update(n) and a settable total (tqdm), for the import
        self._ws_sigs: dict[str, list | None] = {}  # of workspaces read this poll, staged once sent

    @classmethod
    def from_settings(cls, client: redis.Redis) -> "CursorMonitor":
        """The monitor runcapture runs: Cursor's data under HOME (or BLUEPLANE_CURSOR_USER_DIR), this
        install's privacy filter, state under BLUEPLANE_HOME, events to the stream."""
        from django.conf import settings

        from .runtime import cursor_state_path, privacy_get

        return cls(
            home=os.path.expanduser("~"),
            privacy=privacy_get(),
            send=redis_send(client),
            state=CursorState(cursor_state_path()),
            user_dir=settings.CURSOR_USER_DIR,
        )

    # --- the poll ------------------------------------------------------------------------------------

    def poll(self) -> int:
        """Send what is new or changed since the last poll. Returns the number of events sent; 0 means
        idle. Raises redis-py's errors when Redis refuses; nothing is marked as sent then."""
        sent_before = sum(self.counts.values())
        try:
            self._workspaces_refresh()
            marked: set[str] = set()
            read_ws = [ws for ws in self.paths.workspaces if self._workspace_read(ws, marked)]
            changed = bool(read_ws)
            changed |= self._global_poll(marked)
            for ws in read_ws:
                self._workspace_conversations(ws)
            if changed:
                self._generations()
            self._tracking_poll()
            self._flush()
        except BaseException:
            self.pending = []
            self.state.discard()
            raise
        return sum(self.counts.values()) - sent_before

    def _emit(self, record: Record, *, workspace: str | None, detail: str = "") -> None:
        self.pending.append(orjson.dumps(record.envelope))
        self.counts[(workspace or "", record.envelope["event_type"], detail)] += 1
        if len(self.pending) >= FLUSH_EVENTS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.send(self.pending)
            self.pending = []
        self.state.commit()

    def _trouble(self, path: str, exc: Exception) -> None:
        if self.troubled.get(path) != str(exc):
            logger.warning("cursor: cannot read %s now (%s); retrying on the next poll", path, exc)
        self.troubled[path] = str(exc)

    def _fine(self, path: str) -> None:
        if self.troubled.pop(path, None) is not None:
            logger.info("cursor: %s is readable again", path)

    def _bad_row(self, key: str, path: str) -> None:
        if key not in self.bad_rows:
            self.bad_rows.add(key)
            logger.warning("cursor: %s in %s is not JSON; skipped until Cursor writes it again", key, path)

    # --- workspaces ----------------------------------------------------------------------------------

    def _workspaces_refresh(self) -> None:
        """List workspaceStorage again when a workspace folder was added or removed."""
        storage = os.path.join(self.paths.user_dir, "workspaceStorage")
        try:
            sig = os.stat(storage).st_mtime_ns
        except OSError:
            sig = None
        if sig != self._storage_sig:
            self._storage_sig = sig
            found = tuple(workspaces_find(self.paths.user_dir, locate=self.locate))
            self.paths = CursorPaths(self.paths.user_dir, self.paths.global_db, self.paths.tracking_db, found)

    def _workspace_read(self, ws: Workspace, marked: set[str]) -> bool:
        """Read a workspace database if it changed; its changed heads go into `marked`. Returns whether
        it was read."""
        sig = file_sig(ws.db)
        if ws.id in self.workspaces and sig == self.state.meta(f"sig:{ws.db}"):
            return False
        try:
            with db.connect_ro(ws.db) as conn:
                values = db.workspace_read(conn)
        except sqlite3.Error as exc:
            self._trouble(ws.db, exc)
            return False
        self._fine(ws.db)
        data = workspace_data(ws, values)
        old = self.workspaces.get(ws.id)
        for composer_id, head in data.heads.items():
            if old is None or old.heads.get(composer_id) != head:
                marked.add(composer_id)
            self.heads[composer_id] = (ws, head)
        self.workspaces[ws.id] = data
        self._ws_sigs[ws.db] = sig
        return True

    def _workspace_conversations(self, ws: Workspace) -> None:
        """Send the v0 composers and legacy chat tabs of a workspace that was read, then its signature."""
        if self.progress is not None:
            self.progress.total = (self.progress.total or 0) + len(self.workspaces[ws.id].conversations)
        for conv in self.workspaces[ws.id].conversations:
            if self.composer_memos.get(conv.composer_id, {}).get("era") in ("v1", "v2"):
                continue  # migrated: the global row is the conversation
            self._conversation(conv, bubbles=conv.inline)
        self.state.stage_meta(f"sig:{ws.db}", self._ws_sigs.pop(ws.db))

    # --- conversations -------------------------------------------------------------------------------

    def _conversation(self, conv: Conversation, *, bubbles: dict[str, dict]) -> None:
        memos = self.state.memos(conv.composer_id)
        composer, records, built = conversation_records(
            conv, bubbles=bubbles, memos=memos, privacy=self.privacy
        )
        ws_id = conv.workspace.id if conv.workspace else None
        for record in records:
            bubble_id = record.key.rsplit(":", 1)[1]
            payload = record.envelope["payload"]
            if payload["request_id"] and self.state.request_composer(payload["request_id"]) is None:
                self.state.stage_request(payload["request_id"], conv.composer_id)
            memo = memos.get(bubble_id)
            if memo is None or memo.revision != record.revision:
                tool = payload["tool"]
                self._emit(
                    record, workspace=ws_id, detail=f"{payload['role']}:{tool['kind'] if tool else ''}"
                )
                self.state.stage_bubble(record.key, built[bubble_id])
        if composer is None:
            logger.info("cursor: conversation %s has no time in Cursor's data; not sent", conv.composer_id)
            return
        payload = composer.envelope["payload"]
        memo = {
            "workspace": ws_id, "era": conv.era,
            "created": payload["created_at_ms"], "last": payload["last_updated_at_ms"],
        }  # fmt: skip
        if self.state.revision(composer.key) != composer.revision:
            self._emit(composer, workspace=ws_id)
            self.state.stage_sent(composer.key, composer.revision, memo)
        self.composer_memos[conv.composer_id] = memo
        if self.progress is not None:
            self.progress.update(1)

    def _global_poll(self, marked: set[str]) -> bool:
        """Read the global database's changed composers and bubbles. Returns whether it was read."""
        path = self.paths.global_db
        sig = file_sig(path)
        if sig is None or (sig == self.state.meta("sig:global") and not marked):
            return False
        cursor = self.state.meta("cursor:global")
        try:
            with db.connect_ro(path) as conn:
                conn.execute("BEGIN")  # one snapshot for the whole read
                top = db.top_row(conn)
                full = cursor is None or top[0] < cursor[0] or not db.top_check(conn, cursor[0], cursor[1])
                if full:
                    changed_keys: set[str] = set()
                    composers = dict(db.composers_read(conn))
                else:
                    changed_keys = {key for _, key in db.rows_after(conn, cursor[0])}
                    ids = {db.key_parse(key)[1] for key in changed_keys} | marked
                    raw = db.values_read(conn, [db.composer_key(c) for c in sorted(ids)])
                    composers = {key[len(db.COMPOSER_PREFIX) :]: value for key, value in raw.items()}
                if self.progress is not None:
                    self.progress.total = (self.progress.total or 0) + len(composers)
                for composer_id, value in sorted(composers.items()):
                    self._composer(conn, composer_id, value, full=full, changed_keys=changed_keys)
                conn.rollback()
        except sqlite3.Error as exc:
            self._trouble(path, exc)
            return False
        self._fine(path)
        self.state.stage_meta("sig:global", sig)
        self.state.stage_meta("cursor:global", list(top))
        return True

    def _composer(
        self, conn: sqlite3.Connection, composer_id: str, value: object, *, full: bool, changed_keys: set[str]
    ) -> None:
        data = db.value_json(value)
        if not isinstance(data, dict):
            if value is not None:
                self._bad_row(db.composer_key(composer_id), self.paths.global_db)
            return
        ws, head = self.heads.get(composer_id, (None, None))
        conv = composer_conversation(composer_id, data, workspace=ws, head=head)
        if conv.era == "v1":
            self._conversation(conv, bubbles=conv.inline)
            return
        memos = self.state.memos(composer_id)
        moved = self.composer_memos.get(composer_id, {}).get("workspace") != (ws.id if ws else None)
        need = []
        for position, (bubble_id, _) in enumerate(conv.headers):
            memo = memos.get(bubble_id)
            key = db.bubble_key(composer_id, bubble_id)
            if (
                full
                or moved
                or memo is None
                or memo.position != position
                or memo.own_ms is None  # interpolated: its neighbours may have changed
                or key in changed_keys
            ):
                need.append(key)
        bubbles = {}
        for key, raw in db.values_read(conn, need).items():
            parsed = db.value_json(raw)
            if isinstance(parsed, dict):
                bubbles[key.rsplit(":", 1)[1]] = parsed
            elif raw is not None:
                self._bad_row(key, self.paths.global_db)
        self._conversation(conv, bubbles=bubbles)

    # --- generations and the AI tracking database ----------------------------------------------------

    def _generations(self) -> None:
        """Send the generations that can now be joined to a conversation."""
        for ws_id, data in self.workspaces.items():
            windows = [
                (cid, memo.get("created"), memo.get("last"))
                for cid, memo in self.composer_memos.items()
                if memo.get("workspace") == ws_id and memo.get("era") in TIME_JOIN_ERAS
            ]
            workspace = next((ws for ws in self.paths.workspaces if ws.id == ws_id), None)
            for generation in data.generations:
                key = f"generation:{generation['generationUUID']}"
                if self.state.revision(key) is not None:
                    continue
                composer_id, joined = self.state.request_composer(generation["generationUUID"]), "request"
                if composer_id is None:
                    composer_id, joined = time_join(int(generation["unixMs"]), windows), "time"
                if composer_id is None:
                    continue
                record = generation_record(
                    generation,
                    composer_id=composer_id,
                    joined=joined,
                    place=place_metadata(workspace, self.privacy),
                )
                if record is not None:
                    self._emit(record, workspace=ws_id)
                    self.state.stage_sent(key, "1")

    def _tracking_poll(self) -> None:
        path = self.paths.tracking_db
        sig = file_sig(path)
        if sig is None or sig == self.state.meta("sig:tracking"):
            return
        after = int(self.state.meta("cursor:tracking", 0))
        try:
            with db.connect_ro(path) as conn:
                conn.execute("BEGIN")
                code_rows = db.ai_code_read(conn, after_rowid=after)
                commits = db.scored_commits_read(conn)
                conn.rollback()
        except sqlite3.Error as exc:
            self._trouble(path, exc)
            return
        self._fine(path)
        for rowid, row in code_rows:
            after = max(after, rowid)
            memo = self.composer_memos.get(row.get("conversationId") or "", {})
            workspace = next((ws for ws in self.paths.workspaces if ws.id == memo.get("workspace")), None)
            root = workspace.roots[0] if workspace and workspace.roots else None
            record = ai_code_record(
                row, root=root, place=place_metadata(workspace, self.privacy), privacy=self.privacy
            )
            if record is not None and self.state.revision(record.key) != record.revision:
                self._emit(record, workspace=workspace.id if workspace else None)
                self.state.stage_sent(record.key, record.revision)
        for row in commits:
            record = scored_commit_record(row, privacy=self.privacy)
            if record is not None and self.state.revision(record.key) != record.revision:
                self._emit(record, workspace=None)
                self.state.stage_sent(record.key, record.revision)
        self.state.stage_meta("sig:tracking", sig)
        self.state.stage_meta("cursor:tracking", after)

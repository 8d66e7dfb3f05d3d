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

import hashlib
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import redis

from ..wire import EVENTS_STREAM
from . import cursor_db as db
from .cursor_conversations import WorkspaceData, composer_conversation, workspace_data
from .cursor_paths import CursorPaths, Workspace, cursor_paths, workspaces_find
from .cursor_records import Conversation, Memo, Record, conversation_records, ms_of, place_metadata
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
COMPOSER_BATCH = 50  # composerData rows read at a time

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


def head_digest(head: dict) -> str:
    """A workspace head's content, to tell after a restart whether it changed while we were away."""
    return hashlib.blake2b(orjson.dumps(head, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


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
        self.requests_seen: set[str] = set()
        self.generations_done: set[str] = state.keys("generation:")
        # What this poll touched, so that only the generations it may have made joinable are looked at.
        self._new_requests: set[str] = set()
        self._time_joinable: set[str] = set()  # workspaces with a v0/v1 conversation read this poll
        self._ws_sigs: dict[str, list | None] = {}  # of workspaces read this poll, staged once sent
        self._ws_digests: dict[str, bytes] = {}  # of the values last read from each workspace

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
            self._new_requests, self._time_joinable = set(), set()
            read_ws = [ws for ws in self.paths.workspaces if self._workspace_read(ws, marked)]
            self._global_poll(marked)
            for ws in read_ws:
                self._workspace_conversations(ws)
            with self._guard("aiService.generations"):
                self._generations({ws.id for ws in read_ws})
            self._tracking_poll()
            self._flush()
        except BaseException:
            # Nothing of this poll was recorded as sent: start over from what the state file holds, as
            # after a restart (what is in memory already describes events Redis never took).
            self.pending = []
            self.state.discard()
            self.workspaces, self.heads, self.requests_seen, self._ws_digests = {}, {}, set(), {}
            self.composer_memos = self.state.composers()
            self.generations_done = self.state.keys("generation:")
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

    @contextmanager
    def _guard(self, name: str) -> Iterator[None]:
        """One conversation whose data this code cannot read is logged (once) and skipped; the others
        go on. Redis errors and SQLite's (a locked database) still end the poll's step."""
        try:
            yield
        except (redis.RedisError, sqlite3.Error):
            raise
        except Exception:
            if name not in self.bad_rows:
                self.bad_rows.add(name)
                logger.exception("cursor: %s could not be read; skipped until Cursor writes it again", name)

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
        # Cursor writes UI state into this database all the time; the three values read here seldom change.
        digest = hashlib.blake2b(
            orjson.dumps(values, default=bytes.hex, option=orjson.OPT_SORT_KEYS)
        ).digest()
        if ws.id in self.workspaces and digest == self._ws_digests.get(ws.id):
            self.state.stage_meta(f"sig:{ws.db}", sig)
            return False
        data = None
        with self._guard(ws.db):
            data = workspace_data(ws, values)
        if data is None:
            return False
        old = self.workspaces.get(ws.id)
        for composer_id, head in data.heads.items():
            if old is not None:
                changed = old.heads.get(composer_id) != head
            else:  # first read since a start: compare with what was sent before
                memo = self.composer_memos.get(composer_id, {})
                changed = memo.get("head") != head_digest(head) or memo.get("workspace") != ws.id
            if changed:
                marked.add(composer_id)
            self.heads[composer_id] = (ws, head)
        self.workspaces[ws.id] = data
        self._ws_digests[ws.id] = digest
        self._ws_sigs[ws.db] = sig
        return True

    def _workspace_conversations(self, ws: Workspace) -> None:
        """Send the v0 composers and legacy chat tabs of a workspace that was read, then its signature."""
        if self.progress is not None:
            self.progress.total = (self.progress.total or 0) + len(self.workspaces[ws.id].conversations)
        for conv in self.workspaces[ws.id].conversations:
            if self.composer_memos.get(conv.composer_id, {}).get("era") in ("v1", "v2"):
                continue  # migrated: the global row is the conversation
            with self._guard(f"{ws.db}:{conv.composer_id}"):
                self._conversation(conv, bubbles=conv.inline)
        self.state.stage_meta(f"sig:{ws.db}", self._ws_sigs.pop(ws.db))

    # --- conversations -------------------------------------------------------------------------------

    def _conversation(
        self, conv: Conversation, *, bubbles: dict[str, dict], memos: dict[str, Memo] | None = None
    ) -> None:
        if memos is None:
            memos = self.state.memos(conv.composer_id)
        composer, records, built = conversation_records(
            conv, bubbles=bubbles, memos=memos, privacy=self.privacy
        )
        ws_id = conv.workspace.id if conv.workspace else None
        if conv.era in TIME_JOIN_ERAS and ws_id:
            self._time_joinable.add(ws_id)
        for record in records:
            payload = record.envelope["payload"]
            bubble_id = payload["bubbleId"]
            request = payload["request_id"]
            if request and request not in self.requests_seen:
                if self.state.request_composer(request) is None:
                    self.state.stage_request(request, conv.composer_id)
                    self._new_requests.add(request)
                self.requests_seen.add(request)  # one lookup per request, not per bubble
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
            "workspace": ws_id, "era": conv.era, "created": payload["created_at_ms"],
            "last": payload["last_updated_at_ms"], "head": head_digest(conv.head) if conv.head else None,
        }  # fmt: skip
        fresh = self.state.revision(composer.key) != composer.revision
        if fresh:
            self._emit(composer, workspace=ws_id)
        if fresh or memo != self.composer_memos.get(conv.composer_id):
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
                    ids = set(db.composer_ids(conn))
                else:
                    changed_keys = {key for _, key in db.rows_after(conn, cursor[0])}
                    ids = {db.key_parse(key)[1] for key in changed_keys} | marked
                if self.progress is not None:
                    self.progress.total = (self.progress.total or 0) + len(ids)
                ordered = sorted(ids)
                # A batch of composers at a time: their rows can be large, and a full read sees them all.
                for start in range(0, len(ordered), COMPOSER_BATCH):
                    keys = [db.composer_key(c) for c in ordered[start : start + COMPOSER_BATCH]]
                    for key, value in db.values_read(conn, keys).items():
                        composer_id = key[len(db.COMPOSER_PREFIX) :]
                        with self._guard(key):
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
                bubbles[key[len(db.bubble_key(composer_id, "")) :]] = parsed
            elif raw is not None:
                self._bad_row(key, self.paths.global_db)
        self._conversation(conv, bubbles=bubbles, memos=memos)

    # --- generations and the AI tracking database ----------------------------------------------------

    def _generations(self, read_ws: set[str]) -> None:
        """Send the generations this poll made joinable: those of workspaces read now, or of
        conversations of the eras joined by time read now, or named by a request id seen now."""
        workspaces = {ws.id: ws for ws in self.paths.workspaces}
        for ws_id, data in self.workspaces.items():
            whole = ws_id in read_ws or ws_id in self._time_joinable
            if not whole and not self._new_requests:
                continue
            windows = [
                (cid, memo.get("created"), memo.get("last"))
                for cid, memo in self.composer_memos.items()
                if whole and memo.get("workspace") == ws_id and memo.get("era") in TIME_JOIN_ERAS
            ]
            for generation in data.generations:
                uuid = generation["generationUUID"]
                if uuid in self.generations_done or not (whole or uuid in self._new_requests):
                    continue
                composer_id, joined = self.state.request_composer(uuid), "request"
                if composer_id is None:
                    composer_id, joined = time_join(ms_of(generation["unixMs"]), windows), "time"
                if composer_id is None:
                    continue
                place = place_metadata(workspaces.get(ws_id), self.privacy)
                record = generation_record(generation, composer_id=composer_id, joined=joined, place=place)
                if record is not None:
                    self._emit(record, workspace=ws_id)
                    self.state.stage_sent(record.key, "1")
                    self.generations_done.add(uuid)

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
        with self._guard(path):
            self._tracking_rows(code_rows, commits)
        after = max([after, *(rowid for rowid, _ in code_rows)])
        self.state.stage_meta("sig:tracking", sig)
        self.state.stage_meta("cursor:tracking", after)

    def _tracking_rows(self, code_rows: list[tuple[int, dict]], commits: list[dict]) -> None:
        workspaces = {ws.id: ws for ws in self.paths.workspaces}
        places: dict[str | None, dict] = {}  # a project is found on disk: once per workspace
        for _, row in code_rows:
            conversation = row.get("conversationId")
            memo = self.composer_memos.get(conversation, {}) if isinstance(conversation, str) else {}
            workspace = workspaces.get(memo.get("workspace"))
            if memo.get("workspace") not in places:
                places[memo.get("workspace")] = place_metadata(workspace, self.privacy)
            root = workspace.roots[0] if workspace and workspace.roots else None
            record = ai_code_record(row, root=root, place=places[memo.get("workspace")], privacy=self.privacy)
            # Its id has no revision (a row is written once): sending it again would store nothing.
            if record is not None and self.state.revision(record.key) is None:
                self._emit(record, workspace=workspace.id if workspace else None)
                self.state.stage_sent(record.key, record.revision)
        for row in commits:
            record = scored_commit_record(row, privacy=self.privacy)
            if record is not None and self.state.revision(record.key) != record.revision:
                self._emit(record, workspace=None)
                self.state.stage_sent(record.key, record.revision)

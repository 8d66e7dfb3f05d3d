"""The Cursor database monitor on a copy of the fixture: it sends only what is new or changed, survives a
restart without re-sending, leaves Cursor's files as they were, and retries a locked database."""

import json
import logging
import sqlite3
from pathlib import Path

import orjson
import pytest
import redis as redis_py

from telemetry.capture.cursor_monitor import CursorMonitor, redis_send
from telemetry.capture.cursor_paths import cursor_paths, locate_under
from telemetry.capture.cursor_state import CursorState
from telemetry.capture.loop import CaptureLoop
from telemetry.wire import EVENTS_STREAM
from tests.support.cursor import DATA_HOME, GROUND_TRUTH, cursor_home, main_files

from .test_cursor_db import CANARY, PRIVACY, read_all

COMPOSER = "3ac7652c-cdf8-4404-8729-5e4299901c04"  # v2, its newest turn only in the WAL
OLD_WORKSPACE = "78e510617311d8a3c2ce6f447ed4d57b"  # v0 composer and a chat tab; rollback journal


class Collector:
    """A `send` that keeps what it was given, and can be told to fail like an unreachable Redis."""

    def __init__(self) -> None:
        self.envelopes: list[dict] = []
        self.fail = False

    def __call__(self, envelopes: list[bytes]) -> None:
        if self.fail:
            raise redis_py.ConnectionError("Redis is down")
        self.envelopes += [orjson.loads(e) for e in envelopes]

    def take(self) -> list[dict]:
        out, self.envelopes = self.envelopes, []
        return out


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return cursor_home(tmp_path)


@pytest.fixture
def monitor_for(home: Path, tmp_path: Path):
    state_path = str(tmp_path / "blueplane" / "capture" / "cursor-state.sqlite3")

    def make(send) -> CursorMonitor:
        return CursorMonitor(
            home=str(home), privacy=PRIVACY, send=send, state=CursorState(state_path),
            locate=locate_under(DATA_HOME, str(home)),
        )  # fmt: skip

    return make


def global_db(home: Path) -> str:
    return cursor_paths(home=str(home)).global_db


def append_bubble(conn: sqlite3.Connection, composer_id: str, bubble_id: str, **fields) -> None:
    """Write a new assistant bubble and reference it from the composer, as Cursor does (a read-write
    connection of its own; rows replaced whole)."""
    key = f"composerData:{composer_id}"
    data = json.loads(conn.execute("SELECT value FROM cursorDiskKV WHERE key = ?", (key,)).fetchone()[0])
    bubble = {"_v": 3, "type": 2, "bubbleId": bubble_id, "text": "One more answer.", **fields}
    conn.execute(
        "INSERT INTO cursorDiskKV VALUES (?, ?)", (f"bubbleId:{composer_id}:{bubble_id}", json.dumps(bubble))
    )
    data["fullConversationHeadersOnly"].append({"bubbleId": bubble_id, "type": 2})
    data["lastUpdatedAt"] += 60_000
    conn.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, json.dumps(data)))
    conn.commit()


def test_first_poll_sends_everything_then_nothing_until_something_changes(home, monitor_for):
    sent = Collector()
    monitor = monitor_for(sent)
    first = monitor.poll()
    assert first == len(sent.take()) == len(read_all(home))
    assert monitor.poll() == 0
    assert sent.take() == []


def test_a_restart_with_the_same_state_sends_nothing(home, monitor_for):
    monitor_for(Collector()).poll()
    again = Collector()
    assert monitor_for(again).poll() == 0
    assert again.envelopes == []


def test_the_databases_are_byte_for_byte_unchanged_after_polling(home, monitor_for):
    before = main_files(home)
    monitor = monitor_for(Collector())
    monitor.poll()
    monitor.poll()
    after = main_files(home)
    assert {path: after[path] for path in before} == before


def test_an_appended_bubble_is_one_bubble_event_and_one_composer_revision(home, monitor_for):
    sent = Collector()
    monitor = monitor_for(sent)
    monitor.poll()
    sent.take()
    conn = sqlite3.connect(global_db(home))  # Cursor's own connection, held open as Cursor does
    try:
        append_bubble(
            conn, COMPOSER, "0f0f0f0f-0000-4000-8000-000000000001", createdAt="2026-03-03T09:43:00.000Z",
            requestId="d12982e4-6e80-4a48-9b0b-ca16f72f2bb8", tokenCount={"inputTokens": 0, "outputTokens": 0},
        )  # fmt: skip
        assert monitor.poll() == 2
        events = sent.take()
        full = {e["event_id"] for e in read_all(home)}
    finally:
        conn.close()
    bubble, composer = sorted(events, key=lambda e: e["event_type"])
    assert bubble["payload"]["bubbleId"] == "0f0f0f0f-0000-4000-8000-000000000001"
    assert bubble["payload"]["position"] == 7 and bubble["timestamp"] == "2026-03-03T09:43:00.000Z"
    assert bubble["payload"]["tokens_zero_cutover"] is True
    assert composer["event_type"] == "composer" and composer["payload"]["messages"] == 8
    # The same ids a fresh full read gives for the new state: no revision the store would see twice.
    assert {bubble["event_id"], composer["event_id"]} <= full
    assert monitor.poll() == 0


def test_a_changed_bubble_is_sent_again_as_a_new_revision(home, monitor_for):
    sent = Collector()
    monitor = monitor_for(sent)
    monitor.poll()
    old = {e["payload"]["bubbleId"]: e for e in sent.take() if e["event_type"] == "bubble"}
    key = f"bubbleId:{COMPOSER}:cdaaac43-936a-440c-acc6-6a576518093d"
    with sqlite3.connect(global_db(home)) as conn:
        bubble = json.loads(
            conn.execute("SELECT value FROM cursorDiskKV WHERE key = ?", (key,)).fetchone()[0]
        )
        bubble["text"] += " And the tests pass."
        conn.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, json.dumps(bubble)))
    conn.close()
    assert monitor.poll() == 1
    (changed,) = sent.take()
    before = old["cdaaac43-936a-440c-acc6-6a576518093d"]
    assert changed["event_id"] != before["event_id"]
    assert changed["event_id"].rsplit(":", 1)[0] == before["event_id"].rsplit(":", 1)[0]
    assert changed["timestamp"] == before["timestamp"]


def test_a_locked_database_is_retried_on_the_next_poll(home, monitor_for, caplog):
    sent = Collector()
    monitor = monitor_for(sent)
    monitor.poll()
    sent.take()
    db = next(ws.db for ws in cursor_paths(home=str(home)).workspaces if ws.id == OLD_WORKSPACE)
    key = "workbench.panel.aichat.view.aichat.chatdata"
    writer = sqlite3.connect(db, isolation_level=None)
    chat = json.loads(writer.execute("SELECT value FROM ItemTable WHERE key = ?", (key,)).fetchone()[0])
    chat["tabs"][0]["bubbles"].append({"type": "user", "id": "tab-bubble-new", "text": "and one more"})
    writer.execute("INSERT INTO ItemTable VALUES (?, ?)", (key, json.dumps(chat)))
    writer.execute("BEGIN EXCLUSIVE")  # Cursor writing again: readers get "database is locked"
    with caplog.at_level(logging.WARNING):
        assert monitor.poll() == 0
        assert monitor.poll() == 0
    assert sum("database is locked" in r.getMessage() for r in caplog.records) == 1
    writer.execute("ROLLBACK")
    writer.close()
    assert monitor.poll() == 2
    assert sorted(e["event_type"] for e in sent.take()) == ["bubble", "composer"]


def test_nothing_is_marked_sent_while_redis_refuses(home, monitor_for):
    sent = Collector()
    sent.fail = True
    monitor = monitor_for(sent)
    with pytest.raises(redis_py.ConnectionError):
        monitor.poll()
    sent.fail = False
    assert monitor.poll() == len(read_all(home))
    assert monitor_for(Collector()).poll() == 0


def test_a_malformed_row_is_skipped_and_the_rest_sent(home, monitor_for, caplog):
    key = f"bubbleId:{COMPOSER}:9ff3078f-cc1b-4c3e-9c07-724e44c5b476"
    with sqlite3.connect(global_db(home)) as conn:
        conn.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, b'{"_v": 3, "type": 2, "te'))
    conn.close()
    sent = Collector()
    with caplog.at_level(logging.WARNING):
        total = monitor_for(sent).poll()
    assert total == len(read_all(home)) and total > 0
    assert key not in {f"bubbleId:{e['session_id']}:{e['payload'].get('bubbleId')}" for e in sent.envelopes}
    assert any(key in r.getMessage() for r in caplog.records)


def test_events_go_to_the_stream_without_credentials(home, redis):
    state = CursorState(None)
    monitor = CursorMonitor(
        home=str(home),
        privacy=PRIVACY,
        send=redis_send(redis),
        state=state,
        locate=locate_under(DATA_HOME, str(home)),
    )
    sent = monitor.poll()
    entries = redis.xrange(EVENTS_STREAM)
    assert len(entries) == sent > 0
    assert not any(CANARY in fields[b"event"] for _, fields in entries)
    events = [orjson.loads(fields[b"event"]) for _, fields in entries]
    conversations = {e["session_id"] for e in events if e["event_type"] == "composer"}
    assert len(conversations) == GROUND_TRUTH["totals"]["conversations"]


def test_a_failing_monitor_never_stops_the_capture_loop(redis, tmp_path):
    class Broken:
        def poll(self) -> int:
            raise ValueError("a bug in reading Cursor's data")

    loop = CaptureLoop(
        tailer=_IdleTailer(), client=redis, home=str(tmp_path), cursor=Broken(), cursor_poll_s=0
    )
    assert loop.run_once() == 0
    assert loop.run_once() == 0


class _IdleTailer:
    def poll(self) -> int:
        return 0

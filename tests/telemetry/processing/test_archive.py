"""Archiving old raw traces to Parquet and putting them back, against real Redis and SQLite."""

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from telemetry.models import ClaudeRawTrace, RawChunk, SessionProgress
from telemetry.store import archive, units
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db
LATER = datetime(2026, 1, 1, tzinfo=UTC)  # the factory's events are from 2025-10-20


@pytest.fixture
def archive_root(tmp_path, settings):
    settings.BLUEPLANE_ARCHIVE_DIR = tmp_path / "archive"
    return settings.BLUEPLANE_ARCHIVE_DIR


def ingest(redis, sessions=("s1", "s2"), per_session=5, processed=True) -> dict[int, bytes]:
    for i in range(per_session):
        for s in sessions:
            redis.xadd(EVENTS_STREAM, entry(envelope(session_id=s, payload={"tool_name": "Bash", "i": i})))
    drain(make_consumer(redis))
    for s in sessions:
        top = max(seq for seq, _ in units.session_events(platform="claude_code", session_id=s))
        SessionProgress.objects.update_or_create(
            platform="claude_code",
            session_id=s,
            defaults={"raw_through_seq": top, "processed_seq": top if processed else 0},
        )
    return {
        seq: raw for s in sessions for seq, raw in units.session_events(platform="claude_code", session_id=s)
    }


def test_off_by_default(redis, archive_root, settings):
    settings.BLUEPLANE_ARCHIVE_AFTER_DAYS = None
    ingest(redis)
    assert archive.raw_traces_archive(now=LATER) == 0
    assert ClaudeRawTrace.objects.count() == 10


def test_old_processed_events_move_to_a_parquet_file(redis, archive_root):
    stored = ingest(redis)
    assert archive.raw_traces_archive(older_than_days=30, now=LATER) == 10
    assert ClaudeRawTrace.objects.count() == 0
    assert RawChunk.objects.count() == 0
    [path] = archive.archive_files()
    table = pq.read_table(path)
    assert {"platform", "seq", "event", "event_key", "session_id", "ts_ms", "tool_name"} <= set(
        table.column_names
    )
    assert {r["seq"]: r["event"] for r in table.to_pylist()} == stored
    assert not list(path.parent.glob("*.tmp"))


def test_recent_or_unprocessed_events_stay(redis, archive_root):
    ingest(redis, sessions=("waiting",), processed=False)
    assert archive.raw_traces_archive(older_than_days=30, now=LATER) == 0
    assert archive.raw_traces_archive(older_than_days=30, now=datetime(2025, 10, 25, tzinfo=UTC)) == 0
    assert ClaudeRawTrace.objects.count() == 5
    assert archive.archive_files() == []


def test_import_puts_events_back_with_their_seqs_once(redis, archive_root):
    stored = ingest(redis)
    archive.raw_traces_archive(older_than_days=30, now=LATER)
    result = archive.archive_import(archive_root)
    assert result.events == 10
    assert result.sessions == {("claude_code", "s1"), ("claude_code", "s2")}
    back = {
        seq: raw
        for s in ("s1", "s2")
        for seq, raw in units.session_events(platform="claude_code", session_id=s)
    }
    assert back == stored
    again = archive.archive_import(archive_root)
    assert (again.events, again.skipped) == (0, 10)
    assert ClaudeRawTrace.objects.count() == 10


def test_session_events_read_back_from_the_archive(redis, archive_root):
    stored = ingest(redis)
    archive.raw_traces_archive(older_than_days=30, now=LATER)
    events = archive.archive_session_events(platform="claude_code", session_id="s1")
    assert len(events) == 5
    assert all(stored[seq] == raw for seq, raw in events)
    assert archive.archive_sessions() == {("claude_code", "s1"), ("claude_code", "s2")}


def test_restore_for_a_rebuild_then_remove_leaves_the_store_as_it_was(redis, archive_root):
    ingest(redis, sessions=("old",))
    archive.raw_traces_archive(older_than_days=30, now=LATER)
    ingest(redis, sessions=("old",), per_session=2)  # newer live events of the same session
    live_seqs = set(ClaudeRawTrace.objects.values_list("seq", flat=True))
    restored = archive.archive_session_restore(platform="claude_code", session_id="old")
    merged = [seq for seq, _ in units.session_events(platform="claude_code", session_id="old")]
    assert len(merged) == 7 and merged == sorted(merged) and max(merged) in live_seqs
    assert archive.archive_restored_remove(restored) == 5
    assert set(ClaudeRawTrace.objects.values_list("seq", flat=True)) == live_seqs


def test_blueplane_import_archive_puts_history_back_on_a_fresh_database(redis, archive_root, capsys):
    from blueplane import cli
    from telemetry.models import Session, SessionProgress, ToolCall

    ingest(redis, processed=False)
    from telemetry import tasks

    tasks.sessions_catch_up([["claude_code", "s1"], ["claude_code", "s2"]])
    archive.raw_traces_archive(older_than_days=30, now=LATER)
    # A new machine: the archive files are all there is.
    for model in (ToolCall, Session, SessionProgress):
        model.objects.all().delete()

    assert cli.main(["import", "archive", str(archive_root)]) == 0
    assert "imported 10 archived events" in capsys.readouterr().out
    assert ClaudeRawTrace.objects.count() == 10
    assert set(Session.objects.values_list("session_id", flat=True)) == {"s1", "s2"}
    assert cli.main(["import", "archive", str(archive_root)]) == 0
    assert "imported 0 archived events (10 already stored)" in capsys.readouterr().out


def test_import_of_a_file_that_is_not_an_archive_is_one_line(tmp_path, capsys):
    from blueplane import cli

    bad = tmp_path / "notes.parquet"
    bad.write_text("not parquet")
    assert cli.main(["import", "archive", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable Blueplane archive" in err


def test_import_archive_derives_through_bounded_catch_ups(redis, archive_root, settings, monkeypatch):
    from blueplane import cli
    from telemetry import tasks
    from telemetry.models import Session
    from telemetry.processing import catchup
    from tests.telemetry.processing.test_rebuild import assert_same, derived_dump

    ingest(redis, processed=False)
    tasks.sessions_catch_up()
    tasks.sessions_idle_close()
    before = derived_dump()
    archive.raw_traces_archive(older_than_days=30, now=LATER)
    Session.objects.all().delete()
    SessionProgress.objects.all().delete()
    settings.SLOWPATH_MAX_EVENTS = 2
    settings.SLOWPATH_MAX_SESSIONS = 1
    settings.REPACK_MAX_UNIT_EVENTS = 2
    catch_ups = []
    catch_up = catchup.session_catch_up
    monkeypatch.setattr(catchup, "session_catch_up", lambda **kw: catch_ups.append(kw) or catch_up(**kw))

    assert cli.main(["import", "archive", str(archive_root)]) == 0

    assert ClaudeRawTrace.objects.count() == 10 and RawChunk.objects.count() == 6  # units of 2 events
    assert len(catch_ups) == 6  # 2 sessions of 5 events, 2 events a transaction
    tasks.sessions_idle_close()
    assert_same(derived_dump(), before)

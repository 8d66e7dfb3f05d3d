"""`rebuild` derives exactly what the live path derived: table dumps (without autoincrement ids) match."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import models

from bench.events import fixture_envelopes
from telemetry import tasks
from telemetry.models import (
    RAW_TRACE_MODELS,
    ActivityHour,
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    OtelSequence,
    Project,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from telemetry.processing import catchup, live, rebuild
from telemetry.store import archive
from telemetry.wire import EVENTS_STREAM
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

DERIVED = (
    Project,
    Session,
    Conversation,
    Turn,
    ToolCall,
    CodeChange,
    DataIssue,
    MetricPoint,
    OtelSequence,
    UsageHour,
    ToolHour,
    ActivityHour,
)
# Foreign keys compared by what they point at, never by id.
NATURAL = {
    Project: ("key",),
    Session: ("platform", "session_id"),
    Conversation: ("session__platform", "session__session_id", "conversation_id"),
}


def _columns(model: type[models.Model]) -> Iterator[str]:
    for f in model._meta.concrete_fields:
        if f.primary_key or f.name == "updated_at":
            continue
        if f.is_relation:
            yield from (f"{f.name}__{n}" for n in NATURAL[f.related_model])
        else:
            yield f.name


def derived_dump() -> dict[str, list[tuple]]:
    """Every derived table as sorted rows, foreign keys replaced by natural keys, ids left out."""
    out = {}
    for model in DERIVED:
        cols = list(_columns(model))
        out[model._meta.db_table] = sorted(model.objects.values_list(*cols), key=repr)
    out["session_progress"] = sorted(
        SessionProgress.objects.values_list("platform", "session_id", "processed_seq")
    )
    return out


def assert_same(live_dump: dict, rebuilt: dict) -> None:
    for table in live_dump:
        assert rebuilt[table] == live_dump[table], table
    assert sum(len(v) for v in live_dump.values()) > 0


def live_path(redis, events: list[bytes], steps: int = 5) -> None:
    """Feed the events through the fast path and the catch-up in several increments, as live (the
    catch-up task is a loop over session_catch_up; its worker runs in tests/test_slowpath_e2e.py)."""
    consumer = make_consumer(redis)
    size = -(-len(events) // steps)
    for start in range(0, len(events), size):
        for raw in events[start : start + size]:
            redis.xadd(EVENTS_STREAM, {"event": raw})
        drain(consumer)
        for platform, session_id in sorted(rebuild.sessions_known()):
            catchup.session_catch_up(platform=platform, session_id=session_id)


def test_rebuild_gives_the_rows_of_the_live_path(redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        live_path(redis, fixture_envelopes())
    assert Turn.objects.exists() and ToolCall.objects.exists() and UsageHour.objects.exists()
    before = derived_dump()
    metrics_before = {k: redis.dump(k) for k in redis.scan_iter(match="metric:*")}

    call_command("rebuild")

    assert_same(before, derived_dump())
    metrics_after = {k: redis.dump(k) for k in redis.scan_iter(match="metric:*")}
    assert metrics_after.keys() == metrics_before.keys()
    assert live.live_usage_hour(hour=UsageHour.objects.first().hour, client=redis)


def test_rebuilding_one_session_changes_nothing_else(redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        live_path(redis, fixture_envelopes(), steps=2)
    before = derived_dump()
    session = Session.objects.filter(turns__isnull=False).order_by("session_id").first()
    result = rebuild.derived_rebuild_session(session_id=session.session_id, platform=session.platform)
    assert result.sessions == 1 and result.events > 0
    assert_same(before, derived_dump())


def test_rebuild_applies_the_idle_rule_like_beat(redis):
    live_path(redis, fixture_envelopes(), steps=1)
    tasks.sessions_idle_close()  # the fixture's sessions are long over
    before = derived_dump()
    rebuild.derived_rebuild_all()
    assert_same(before, derived_dump())


def test_unknown_session_is_an_error(redis):
    with pytest.raises(Exception, match="no session"):
        call_command("rebuild", "--session", "nope")


def test_rebuild_reads_archived_events_back(redis, settings, tmp_path):
    settings.BLUEPLANE_ARCHIVE_DIR = tmp_path / "archive"
    events = fixture_envelopes()
    live_path(redis, events[: len(events) // 2], steps=1)
    moved = archive.raw_traces_archive(older_than_days=1, now=datetime(2100, 1, 1, tzinfo=UTC))
    assert moved > 0
    live_path(redis, events[len(events) // 2 :], steps=1)  # later events of the same sessions stay live
    before = derived_dump()
    raw_before = sum(m.objects.count() for m in RAW_TRACE_MODELS.values())

    result = rebuild.derived_rebuild_all()

    assert result.archived_events == moved
    assert_same(before, derived_dump())
    # The archive stays the only copy of what it holds.
    assert sum(m.objects.count() for m in RAW_TRACE_MODELS.values()) == raw_before

"""The slow path's catch-up task, called synchronously (its worker runs in the end-to-end tests)."""

import pytest

from telemetry import tasks, wire
from telemetry.models import ClaudeRawTrace, SessionProgress
from telemetry.processing import dirty
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db


def test_catch_up_applies_waiting_raw_events_per_session(redis):
    for session in ("s1", "s1", "s2"):
        redis.xadd(EVENTS_STREAM, entry(envelope(session_id=session)))
    drain(make_consumer(redis))

    assert tasks.sessions_catch_up() == 2

    progress = {p.session_id: p for p in SessionProgress.objects.all()}
    newest = ClaudeRawTrace.objects.order_by("-seq").first().seq
    assert progress["s2"].raw_through_seq == newest
    assert progress["s1"].raw_through_seq < newest
    assert not any(p.waiting for p in progress.values())  # applied: watermark = newest raw seq
    assert redis.hlen(wire.DIRTY_SESSIONS) == 0
    assert not redis.exists(wire.SCHEDULED_FLAG)


def test_repeated_catch_up_changes_nothing(redis):
    redis.xadd(EVENTS_STREAM, entry(envelope(session_id="s1")))
    drain(make_consumer(redis))
    tasks.sessions_catch_up()
    before = list(SessionProgress.objects.values_list("session_id", "raw_through_seq"))
    tasks.sessions_catch_up([["claude_code", "s1"]])
    assert list(SessionProgress.objects.values_list("session_id", "raw_through_seq")) == before


def test_session_marked_during_a_run_stays_dirty(redis):
    redis.xadd(EVENTS_STREAM, entry(envelope(session_id="s1")))
    drain(make_consumer(redis))
    snapshot = dirty.dirty_take(redis)
    redis.hincrby(wire.DIRTY_SESSIONS, "claude_code:s1", 1)  # a batch touched it again meanwhile
    dirty.dirty_clear(redis, snapshot)
    assert redis.hget(wire.DIRTY_SESSIONS, "claude_code:s1") == b"2"

"""Closing idle sessions: the rule depends on the last event and the clock only."""

from datetime import UTC, datetime, timedelta

import pytest

from telemetry import tasks
from telemetry.models import Session, SessionStatus
from telemetry.processing import lifecycle

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 10, 20, 12, tzinfo=UTC)


def make(sid: str, idle: timedelta | None, status: str = SessionStatus.ACTIVE) -> Session:
    last = None if idle is None else NOW - idle
    return Session.objects.create(platform="claude_code", session_id=sid, status=status, last_event_at=last)


def test_sessions_idle_past_the_timeout_time_out_at_their_last_event():
    quiet = make("quiet", timedelta(minutes=31))
    busy = make("busy", timedelta(minutes=29))
    ended = make("ended", timedelta(hours=5), status=SessionStatus.ENDED)
    assert lifecycle.sessions_idle_close(now=NOW, timeout_s=1800) == 1
    quiet.refresh_from_db()
    assert quiet.status == SessionStatus.TIMED_OUT
    assert quiet.end_reason == lifecycle.IDLE_END_REASON
    assert quiet.ended_at == quiet.last_event_at  # not the time the rule ran: rebuild gets the same
    busy.refresh_from_db()
    ended.refresh_from_db()
    assert busy.status == SessionStatus.ACTIVE
    assert ended.status == SessionStatus.ENDED and ended.ended_at is None


def test_running_later_gives_the_same_row():
    s = make("quiet", timedelta(hours=1))
    lifecycle.sessions_idle_close(now=NOW, timeout_s=1800)
    first = Session.objects.values().get(id=s.id)
    Session.objects.filter(id=s.id).update(status=SessionStatus.ACTIVE, ended_at=None, end_reason="")
    lifecycle.sessions_idle_close(now=NOW + timedelta(days=3), timeout_s=1800)
    second = Session.objects.values().get(id=s.id)
    first.pop("id"), second.pop("id")
    assert first == second


def test_timeout_comes_from_settings(settings):
    settings.BLUEPLANE_SESSION_IDLE_TIMEOUT_S = 60
    make("two-minutes", timedelta(minutes=2))
    make("never-active", None)
    assert lifecycle.sessions_idle_close(now=NOW) == 1


def test_the_beat_task_closes_idle_sessions(settings):
    make("long-ago", timedelta(days=400))
    assert tasks.sessions_idle_close() == 1
    assert settings.CELERY_BEAT_SCHEDULE["close-idle-sessions"]["task"] == "telemetry.sessions_idle_close"

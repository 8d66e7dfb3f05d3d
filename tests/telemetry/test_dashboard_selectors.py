"""The selectors the dashboard's overview and projects page added: usage per UTC hour and model, session
counts per project and model over a span, and whether the store holds anything at all."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from telemetry.models import Project, SessionProgress
from telemetry.selectors import sessions, usage
from tests.telemetry.processing.test_rollups import World, refresh_all

pytestmark = pytest.mark.django_db
DAY = datetime(2025, 10, 20, tzinfo=UTC)


def test_usage_by_hour_sums_each_hour_and_model_in_the_span() -> None:
    w = World()
    s = w.session("h")
    w.turn(s, DAY + timedelta(hours=22, minutes=10), model="opus", input_tokens=5, cost_usd=Decimal("0.25"))
    w.turn(s, DAY + timedelta(hours=22, minutes=50), model="opus", input_tokens=7, cost_usd=Decimal("0.5"))
    w.turn(s, DAY + timedelta(hours=22, minutes=55), model="haiku", output_tokens=1)
    w.turn(s, DAY + timedelta(days=3), model="opus", input_tokens=100)  # outside the span
    refresh_all()
    rows = usage.usage_by_hour(start=DAY, end=DAY + timedelta(days=1))
    hour = DAY + timedelta(hours=22)
    assert [(r["hour"], r["model"], r["input_tokens"], r["output_tokens"], r["cost_usd"]) for r in rows] == [
        (hour, "haiku", 0, 1, Decimal(0)),
        (hour, "opus", 12, 0, Decimal("0.75")),
    ]
    assert usage.usage_by_hour(start=DAY, end=DAY + timedelta(days=1), platform="cursor") == []


def test_session_counts_per_project_and_model() -> None:
    w = World()
    alpha = Project.objects.create(key="ka", name="alpha")
    for sid, project, models, at in (
        ("a", alpha, ["opus", "haiku"], DAY),
        ("b", alpha, ["opus"], DAY + timedelta(hours=1)),
        ("c", None, [], DAY + timedelta(hours=2)),
        ("old", alpha, ["opus"], DAY - timedelta(days=10)),
    ):
        s = w.session(sid, project=project)
        s.started_at = s.last_event_at = at
        s.models_used = models
        s.save()
    span = {"start": DAY, "end": DAY + timedelta(days=1)}
    counts = sessions.session_counts(**span)
    assert counts == {
        "total": 3,
        "by_project": {"ka": 2, Project.UNKNOWN_KEY: 1},
        "by_model": {"opus": 2, "haiku": 1},
    }
    assert counts["total"] == sessions.session_list(**span).count()
    assert sessions.session_counts(**span, model="haiku") == {
        "total": 1, "by_project": {"ka": 1}, "by_model": {"opus": 1, "haiku": 1},
    }  # fmt: skip
    assert sessions.session_counts(**span, project_key="ka")["total"] == 2


def test_the_store_holds_something_once_any_session_has_events() -> None:
    assert sessions.sessions_stored_any() is False
    SessionProgress.objects.create(platform="claude_code", session_id="x")
    assert sessions.sessions_stored_any() is True

"""Metric selectors over the rollups: local days, tool percentiles, rates and the productivity score."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from telemetry.models import ChangeStatus, Project, ToolStatus, TurnKind
from telemetry.selectors import activity, tools, usage
from tests.telemetry.processing.test_rollups import World, refresh_all

pytestmark = pytest.mark.django_db
DAY = datetime(2025, 10, 20, tzinfo=UTC)


def test_days_in_a_time_zone_are_sums_of_utc_hours():
    w = World()
    s = w.session()
    w.turn(s, DAY + timedelta(hours=3, minutes=10), model="opus", input_tokens=1)  # 20th 05:10 in Berlin
    w.turn(s, DAY + timedelta(hours=22, minutes=30), model="opus", input_tokens=10)  # 21st 00:30 in Berlin
    w.turn(s, DAY + timedelta(hours=23), model="haiku", input_tokens=100, cost_usd=Decimal("0.5"))
    refresh_all()
    utc = usage.usage_by_day(start=date(2025, 10, 20), end=date(2025, 10, 21), tz="UTC")
    assert [(r["day"], r["model"], r["input_tokens"]) for r in utc] == [
        (date(2025, 10, 20), "haiku", 100),
        (date(2025, 10, 20), "opus", 11),
    ]
    berlin = usage.usage_by_day(start=date(2025, 10, 20), end=date(2025, 10, 21), tz="Europe/Berlin", by=())
    assert [(r["day"], r["input_tokens"], r["cost_usd"]) for r in berlin] == [
        (date(2025, 10, 20), 1, 0),
        (date(2025, 10, 21), 110, Decimal("0.5")),
    ]


def test_half_hour_zones_give_a_straddling_hour_to_the_later_day():
    w = World()
    s = w.session()
    # 18:00-19:00 UTC is 23:30-00:30 in Kolkata (+05:30): counted on the 21st; 17:00 UTC is the 20th.
    w.turn(s, DAY + timedelta(hours=18, minutes=5), model="opus", input_tokens=1)
    w.turn(s, DAY + timedelta(hours=17, minutes=59), model="opus", input_tokens=10)
    # Kathmandu (+05:45): 18:00 UTC is 23:45-00:45, mostly the 21st.
    refresh_all()
    for tz in ("Asia/Kolkata", "Asia/Kathmandu"):
        rows = usage.usage_by_day(start=date(2025, 10, 20), end=date(2025, 10, 21), tz=tz, by=())
        assert [(r["day"], r["input_tokens"]) for r in rows] == [
            (date(2025, 10, 20), 10),
            (date(2025, 10, 21), 1),
        ]


def test_usage_groups_by_project():
    w = World()
    w.turn(
        w.session("a", project=Project.objects.create(key="k1", name="one")), DAY, model="m", input_tokens=2
    )
    w.turn(w.session("b"), DAY, model="m", input_tokens=3)
    refresh_all()
    rows = usage.usage_by_day(start=date(2025, 10, 20), end=date(2025, 10, 20), by=("project",))
    assert {r["project"]: r["input_tokens"] for r in rows} == {"one": 2, "(unknown)": 3}
    assert {r["project_key"] for r in rows} == {"k1", Project.UNKNOWN_KEY}
    with pytest.raises(ValueError):
        usage.usage_by_day(start=date(2025, 10, 20), end=date(2025, 10, 20), by=("colour",))


def test_tool_stats_sum_hours_and_read_percentiles_from_the_histograms():
    w = World()
    s = w.session()
    for i in range(100):
        w.tool(s, DAY + timedelta(hours=i % 3, minutes=i % 60), "Read", ms=10 if i < 90 else 1000)
    w.tool(s, DAY, "Read", ms=None, status=ToolStatus.INTERRUPTED)
    w.tool(s, DAY, "Bash", ms=5, status=ToolStatus.FAILURE)
    refresh_all()
    read, bash = tools.tool_stats(start=DAY, end=DAY + timedelta(days=1))
    assert read["tool_name"] == "Read" and read["calls"] == 101
    assert read["interruptions"] == 1 and read["interruption_rate"] == pytest.approx(1 / 101)
    assert 8 < read["p50_ms"] < 12
    assert 800 < read["p95_ms"] < 1260 and 800 < read["p99_ms"] < 1260
    assert read["mean_ms"] == pytest.approx((90 * 10 + 10 * 1000) / 100)
    assert (bash["failures"], bash["failure_rate"]) == (1, 1.0)
    assert tools.tool_stats(start=DAY + timedelta(hours=1), end=DAY + timedelta(hours=2))[0]["calls"] < 101


def test_activity_rates_and_productivity_parts():
    w = World()
    s = w.session()
    w.turn(s, DAY, kind=TurnKind.USER_PROMPT)
    w.turn(s, DAY + timedelta(minutes=1), model="opus")
    w.turn(s, DAY + timedelta(minutes=2), model="opus")
    w.turn(s, DAY + timedelta(minutes=3), kind=TurnKind.API_ERROR)
    w.tool(s, DAY + timedelta(minutes=4), "Edit")
    w.tool(s, DAY + timedelta(minutes=5), "Edit", status=ToolStatus.FAILURE)
    w.change(s, DAY + timedelta(minutes=6), 30, 10)
    w.change(s, DAY + timedelta(minutes=7), 5, 0, status=ChangeStatus.REJECTED)
    refresh_all()
    a = activity.activity_summary(start=DAY, end=DAY + timedelta(hours=1))
    assert a["tool_error_rate"] == 0.5
    assert a["api_error_rate"] == pytest.approx(1 / 3)
    assert a["acceptance_rate"] == 0.5
    assert a["lines_changed"] == 45
    assert a["active_seconds"] == 7 * 60
    p = activity.productivity_score(start=DAY, end=DAY + timedelta(hours=1))
    assert p["parts"]["tool_efficiency"] == 12.5
    assert p["parts"]["error_penalty"] == pytest.approx(-15 * 2 / 5)
    assert p["parts"]["acceptance"] == 5
    assert p["parts"]["code_impact"] == 10  # 45 lines in 7 minutes is over 200 lines per active hour
    assert p["score"] == round(50 + 12.5 - 6 + 5 + 10, 1)


def test_empty_span_has_no_rates():
    a = activity.activity_summary(start=DAY, end=DAY + timedelta(hours=1))
    assert a["tool_error_rate"] is None and a["acceptance_rate"] is None
    assert activity.productivity_score(start=DAY, end=DAY + timedelta(hours=1))["score"] == 50

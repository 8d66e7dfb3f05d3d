"""The overview's and the projects page's figures over a small hand-made store: the same numbers as the
API's reports for the same span and zone, charts that add up to the totals, filters applied, and a
bounded number of queries."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from api.dashboard.filters import PageFilters, filters_parse
from api.dashboard.pages import overview, projects
from api.dashboard.pages.usage_charts import buckets
from telemetry.models import ChangeStatus, Project, SessionProgress, ToolStatus
from telemetry.selectors import usage
from telemetry.selectors.spans import LocalDays
from tests.telemetry.processing.test_rollups import World, refresh_all

pytestmark = pytest.mark.django_db
DAY = datetime(2025, 10, 20, tzinfo=UTC)
SPAN = {"period": "all", "tz": "UTC"}


@pytest.fixture
def store() -> dict:
    """Two projects, two sessions, two models over two days, a failed tool call and two AI edits."""
    w = World()
    alpha = Project.objects.create(key="ka", name="alpha")
    beta = Project.objects.create(key="kb", name="beta")
    s1 = w.session("s1", project=alpha)
    s2 = w.session("s2", project=beta, platform="cursor")
    for s, first, last, models in ((s1, DAY, DAY + timedelta(days=1, hours=2), ["opus"]),
                                   (s2, DAY + timedelta(hours=5), DAY + timedelta(hours=6), ["sonnet"])):  # fmt: skip
        s.started_at, s.last_event_at, s.models_used = first, last, models
        s.save()
        SessionProgress.objects.create(platform=s.platform, session_id=s.session_id)
    w.turn(s1, DAY + timedelta(hours=1), model="opus", input_tokens=100, output_tokens=50,
           cache_read_tokens=1000, cost_usd=Decimal("1.25"))  # fmt: skip
    w.turn(s1, DAY + timedelta(days=1, hours=1), model="opus", input_tokens=10, cost_usd=Decimal("0.5"))
    w.turn(s2, DAY + timedelta(hours=5), model="sonnet", output_tokens=7, cache_write_tokens=70,
           cost_usd=Decimal("0.125"))  # fmt: skip
    w.turn(s1, DAY + timedelta(hours=1, minutes=1), kind="prompt")
    w.tool(s1, DAY + timedelta(hours=1), status=ToolStatus.FAILURE)
    w.tool(s1, DAY + timedelta(hours=1, minutes=2))
    w.change(s1, DAY + timedelta(hours=1), 10, 2)
    w.change(s1, DAY + timedelta(hours=1), 1, 0, status=ChangeStatus.REJECTED)
    refresh_all()
    return {"alpha": alpha, "beta": beta}


def api(client, path: str, **params) -> dict:
    answer = client.get(path, {"since": "2025-10-01", "until": "2025-10-31", "tz": "UTC", **params})
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_overview_totals_equal_the_apis_for_the_same_span(store, client) -> None:
    filters = PageFilters(tz="UTC", since=date(2025, 10, 1), until=date(2025, 10, 31))
    fig = overview.figures(filters)
    period = fig["period"]
    used = api(client, "/api/v1/usage/", group="day")["totals"]
    act = api(client, "/api/v1/activity/")["activity"]
    listed = api(client, "/api/v1/sessions/", page_size=100)["results"]
    assert Decimal(period["cost_usd"]) == Decimal(str(used["cost_usd"])) == Decimal("1.875")
    kinds = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    assert period["tokens"] == sum(used[k] for k in kinds) == 1237
    assert period["sessions"] == len(listed) == 2
    assert period["prompts"] == act["prompts"]
    assert period["tool_calls"] == act["tool_calls"] == 2
    assert period["tool_failure_rate"] == act["tool_error_rate"] == 0.5
    assert period["acceptance_rate"] == act["acceptance_rate"] == 0.5
    assert period["active_seconds"] == act["active_seconds"]
    assert fig["empty"] is False


def test_overview_charts_add_up_to_the_period(store) -> None:
    fig = overview.figures(PageFilters(**SPAN))
    assert fig["unit"] == "day"
    # All time starts at the first day with usage, not at the calendar's first day.
    assert fig["labels"][:2] == ["2025-10-20", "2025-10-21"]
    cost = sum(Decimal(v) for s in fig["cost_by_model"] for v in s["values"])
    assert cost == Decimal(fig["period"]["cost_usd"])
    assert [s["name"] for s in fig["cost_by_model"]] == ["opus", "sonnet"]  # costliest first
    assert sum(v for s in fig["tokens_by_kind"] for v in s["values"]) == fig["period"]["tokens"]
    assert [p["project"] for p in fig["projects"]] == ["alpha", "beta"]
    assert fig["projects"][0]["sessions"] == 1
    assert {s["session_id"] for s in fig["sessions"]} == {"s1", "s2"}
    assert fig["sessions"][0]["session_id"] == "s1"  # most recent activity first


def test_overview_of_one_platform_and_one_project(store) -> None:
    cursor = overview.figures(PageFilters(platform="cursor", **SPAN))
    assert cursor["period"]["cost_usd"] == "0.125"
    assert cursor["period"]["sessions"] == 1
    assert [p["project"] for p in cursor["projects"]] == ["beta"]
    alpha = overview.figures(PageFilters(project="ka", **SPAN))
    assert Decimal(alpha["period"]["cost_usd"]) == Decimal("1.75")
    assert [s["session_id"] for s in alpha["sessions"]] == ["s1"]


def test_today_is_drawn_hour_by_hour(store) -> None:
    fig = overview.figures(PageFilters(tz="UTC", period="today"))
    assert fig["unit"] == "hour"
    assert fig["labels"][0] == "00:00" and len(fig["labels"]) == 24
    # Nothing happened today in this store: every bar is empty, and today's KPIs are zero.
    assert fig["today"]["tokens"] == 0 and fig["today"]["sessions"] == 0
    assert all(v == "0" or v == 0 for s in fig["cost_by_model"] for v in s["values"])


def test_hourly_rows_follow_the_zone() -> None:
    w = World()
    s = w.session("h")
    w.turn(
        s, DAY + timedelta(hours=22, minutes=10), model="opus", input_tokens=5
    )  # 00:10 on the 21st in Berlin
    refresh_all()
    rows = usage.usage_by_hour(start=DAY, end=DAY + timedelta(days=2))
    assert [(r["hour"], r["model"], r["input_tokens"]) for r in rows] == [
        (DAY + timedelta(hours=22), "opus", 5)
    ]


def test_an_empty_store_says_how_to_get_data_in() -> None:
    fig = overview.figures(PageFilters(**SPAN))
    assert fig["empty"] is True
    assert fig["labels"] == [] and fig["projects"] == [] and fig["sessions"] == []
    assert fig["period"]["cost_usd"] == "0"


def test_long_spans_are_drawn_by_week_then_by_month() -> None:
    def used(*days: date) -> list:
        return [{"day": d} for d in days]

    unit, labels, bucket = buckets(LocalDays(date(2025, 1, 1), date(2025, 4, 30)), used(date(2025, 1, 2)))
    assert unit == "day" and len(labels) == 120 and bucket(date(2025, 2, 1)) == "2025-02-01"
    unit, labels, bucket = buckets(
        LocalDays(date(1, 1, 1), date(2026, 1, 1)), used(date(2025, 1, 1), date(2025, 6, 1))
    )
    assert (
        unit == "week"
        and labels[0] == "2024-12-30"
        and bucket(date(2025, 6, 1)) == labels[-1] == "2025-05-26"
    )
    unit, labels, _ = buckets(
        LocalDays(date(2020, 1, 1), date(2025, 12, 31)), used(date(2020, 3, 1), date(2025, 10, 20))
    )
    assert unit == "month" and labels[0] == "2020-03" and labels[-1] == "2025-10" and len(labels) == 68
    assert buckets(LocalDays(date(1, 1, 1), date(9999, 12, 31)), [])[1] == []


def test_the_calendars_ends_are_a_span_like_any_other(store) -> None:
    fig = overview.figures(
        filters_parse({"since": "0001-01-01", "until": "9999-12-31", "tz": "Pacific/Kiritimati"})
    )
    assert Decimal(fig["period"]["cost_usd"]) == Decimal("1.875")
    fig = projects.figures(filters_parse({"since": "9999-12-31", "until": "9999-12-31", "tz": "Etc/GMT+12"}))
    assert fig["projects"] == []


def test_overview_reads_a_bounded_number_of_queries(store, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(16):
        overview.figures(PageFilters(**SPAN))


def test_projects_page_per_project_and_model(store, client) -> None:
    fig = projects.figures(PageFilters(tz="UTC", since=date(2025, 10, 1), until=date(2025, 10, 31)))
    by_project = {r["project"]: r for r in api(client, "/api/v1/usage/", group="project")["rows"]}
    by_model = {r["model"]: r for r in api(client, "/api/v1/usage/", group="model")["rows"]}
    for row in fig["projects"]:
        assert Decimal(row["cost_usd"]) == Decimal(str(by_project[row["project"]]["cost_usd"]))
        assert row["input_tokens"] == by_project[row["project"]]["input_tokens"]
    for row in fig["models"]:
        assert Decimal(row["cost_usd"]) == Decimal(str(by_model[row["model"]]["cost_usd"]))
        assert row["messages"] == by_model[row["model"]]["messages"]
    assert {r["model"]: r["sessions"] for r in fig["models"]} == {"opus": 1, "sonnet": 1}
    assert [s["name"] for s in fig["by_project"]["cost"]] == ["alpha", "beta"]
    assert fig["by_project"]["cost"][0]["key"] == "ka"
    assert fig["options"]["models"] == ["opus", "sonnet"]


def test_projects_page_filters_by_model_and_platform(store) -> None:
    opus = projects.figures(PageFilters(model="opus", **SPAN))
    assert [r["model"] for r in opus["models"]] == ["opus"]
    assert [r["project"] for r in opus["projects"]] == ["alpha"]
    assert opus["sessions"] == 1
    cursor = projects.figures(PageFilters(platform="cursor", **SPAN))
    assert [r["project"] for r in cursor["projects"]] == ["beta"]


def test_projects_page_reads_a_bounded_number_of_queries(store, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(6):
        projects.figures(PageFilters(**SPAN))

"""The tools page: its figures over the real corpus equal what /api/v1/tools/ and /api/v1/errors/ report
for the same span; failures per day by tool; bad filters a 400 page; then the page in real Chromium."""

import json
from datetime import date

import pytest
from django.test import Client
from rest_framework.test import APIClient

from api.dashboard.filters import filters_parse
from api.dashboard.pages import tools
from telemetry.selectors.spans import LocalDays
from telemetry.selectors.tools import tool_failures_by_day
from tests.support.browser import DESKTOP, LAPTOP, NARROW, page_open, screenshot

SPAN = {"since": "2020-01-01", "until": "2030-12-31", "tz": "Europe/Berlin"}


@pytest.mark.django_db
def test_tools_figures_equal_the_api_reports(corpus) -> None:
    found = tools.figures(filters_parse(SPAN))
    api = APIClient()
    report = api.get("/api/v1/tools/", SPAN).json()["tools"]
    assert found["tools"], "the corpus has tool calls"
    names = ("tool_name", "calls", "failures", "rejections", "interruptions", "p50_ms", "p95_ms", "p99_ms")
    assert [{k: t[k] for k in names} for t in found["tools"]] == [{k: t[k] for k in names} for t in report]
    assert found["totals"]["calls"] == sum(t["calls"] for t in report)
    errors = api.get("/api/v1/errors/", {**SPAN, "limit": tools.ERRORS_MAX}).json()["groups"]
    keys = ("tool_name", "error_type", "error_hash", "count", "sessions")
    assert [{k: g[k] for k in keys} for g in found["errors"]] == [{k: g[k] for k in keys} for g in errors]
    assert found["errors"], "the corpus has failed calls (03-failures, 08-permission-denied)"


@pytest.mark.django_db
def test_failures_per_day_add_up_to_the_tools_failures(corpus) -> None:
    found = tools.figures(filters_parse(SPAN))
    failed = sum(t["failures"] + t["rejections"] + t["interruptions"] for t in found["tools"])
    series = found["failures_by_day"]
    assert sum(sum(s["data"]) for s in series["series"]) == failed > 0
    assert all(len(s["data"]) == len(series["labels"]) for s in series["series"])
    # All time starts in year 1: the chart keeps to the days with failures, not two thousand years.
    every = tools.figures(filters_parse({"period": "all"}))["failures_by_day"]
    assert 1 <= len(every["labels"]) <= tools.SPAN_DAYS_MAX
    # The selector on its own: a tool filter and a zone.
    rows = tool_failures_by_day(days=LocalDays(date(2020, 1, 1), date(2030, 12, 31), "Pacific/Kiritimati"))
    assert sum(r["failures"] for r in rows) == failed


def test_failures_series_keeps_the_worst_tools_and_sums_the_rest() -> None:
    rows = [{"day": date(2026, 1, 1), "tool_name": f"t{n}", "failures": n + 1, "calls": 9} for n in range(12)]
    series = tools.failures_series(rows, ["2026-01-01"])
    names = [s["tool"] for s in series["series"]]
    assert names[0] == "t11" and names[-1] == "other" and len(names) == tools.CHART_TOOLS_MAX + 1
    assert sum(s["data"][0] for s in series["series"]) == sum(n + 1 for n in range(12))


@pytest.mark.django_db
def test_tool_filter_and_few_queries(corpus, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(5):
        found = tools.figures(filters_parse({**SPAN, "tool": "Bash"}))
    assert [t["tool_name"] for t in found["tools"]] == ["Bash"]
    assert {g["tool_name"] for g in found["errors"]} <= {"Bash"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [{"until": "99999-12-31"}, {"tool": "t" * 1_000_000}, {"platform": "emacs"}, {"period": "9" * 30}],
)
def test_bad_filters_are_a_400_page(corpus, query) -> None:
    answer = Client().get("/tools/", query)
    assert answer.status_code == 400 and b"bad filter" in answer.content


@pytest.mark.django_db
def test_calendar_ends_give_a_page(corpus) -> None:
    assert Client().get("/tools/", {"since": "0001-01-01", "until": "9999-12-31"}).status_code == 200


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_tools_page_in_chromium(system, browser) -> None:
    page = page_open(browser, viewport=LAPTOP)
    report = page.request.get(f"{system.url}/api/v1/tools/?since=2000-01-01&until=2100-01-01").json()["tools"]
    answer = page.goto(f"{system.url}/tools/?period=all")
    assert answer.status == 200
    page.wait_for_selector("#tools-table tbody tr")
    shown = page.eval_on_selector_all(
        "#tools-table tbody tr td:first-child", "els => els.map(e => e.textContent)"
    )
    assert shown == [t["tool_name"] for t in report]
    assert page.locator("#errors-table tbody tr").count() >= 1
    screenshot(page, "tools-laptop")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "tools-desktop")
    page.set_viewport_size(NARROW)
    page.wait_for_function(f"document.documentElement.scrollWidth <= {NARROW['width']}")
    screenshot(page, "tools-narrow")
    # The table behind a chart is a click away.
    page.set_viewport_size(LAPTOP)
    page.click("#failures-card [data-toggle-table]")
    assert page.locator("#failures-card .chart-table table").is_visible()
    # A tool's row narrows the page to it (the URL holds it).
    page.click("#tools-table tbody tr:first-child td:first-child a")
    page.wait_for_url("**tool=**")
    page.wait_for_selector("#tools-table tbody tr")
    assert page.locator("#tools-table tbody tr").count() == 1
    assert page.console_seen.errors == []


@pytest.mark.django_db
def test_figures_are_plain_json(corpus) -> None:
    # /ws/metrics sends them with json.dumps: no Decimal, no datetime.
    found = tools.figures(filters_parse({"period": "all"}))
    assert json.loads(json.dumps(found)) == found

"""The overview page: its figures over a small hand-made store (the same numbers as the API's reports for
the same span and zone, charts that add up to the totals, filters applied, a bounded number of queries),
then the page itself in headless Chromium over a store the real pipeline filled."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from api.dashboard.filters import PageFilters, filters_parse
from api.dashboard.pages import overview
from api.dashboard.pages.usage_charts import TOKEN_KINDS, buckets
from telemetry.selectors.spans import LocalDays
from tests.dashboard.usage_store import SPAN, api, store_build
from tests.factories import envelope
from tests.support.browser import DESKTOP, NARROW, page_open, screenshot
from tests.support.system import install_home


@pytest.fixture
def store(db: None) -> dict:
    return store_build()


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
    for project in ("ka", "alpha"):  # by key, or by its folder name
        alpha = overview.figures(PageFilters(project=project, **SPAN))
        assert Decimal(alpha["period"]["cost_usd"]) == Decimal("1.75")
        assert [s["session_id"] for s in alpha["sessions"]] == ["s1"]
        assert alpha["period"]["sessions"] == 1


def test_today_is_drawn_hour_by_hour(store) -> None:
    fig = overview.figures(PageFilters(tz="UTC", period="today"))
    assert fig["unit"] == "hour"
    assert fig["labels"][0] == "00:00" and len(fig["labels"]) == 24
    # Nothing happened today in this store: every bar is empty, and today's KPIs are zero.
    assert fig["today"]["tokens"] == 0 and fig["today"]["sessions"] == 0
    assert all(v == "0" or v == 0 for s in fig["cost_by_model"] for v in s["values"])


def test_an_empty_store_says_how_to_get_data_in(db: None) -> None:
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


def test_overview_reads_a_bounded_number_of_queries(store, django_assert_max_num_queries) -> None:
    # 12, and Cursor's: responses without tokens (1), whether any AI-tracking row exists (2 when none);
    # whether the span holds OTel data (1; the OTel ledger's queries only when it does).
    with django_assert_max_num_queries(16):
        overview.figures(PageFilters(**SPAN))


def test_bad_filters_are_a_400_naming_them(db: None, client) -> None:
    for query, word in (("tz=Mars/Olympus", "tz"), ("since=99999-01-01&until=2025-01-01", "since"),
                        ("since=2025-02-01&until=2025-01-01", "since"), ("platform=" + "x" * 1_000_000, "platform"),
                        ("period=" + "9" * 30, "period"), ("project=" + "p" * 1_000_000, "project")):  # fmt: skip
        for path in ("/", "/projects/"):
            answer = client.get(path + "?" + query)
            assert answer.status_code == 400, (path, query[:40])
            assert word in answer.content.decode() and len(answer.content) < 20_000


# --- the page in headless Chromium, over the repository's transcripts imported by the real pipeline -------

ALL_UTC = "/?period=all&tz=UTC"


def api_get(system, path: str, **params) -> dict:
    answer = requests.get(system.url + path, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code < 500
    except requests.ConnectionError:
        return False


def all_time(page) -> dict:
    """The API's span for the page's "all time": since the calendar's first day up to its today."""
    span = page.evaluate("JSON.parse(document.getElementById('figures').textContent).span")
    return {"since": span["since"], "until": span["until"], "tz": "UTC"}


def session_count(system, **params) -> int:
    """How many sessions /api/v1/sessions/ lists for the span, page by page."""
    n, cursor = 0, None
    while True:
        page = api_get(
            system, "/api/v1/sessions/", page_size=500, **params, **({"cursor": cursor} if cursor else {})
        )
        n += len(page["results"])
        if not page.get("next"):
            return n
        cursor = parse_qs(urlparse(page["next"]).query)["cursor"][0]


def shown(page) -> dict[str, str]:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.textContent]))"
    )


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_numbers_equal_the_apis(system, browser) -> None:
    page = page_open(browser)
    page.goto(system.url + ALL_UTC)
    page.wait_for_load_state("networkidle")
    span = all_time(page)
    used = api_get(system, "/api/v1/usage/", group="day", **span)["totals"]
    act = api_get(system, "/api/v1/activity/", **span)["activity"]
    expected = {
        "cost_usd": ("usd", used["cost_usd"]),
        "tokens": ("tokens", sum(used[k] for k in TOKEN_KINDS)),
        "sessions": ("int", session_count(system, **span)),
        "prompts": ("int", act["prompts"]),
        "tool_calls": ("int", act["tool_calls"]),
        "tool_failure_rate": ("pct", act["tool_error_rate"]),
        "acceptance_rate": ("pct", act["acceptance_rate"]),
        "active_seconds": ("duration", act["active_seconds"]),
    }
    assert used["cost_usd"] > 0 and act["tool_calls"] > 0  # the corpus has both: a real comparison
    texts = shown(page)
    for name, (fmt, value) in expected.items():
        assert texts[f"period_{name}"] == page.evaluate("([f, v]) => BP.fmt[f](v)", [fmt, value]), name
    figures = page.evaluate("JSON.parse(document.getElementById('figures').textContent)")
    assert Decimal(figures["period"]["cost_usd"]) == Decimal(str(used["cost_usd"]))
    assert figures["period"]["tool_calls"] == act["tool_calls"]
    # The busiest projects and the recent sessions are drawn, each session linking to its page.
    assert page.locator("#projects-table tbody tr").count() == len(figures["projects"]) > 0
    first = figures["sessions"][0]["session_id"]
    assert page.locator(f"#sessions-table a[href='/sessions/{first}/']").count() == 1
    screenshot(page, "overview-laptop")
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_chart_tables_show_the_charts_numbers(system, browser) -> None:
    page = page_open(browser, viewport=DESKTOP)
    page.goto(system.url + ALL_UTC)
    page.wait_for_load_state("networkidle")
    screenshot(page, "overview-desktop")
    for card in ("card-cost", "card-tokens"):
        chart = page.evaluate(
            "(id) => { const c = Chart.getChart(document.querySelector('#' + id + ' canvas'));"
            " return {labels: c.data.labels, sets: c.data.datasets.map(d => ({label: d.label, data: d.data}))}; }",
            card,
        )
        assert chart["labels"] and chart["sets"]
        assert not page.locator(f"#{card} .chart-table").is_visible()
        page.locator(f"#{card} [data-toggle-table]").click()
        assert page.locator(f"#{card} .chart-table").is_visible()
        assert not page.locator(f"#{card} .chart-box").is_visible()
        head = page.locator(f"#{card} .chart-table th").all_inner_texts()
        assert head[1:] == [s["label"] for s in chart["sets"]]
        rows = page.locator(f"#{card} .chart-table tbody tr")
        assert rows.count() == len(chart["labels"])
        fmt = "usd" if card == "card-cost" else "tokens"
        for j in range(len(chart["labels"])):
            cells = rows.nth(j).locator("td").all_inner_texts()
            assert cells[0] == chart["labels"][j]
            want = [page.evaluate("([f, v]) => BP.fmt[f](v)", [fmt, s["data"][j]]) for s in chart["sets"]]
            assert cells[1:] == want
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_deep_link_filters_and_zone_picker(system, browser) -> None:
    project = max(api_get(system, "/api/v1/projects/")["results"], key=lambda p: Decimal(str(p["cost_usd"])))
    page = page_open(browser)
    page.goto(system.url + ALL_UTC + "&project=" + project["key"])
    page.wait_for_load_state("networkidle")
    span = all_time(page)
    used = api_get(system, "/api/v1/usage/", group="day", project=project["key"], **span)["totals"]
    everything = api_get(system, "/api/v1/usage/", group="day", **span)["totals"]
    assert shown(page)["period_cost_usd"] == page.evaluate("(v) => BP.fmt.usd(v)", used["cost_usd"])
    figures = page.evaluate("JSON.parse(document.getElementById('figures').textContent)")
    assert [p["project_key"] for p in figures["projects"]] == [project["key"]]
    assert Decimal(str(used["cost_usd"])) <= Decimal(str(everything["cost_usd"]))
    assert page.locator("#project-chip").inner_text().startswith("Project")
    # The platform picker and the zone picker change the URL, which the page is drawn from.
    page.select_option("select[name=platform]", "cursor")
    page.wait_for_url("**platform=cursor**")
    assert "project=" + project["key"] in page.url
    page.select_option("select[name=tz]", "Asia/Tokyo")
    page.wait_for_url("**tz=Asia%2FTokyo**")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("JSON.parse(document.getElementById('figures').textContent).span.tz") == "Asia/Tokyo"
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_on_a_narrow_window(system, browser) -> None:
    page = page_open(browser, viewport=NARROW)
    page.goto(system.url + ALL_UTC)
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    assert page.locator("[data-figure=period_cost_usd]").is_visible()
    screenshot(page, "overview-narrow")
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_updates_live_from_posted_events(system, browser) -> None:
    """A prompt posted to the install shows in the live list, then in today's KPIs, without a reload."""
    page = page_open(browser)
    page.goto(system.url + ALL_UTC)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.notReloaded = true")
    before = shown(page)["today_prompts"]
    session = f"live-{uuid.uuid4()}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event = envelope(
        session_id=session, event_type="UserPromptSubmit", hook_type="UserPromptSubmit", timestamp=now,
        payload={"prompt_id": f"p-{uuid.uuid4()}", "cwd": "/tmp/live-project"},
    )  # fmt: skip
    posted = requests.post(system.url + "/api/v1/events", json=[event], timeout=30)
    assert posted.status_code == 202, posted.text
    page.wait_for_function(
        "(s) => [...document.querySelectorAll('#live-events a')].some(a => a.title === s)",
        arg=session,
        timeout=10_000,
    )
    page.wait_for_function(
        "(b) => document.querySelector('[data-figure=today_prompts]').textContent !== b",
        arg=before,
        timeout=10_000,
    )
    assert page.evaluate("window.notReloaded") is True
    assert int(shown(page)["today_prompts"]) == int(before.replace("—", "0")) + 1
    screenshot(page, "overview-live")
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_an_empty_install_says_how_to_get_data_in(browser) -> None:
    with install_home("bp-empty-") as inst:
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr + inst.log_tail()
        inst.wait_for(lambda: answers(inst.url + "/healthz"), what="the web server")
        page = page_open(browser)
        page.goto(inst.url + "/?tz=UTC")
        page.wait_for_load_state("networkidle")
        box = page.locator("#empty-state")
        assert box.is_visible()
        assert "blueplane install claude-code" in box.inner_text()
        assert "blueplane import claude-code" in box.inner_text()
        assert shown(page)["period_cost_usd"] == "$0.00"
        screenshot(page, "overview-empty")
        assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_overview_of_today_is_drawn_hour_by_hour(system, browser) -> None:
    page = page_open(browser, timezone_id="Asia/Tokyo")
    page.goto(system.url + "/?period=today")
    # The browser's zone becomes the page's when the URL names none: the page reloads itself once for it.
    page.wait_for_function(
        "() => { const f = document.getElementById('figures'); return f && JSON.parse(f.textContent).span.tz === 'Asia/Tokyo'; }",
        timeout=10_000,
    )
    page.wait_for_load_state("networkidle")
    figures = page.evaluate("JSON.parse(document.getElementById('figures').textContent)")
    assert figures["unit"] == "hour"
    assert len(figures["labels"]) == 24 and figures["labels"][0] == "00:00"
    assert page.locator("#span-note").inner_text().endswith("(Asia/Tokyo)")
    assert page.console_seen.errors == []

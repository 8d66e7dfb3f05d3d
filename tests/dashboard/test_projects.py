"""The projects and models page: its figures over a small hand-made store (per project and per model as
the API's usage report sums them, filters applied, a bounded number of queries), then the page itself in
headless Chromium over a store the real pipeline filled."""

from datetime import date
from decimal import Decimal

import pytest
import requests

from api.dashboard.filters import PageFilters, filters_parse
from api.dashboard.pages import projects
from tests.dashboard.usage_store import SPAN, api, store_build
from tests.support.browser import DESKTOP, NARROW, page_open, screenshot


@pytest.fixture
def store(db: None) -> dict:
    return store_build()


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
    with django_assert_max_num_queries(5):  # 4, and the responses whose tokens Cursor did not record
        projects.figures(PageFilters(**SPAN))


def test_projects_page_at_the_calendars_end(store) -> None:
    fig = projects.figures(filters_parse({"since": "9999-12-31", "until": "9999-12-31", "tz": "Etc/GMT+12"}))
    assert fig["projects"] == [] and fig["labels"] == ["9999-12-31"]


# --- the page in headless Chromium, over the repository's transcripts imported by the real pipeline -------

PAGE = "/projects/?period=all&tz=UTC"


def api_get(system, path: str, **params) -> dict:
    answer = requests.get(system.url + path, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def figures_of(page) -> dict:
    return page.evaluate("JSON.parse(document.getElementById('figures').textContent)")


def table_rows(page, table: str) -> list[list[str]]:
    rows = page.locator(f"#{table} tbody tr")
    return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_projects_page_tables_equal_the_apis(system, browser) -> None:
    page = page_open(browser)
    page.goto(system.url + PAGE)
    page.wait_for_load_state("networkidle")
    span = figures_of(page)["span"]
    usd = lambda v: page.evaluate("(v) => BP.fmt.usd(v)", v)  # noqa: E731
    by_project = api_get(system, "/api/v1/usage/", group="project", **span)["rows"]
    shown = {cells[0]: cells[-1] for cells in table_rows(page, "projects-table")}
    assert len(shown) == len(by_project) > 1
    assert shown == {r["project"]: usd(r["cost_usd"]) for r in by_project}
    by_model = api_get(system, "/api/v1/usage/", group="model", **span)["rows"]
    shown = {cells[0]: (cells[2], cells[-1]) for cells in table_rows(page, "models-table")}
    assert shown == {
        r["model"]: (page.evaluate("(v) => BP.fmt.int(v)", r["messages"]), usd(r["cost_usd"]))
        for r in by_model
    }
    screenshot(page, "projects-laptop")
    # Each chart's table holds the chart's numbers.
    card = "card-model-cost"
    chart = page.evaluate(
        "(id) => { const c = Chart.getChart(document.querySelector('#' + id + ' canvas'));"
        " return {labels: c.data.labels, sets: c.data.datasets.map(d => ({label: d.label, data: d.data}))}; }",
        card,
    )
    page.locator(f"#{card} [data-toggle-table]").click()
    assert page.locator(f"#{card} .chart-table").is_visible()
    rows = table_rows(page, f"{card} .chart-table")
    assert [r[0] for r in rows] == chart["labels"]
    for j, cells in enumerate(rows):
        assert cells[1:] == [usd(s["data"][j]) for s in chart["sets"]]
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_projects_page_deep_link_by_model_and_pickers(system, browser) -> None:
    models = api_get(system, "/api/v1/models/")["results"]
    model = models[-1]["model"]
    page = page_open(browser, viewport=DESKTOP)
    page.goto(system.url + PAGE + "&model=" + model)
    page.wait_for_load_state("networkidle")
    assert page.locator("select[name=model]").input_value() == model
    assert [cells[0] for cells in table_rows(page, "models-table")] == [model]
    labels = page.evaluate(
        "Chart.getChart(document.querySelector('#card-model-tokens canvas')).data.datasets.map(d => d.label)"
    )
    assert labels == [model]
    screenshot(page, "projects-desktop")
    project = figures_of(page)["projects"][0]["project_key"]
    page.select_option("select[name=project]", project)
    page.wait_for_url(f"**project={project}**")
    assert "model=" in page.url and page.locator("select[name=project]").input_value() == project
    page.select_option("select[name=tz]", "America/New_York")
    page.wait_for_url("**tz=America%2FNew_York**")
    assert figures_of(page)["span"]["tz"] == "America/New_York"
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_projects_page_on_a_narrow_window(system, browser) -> None:
    page = page_open(browser, viewport=NARROW)
    page.goto(system.url + PAGE)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert page.locator("#projects-table").is_visible()
    screenshot(page, "projects-narrow")
    assert page.console_seen.errors == []

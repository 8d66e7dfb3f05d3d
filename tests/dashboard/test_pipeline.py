"""The pipeline page: its figures are /healthz's checks and the fast path's counters, read against a real
Redis and database; the recent rate from the counters' readings; and the page in real Chromium against a
whole install, redrawing from the live feed's pushes."""

import json
import urllib.request
from collections import deque

import orjson
import pytest

from api.dashboard.filters import PageFilters
from api.dashboard.pages import pipeline
from telemetry import tasks
from telemetry.models import SessionProgress
from telemetry.selectors import throughput
from telemetry.selectors.throughput import RATE_WINDOW_S, SERIES_STEP_S, Reading, readings_add, throughput_of
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.api.test_ops import own_redis  # noqa: F401 (a fixture)
from tests.factories import envelope
from tests.support.browser import NARROW, page_open, screenshot
from tests.telemetry.test_consumer import drain, make_consumer


@pytest.fixture
def fresh_readings() -> None:
    """No reading of the counters kept from another test (the module keeps them per process)."""
    throughput._readings.clear()
    yield
    throughput._readings.clear()


@pytest.fixture
def beating(redis) -> None:
    tasks.worker_heartbeat()


def healthz(client) -> dict:
    return client.get("/healthz").json()


# --- the recent rate, as plain functions ---------------------------------------------------------------


def readings(*pairs: tuple[float, int]) -> deque[Reading]:
    out: deque[Reading] = deque()
    for at, events in pairs:
        readings_add(out, Reading(at=at, events=events))
    return out


def test_one_reading_knows_no_rate_yet() -> None:
    got = throughput_of(readings((1000.0, 50)))
    assert (got["events_per_s"], got["window_s"], got["events_total"], got["series"]) == (None, None, 50, [])


def test_rate_is_events_over_the_last_window_of_readings() -> None:
    # 10 events/s for two minutes, then 100 events/s for the last 30 s: the rate spans only the last minute.
    pairs = [(1000.0 + t, 10 * t) for t in range(0, 121, 2)]
    pairs += [(1120.0 + t, 1200 + 100 * t) for t in range(2, 31, 2)]
    got = throughput_of(readings(*pairs))
    expected = (4200 - 10 * 90) / RATE_WINDOW_S  # from t=90 s (60 s before the newest) to t=150 s
    assert got["events_per_s"] == pytest.approx(expected)
    assert got["window_s"] == RATE_WINDOW_S
    assert got["events_total"] == 4200
    assert [round(p["events_per_s"]) for p in got["series"]][-2:] == [100, 100]
    assert all(
        b["at"] - a["at"] >= SERIES_STEP_S for a, b in zip(got["series"], got["series"][1:], strict=False)
    )


def test_readings_a_moment_apart_make_no_rate() -> None:
    got = throughput_of(readings((1000.0, 0), (1000.2, 500)))
    assert got["events_per_s"] is None and got["events_total"] == 500


def test_many_askings_within_a_second_keep_one_reading() -> None:
    kept = readings((1000.0, 0), (1002.0, 20), (1002.3, 23), (1002.6, 26))
    assert [r.events for r in kept] == [0, 20, 26]


def test_a_counter_that_went_down_starts_afresh() -> None:
    kept = readings((1000.0, 500), (1002.0, 520), (1004.0, 3))
    assert [r.events for r in kept] == [3]
    assert throughput_of(kept)["events_per_s"] is None


# --- the figures, against a real Redis and database -------------------------------------------------------


@pytest.mark.django_db
def test_figures_carry_every_health_check_with_healthz_status(client, beating, fresh_readings) -> None:
    figures = pipeline.figures(PageFilters())
    report = healthz(client)
    assert {c["name"]: c["status"] for c in figures["checks"]} == {
        name: check["status"] for name, check in report["checks"].items()
    }
    assert all(c["message"] for c in figures["checks"])
    assert (figures["status"], figures["healthy"]) == (report["status"], report["healthy"])
    assert figures["stream"]["entries"] == 0 and figures["dead_letters"] == {"depth": 0}
    assert figures["worker"]["heartbeat_age_s"] < 60
    assert figures["fastpath"]["throughput"]["events_per_s"] is None  # the first reading of this process
    json.dumps(figures)  # JSON-ready as it is: the live feed sends it without Django's encoder


@pytest.mark.django_db
def test_figures_count_what_the_fast_path_committed(client, redis, beating, fresh_readings) -> None:
    batch = [envelope(session_id=f"s-{i % 3}") for i in range(30)]
    for event in batch[:10]:
        del event["source"]  # posted without one: "http"
    client.post("/api/v1/events", orjson.dumps(batch), content_type="application/json")
    drain(make_consumer(redis))
    fastpath = pipeline.figures(PageFilters())["fastpath"]
    assert fastpath["by_source"] == [
        {"platform": "claude_code", "source": "hook", "events": 20},
        {"platform": "claude_code", "source": "http", "events": 10},
    ]
    assert fastpath["inserted"] == 30 and fastpath["batches"] >= 1
    assert fastpath["throughput"]["events_total"] == 30
    assert fastpath["batch_latency_mean_s"] > 0
    figures = pipeline.figures(PageFilters())
    assert figures["slowpath"]["sessions_behind"] == 3 and figures["slowpath"]["events_behind"] == 30
    assert figures["raw_traces"]["claude_code"] == 30
    assert figures["last_events"]["claude_code"]["stored_at"]


@pytest.mark.django_db
def test_dead_letters_failing_sessions_and_spool_waiting_show(client, redis, beating, fresh_readings) -> None:
    redis.xadd(DLQ_STREAM, {"event": b"x", "reason": "not valid JSON"})
    SessionProgress.objects.create(platform="claude_code", session_id="s-bad", failures=3, last_error="boom")
    figures = pipeline.figures(PageFilters())
    status = {c["name"]: c["status"] for c in figures["checks"]}
    assert (status["dead_letters"], status["failing_sessions"], figures["status"]) == (
        "warn",
        "warn",
        "degraded",
    )
    assert figures["dead_letters"] == {"depth": 1}
    assert figures["failing_sessions"]["sessions"] == 1
    [failing] = figures["failing_sessions"]["newest"]
    assert (failing["session_id"], failing["failures"], failing["last_error"]) == ("s-bad", 3, "boom")
    page = client.get("/pipeline/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/v1/dead-letters/" in html and "boom" in html  # the link, and the figures embedded


@pytest.mark.django_db
def test_redis_down_is_a_failing_check_not_a_broken_page(client, own_redis, fresh_readings) -> None:  # noqa: F811
    own_redis.stop()
    figures = pipeline.figures(PageFilters())
    assert figures["fastpath"] is None and figures["stream"] is None and figures["dead_letters"] is None
    assert "redis" in figures["failing"]
    assert {c["name"]: c["status"] for c in figures["checks"]}["stream"] == "unknown"
    assert client.get("/pipeline/").status_code == 200


# --- in Chromium, against a whole install ------------------------------------------------------------------


def _kpi(page, name: str) -> str:
    return page.locator(f"[data-figure={name}]").first.inner_text()


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_pipeline_page_in_chromium_shows_the_checks_and_follows_the_pipeline(system, browser) -> None:
    page = page_open(browser)
    answer = page.goto(system.url + "/pipeline/?tz=UTC")
    assert answer is not None and answer.status == 200
    with urllib.request.urlopen(system.url + "/healthz", timeout=10) as response:
        report = json.loads(response.read())
    rows = page.locator("#checks tbody tr")
    shown = {rows.nth(i).get_attribute("data-check"): rows.nth(i).locator(".badge").inner_text()
             for i in range(rows.count())}  # fmt: skip
    assert set(shown) == set(report["checks"])
    assert shown["redis"] == "ok" and shown["database"] == "ok"
    assert _kpi(page, "stream_entries") != "—" and _kpi(page, "dlq_depth") == "0"
    assert page.locator("#no-events").is_hidden()  # the install holds the imported transcripts
    screenshot(page, "pipeline-laptop")

    # Live: the timer pushes give the rate, and a dead letter shows without a reload.
    page.wait_for_function("document.querySelector('[data-figure=events_per_s]').textContent !== '—'")
    system.redis().xadd(EVENTS_STREAM, {"event": b"{not json"})
    page.wait_for_function("document.querySelector('[data-figure=dlq_depth]').textContent === '1'")
    kpi = page.locator(".kpi[data-check=dead_letters]")
    assert kpi.get_attribute("data-status") == "warn"
    assert page.console_seen.errors == []
    screenshot(page, "pipeline-dead-letter")
    system.redis().delete(DLQ_STREAM)  # the session-wide install goes back to healthy for other tests


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_pipeline_page_fits_a_narrow_window(system, browser) -> None:
    page = page_open(browser, viewport=NARROW)
    page.goto(system.url + "/pipeline/?tz=UTC")
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # tables scroll inside their cards; the page itself does not scroll sideways
    assert page.locator("#checks tbody tr").count() >= 9
    screenshot(page, "pipeline-narrow")
    assert page.console_seen.errors == []

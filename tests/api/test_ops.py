"""/healthz and /metrics against a real Redis and a real database: each check fails on the fault it
names and on nothing else; the metrics parse with prometheus_client and match what was ingested and what
the CLI reports."""

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from blueplane import cli
from blueplane.redis_server import EmbeddedRedis
from telemetry import tasks
from telemetry.capture.spool import spool_append, spool_dir
from telemetry.connections import redis_client, redis_client_quick
from telemetry.models import RawChunk, SessionProgress
from telemetry.selectors import metrics as metric_selectors
from telemetry.selectors.tools import tool_stats
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM, GROUP
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db


def health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def scrape(client) -> dict[str, dict[tuple, float]]:
    """/metrics parsed by prometheus_client: sample name -> {sorted labels: value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.fixture
def beating(redis) -> None:
    """A worker ran its heartbeat just now."""
    tasks.worker_heartbeat()


@pytest.fixture
def spool_cleared() -> Iterator[None]:
    yield
    shutil.rmtree(spool_dir(str(django_settings.BLUEPLANE_HOME)), ignore_errors=True)


# --- /healthz --------------------------------------------------------------------------------------


def test_healthy_pipeline_is_200_with_every_check(client, beating):
    status, report = health(client)
    assert status == 200, report
    assert (report["status"], report["healthy"], report["failing"]) == ("ok", True, [])
    assert set(report["checks"]) == {
        "database", "redis", "stream", "dead_letters", "spool", "worker", "slowpath", "failing_sessions",
        "disk", "events",
    }  # fmt: skip
    assert report["checks"]["worker"]["heartbeat_age_s"] < 60
    assert report["checks"]["events"]["last"] == {"claude_code": None, "cursor": None}


def test_no_worker_heartbeat_is_503_naming_the_worker(client, redis):
    status, report = health(client)
    assert status == 503
    assert report["failing"] == ["worker"]
    assert "are the worker and beat running?" in report["checks"]["worker"]["message"]


def test_stale_heartbeat_fails(client, redis):
    redis.set("worker:heartbeat", time.time() - 600)
    status, report = health(client)
    assert (status, report["failing"]) == (503, ["worker"])


def test_last_event_per_platform_after_events_are_stored(client, redis, beating):
    client.post(
        "/api/v1/events",
        orjson.dumps([envelope(timestamp="2025-10-20T08:00:00Z")]),
        content_type="application/json",
    )
    drain(make_consumer(redis))
    status, report = health(client)
    last = report["checks"]["events"]["last"]
    assert last["cursor"] is None
    assert last["claude_code"]["event_at"].startswith("2025-10-20T08:00:00")
    assert last["claude_code"]["stored_at"] is not None
    assert status == 200  # the slow path has not run, but nothing has waited long


def test_event_waiting_long_in_the_stream_fails(client, redis, beating):
    redis.xadd(EVENTS_STREAM, {"event": orjson.dumps(envelope())}, id="1000-0")  # queued in 1970
    status, report = health(client)
    assert (status, report["failing"]) == (503, ["stream"])
    assert report["checks"]["stream"]["oldest_waiting_s"] > 10**9
    assert "runfastpath" in report["checks"]["stream"]["message"]


def test_entry_pending_long_fails_and_acknowledging_it_clears(client, redis, beating):
    redis.xadd(EVENTS_STREAM, {"event": orjson.dumps(envelope())}, id="1000-0")
    redis.xgroup_create(EVENTS_STREAM, GROUP, id="0")
    redis.xreadgroup(GROUP, "gone", {EVENTS_STREAM: ">"})
    status, report = health(client)
    assert (status, report["failing"], report["checks"]["stream"]["pending"]) == (503, ["stream"], 1)
    redis.xack(EVENTS_STREAM, GROUP, "1000-0")
    assert health(client)[0] == 200


def test_fresh_events_in_the_stream_are_fine(client, redis, beating):
    client.post("/api/v1/events", orjson.dumps([envelope()]), content_type="application/json")
    status, report = health(client)
    assert status == 200 and report["checks"]["stream"]["entries"] == 1


def test_dead_letters_warn_and_fail_only_when_full(client, redis, beating, settings):
    redis.xadd(DLQ_STREAM, {"event": b"x", "reason": "not valid JSON"})
    status, report = health(client)
    assert (status, report["status"]) == (200, "degraded")
    assert report["checks"]["dead_letters"] == {
        "status": "warn", "message": "1 events could not be stored; see `blueplane dlq list`", "depth": 1,
    }  # fmt: skip
    settings.DLQ_MAXLEN = 1
    assert health(client)[1]["failing"] == ["dead_letters"]


def test_slow_path_behind_for_long_fails(client, redis, beating):
    client.post("/api/v1/events", orjson.dumps([envelope()]), content_type="application/json")
    drain(make_consumer(redis))
    assert health(client)[1]["checks"]["slowpath"]["sessions_behind"] == 1
    assert health(client)[0] == 200
    RawChunk.objects.update(created_ms=int(time.time() * 1000) - 3600 * 1000)
    status, report = health(client)
    assert (status, report["failing"]) == (503, ["slowpath"])
    tasks.sessions_catch_up()
    assert health(client)[0] == 200


def test_failing_sessions_warn(client, redis, beating):
    SessionProgress.objects.create(platform="claude_code", session_id="s", failures=3, last_error="boom")
    status, report = health(client)
    assert (status, report["status"]) == (200, "degraded")
    assert report["checks"]["failing_sessions"]["sessions"] == 1
    assert "boom" in report["checks"]["failing_sessions"]["message"]


def test_spool_warns_and_fails_when_it_waits_long(client, redis, beating, spool_cleared):
    home = str(django_settings.BLUEPLANE_HOME)
    spool_append(home, orjson.dumps(envelope(timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))))
    status, report = health(client)
    assert (status, report["checks"]["spool"]["status"]) == (200, "warn")
    spool_append(home, orjson.dumps(envelope(timestamp="2020-01-01T00:00:00Z")), name="old")
    status, report = health(client)
    assert (status, report["failing"]) == (503, ["spool"])


def test_unmigrated_database_fails(client, redis, beating, monkeypatch):
    from telemetry.selectors import system

    monkeypatch.setattr(system, "database_ready", lambda: False)
    status, report = health(client)
    assert status == 503 and "database" in report["failing"]
    assert report["checks"]["slowpath"]["status"] == "unknown"


@pytest.fixture
def own_redis(settings) -> Iterator[EmbeddedRedis]:
    """An embedded Redis of the test's own, which the test may stop and start; the project's clients
    point at it meanwhile."""
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bp-h-", dir="/tmp")))
    server.start()
    settings.REDIS_URL = server.url
    redis_client.cache_clear()
    redis_client_quick.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir.parent, ignore_errors=True)
        redis_client.cache_clear()
        redis_client_quick.cache_clear()


def test_healthz_is_503_while_redis_is_stopped_and_200_when_it_returns(client, own_redis):
    tasks.worker_heartbeat()
    assert health(client)[0] == 200
    own_redis.stop()
    status, report = health(client)
    assert status == 503
    assert report["failing"] == ["redis"]
    assert report["checks"]["redis"]["message"].startswith("not answering")
    assert {report["checks"][name]["status"] for name in ("stream", "dead_letters", "worker")} == {"unknown"}
    own_redis.start()
    status, report = health(client)
    assert (status, report["failing"]) == (200, []), report


def test_metrics_answer_while_redis_is_stopped(client, own_redis):
    own_redis.stop()
    samples = scrape(client)
    assert samples["blueplane_up"][(("part", "redis"),)] == 0
    assert samples["blueplane_up"][(("part", "database"),)] == 1
    assert samples["blueplane_health_check_failing"][(("check", "redis"),)] == 1
    assert "blueplane_events_ingested_total" not in samples  # kept in Redis
    assert samples["blueplane_failing_sessions"][()] == 0  # the database's figures are still there


def test_healthz_answers_get_only(client, redis):
    response = client.post("/healthz")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


# --- /metrics --------------------------------------------------------------------------------------


def test_metrics_count_what_the_fast_path_ingested(client, redis, beating):
    batch = [envelope(session_id=f"s-{i % 3}") for i in range(150)]
    for event in batch[:40]:
        del event["source"]  # posted without a source: "http"
    assert (
        client.post("/api/v1/events", orjson.dumps(batch), content_type="application/json").status_code == 202
    )
    consumer = make_consumer(redis, batch_size=100)
    drain(consumer)
    samples = scrape(client)
    ingested = samples["blueplane_events_ingested_total"]
    assert ingested == {
        (("platform", "claude_code"), ("source", "hook")): 110,
        (("platform", "claude_code"), ("source", "http")): 40,
    }
    assert samples["blueplane_events_inserted_total"][()] == 150
    assert samples["blueplane_fastpath_batch_latency_seconds_count"][()] == 2
    buckets = samples["blueplane_fastpath_batch_latency_seconds_bucket"]
    assert buckets[(("le", "+Inf"),)] == 2
    counts = [buckets[k] for k in sorted(buckets, key=lambda k: float(k[0][1]))]
    assert counts == sorted(counts)  # cumulative
    assert samples["blueplane_fastpath_batch_latency_seconds_sum"][()] > 0

    # The same events again: counted as ingested, not as new.
    client.post("/api/v1/events", orjson.dumps(batch), content_type="application/json")
    drain(consumer)
    samples = scrape(client)
    assert sum(samples["blueplane_events_ingested_total"].values()) == 300
    assert samples["blueplane_events_inserted_total"][()] == 150
    assert samples["blueplane_stream_pending"][()] == 0
    assert samples["blueplane_slowpath_sessions_behind"][()] == 3


def test_metrics_pipeline_gauges_follow_the_health_checks(client, redis, beating):
    redis.xadd(DLQ_STREAM, {"event": b"x", "reason": "r"})
    redis.xadd(EVENTS_STREAM, {"event": b"{}"}, id="1000-0")
    samples = scrape(client)
    assert samples["blueplane_dead_letters"][()] == 1
    assert samples["blueplane_stream_entries"][()] == 1
    assert samples["blueplane_stream_lag_seconds"][()] > 10**9
    assert samples["blueplane_health_check_failing"][(("check", "stream"),)] == 1
    assert samples["blueplane_health_check_failing"][(("check", "worker"),)] == 0
    assert samples["blueplane_worker_heartbeat_age_seconds"][()] < 60
    assert samples["blueplane_failing_sessions"][()] == 0


# What ccusage reports for the corpus (tests/test_reports.py has the same figures for the CLI).
CCUSAGE = {
    "claude-sonnet-4-5-20250929": (301, 1254, 446193, 569663, "1.8843"),
    "claude-opus-4-5-20251101": (61, 367, 111371, 132455, "0.7843"),
    "claude-opus-4-1-20250805": (4, 28, 21942, 0, "0.4136"),
    "claude-haiku-4-5-20251001": (48, 109, 112669, 47201, "0.1468"),
}


def test_usage_metrics_equal_the_cli_and_ccusage(client, corpus, capsys):
    samples = scrape(client)
    tokens = samples["blueplane_tokens_total"]
    cost = samples["blueplane_cost_usd_total"]

    def by(model: str, kind: str) -> float:
        return tokens[(("kind", kind), ("model", model), ("platform", "claude_code"))]

    for model, (inp, out, write, read, usd) in CCUSAGE.items():
        assert (by(model, "input"), by(model, "output"), by(model, "cache_write"), by(model, "cache_read")) == (
            inp, out, write, read,
        )  # fmt: skip
        assert round(Decimal(cost[(("model", model), ("platform", "claude_code"))]), 4) == Decimal(usd)

    assert (
        cli.main(["usage", "--by", "model", "--json", "--since", "0001-01-01", "--until", "9999-12-31"]) == 0
    )
    for row in json.loads(capsys.readouterr().out):
        assert by(row["model"], "output") == row["output_tokens"]
        assert (
            samples["blueplane_messages_total"][(("model", row["model"]), ("platform", "claude_code"))]
            == row["messages"]
        )

    calls = samples["blueplane_tool_calls_total"]
    failures = samples["blueplane_tool_failures_total"]
    stats = tool_stats(start=_utc(date(1, 1, 1)), end=_utc(date(9999, 12, 31)))
    assert stats
    for t in stats:
        key = (("platform", "claude_code"), ("tool", t["tool_name"]))
        assert (calls[key], failures[key]) == (t["calls"], t["failures"])
    assert sum(failures.values()) == 4


def _utc(day: date):
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_labels_stay_bounded(client, corpus, monkeypatch):
    before = scrape(client)["blueplane_tool_calls_total"]
    assert len(before) > 3
    monkeypatch.setattr(metric_selectors, "LABEL_VALUES_MAX", 2)
    after = scrape(client)["blueplane_tool_calls_total"]
    assert len(after) == 3 and (("platform", "claude_code"), ("tool", "other")) in after
    assert sum(after.values()) == sum(before.values())
    tokens = scrape(client)["blueplane_tokens_total"]
    assert {dict(k)["model"] for k in tokens} <= set(CCUSAGE) | {"other"}
    labels = {name for samples in scrape(client).values() for key in samples for name, _ in key}
    assert labels == {
        "part",
        "check",
        "kind",
        "model",
        "platform",
        "source",
        "tool",
        "le",
        "signal",  # the OTLP receiver's counters: logs, metrics, traces
    }  # no session or project

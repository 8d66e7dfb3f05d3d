"""/metrics: the pipeline's figures and all-time usage in the Prometheus exposition format.

A custom collector reads everything at scrape time through the selectors: the health report's figures
(so /metrics and /healthz never disagree), the fast path's counters from Redis, and usage and tool
totals from the hourly rollups. A part that is down is left out and said so by `blueplane_up{part}`;
the scrape itself still succeeds. docs/operations.md lists every metric.
"""

from collections.abc import Callable, Iterator

from django.db import DatabaseError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from telemetry.connections import redis_client_quick
from telemetry.selectors import health, metrics
from telemetry.selectors.system import REDIS_ERRORS

NS = "blueplane"


def _gauge(name: str, doc: str, value: float | None, **labels: str) -> GaugeMetricFamily | None:
    if value is None:
        return None
    family = GaugeMetricFamily(f"{NS}_{name}", doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


class PipelineCollector(Collector):
    def __init__(self, *, spool: Callable[[], health.SpoolState | None]) -> None:
        self._spool = spool  # the capture spool's state: read by the interface, not by the selectors

    def collect(self) -> Iterator[Metric]:
        report = health.health_report(spool=self._spool())
        checks = report["checks"]
        yield from self._health(report, checks)
        if checks["redis"]["status"] == "ok":
            try:
                counters = metrics.fastpath_counters(redis_client_quick())
                otlp = metrics.otlp_counters(redis_client_quick())
            except REDIS_ERRORS:
                counters = otlp = None
            if counters is not None:
                yield from self._fastpath(counters)
            if otlp is not None:
                yield from self._otlp(otlp)
        if checks["database"]["status"] == "ok":
            try:
                usage, tools = metrics.usage_by_model(), metrics.tool_totals()
            except DatabaseError:  # e.g. locked past its timeout since the check: left out this scrape
                usage = tools = None
            if usage is not None:
                yield from self._usage(usage, tools)

    def _health(self, report: health.HealthReport, checks: dict) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{NS}_up", "Whether a part answers (1) or not (0)", labels=["part"])
        up.add_metric(["database"], checks["database"]["status"] == "ok")
        up.add_metric(["redis"], checks["redis"]["status"] == "ok")
        yield up
        check = GaugeMetricFamily(
            f"{NS}_health_check_failing", "Whether a /healthz check fails (1) or not (0)", labels=["check"]
        )
        for name, value in checks.items():
            check.add_metric([name], value["status"] == "fail")
        yield check
        stream = checks["stream"]
        waited = (stream.get("oldest_waiting_s") or 0.0) if "entries" in stream else None
        for family in (
            _gauge("stream_entries", "Entries in telemetry:events", stream.get("entries")),
            _gauge(
                "stream_pending", "Entries read by the fast path and not acknowledged", stream.get("pending")
            ),
            _gauge(
                "stream_undelivered",
                "Entries no consumer was given yet (Redis 7+)",
                stream.get("undelivered"),
            ),
            _gauge(
                "stream_lag_seconds",
                "How long the oldest unacknowledged event has waited in telemetry:events (0: none waits)",
                waited,
            ),
            _gauge("dead_letters", "Entries in telemetry:dlq", checks["dead_letters"].get("depth")),
            _gauge(
                "worker_heartbeat_age_seconds",
                "Seconds since a Celery worker ran beat's heartbeat task",
                checks["worker"].get("heartbeat_age_s"),
            ),
            _gauge("spool_bytes", "Bytes of hook events waiting in the spool", checks["spool"].get("bytes")),
        ):
            if family is not None:
                yield family
        slowpath = checks["slowpath"]
        if "sessions_behind" in slowpath:
            yield _gauge(
                "slowpath_lag_seconds",
                "How long the oldest stored event not yet derived has waited (0: none waits)",
                slowpath["oldest_waiting_s"] or 0.0,
            )
            yield _gauge(
                "slowpath_sessions_behind",
                "Sessions with events not derived yet",
                slowpath["sessions_behind"],
            )
            yield _gauge(
                "slowpath_events_behind",
                "Events not derived yet (a lower bound past 200,000)",
                slowpath["events_behind"],
            )
        failing = checks["failing_sessions"]
        if "sessions" in failing:
            yield _gauge(
                "failing_sessions",
                "Sessions whose derivation fails (set aside, retried)",
                failing["sessions"],
            )

    def _fastpath(self, c: metrics.FastPathCounters) -> Iterator[Metric]:
        events = CounterMetricFamily(
            f"{NS}_events_ingested",
            "Events the fast path committed (new or already stored), by platform and source",
            labels=["platform", "source"],
        )
        for (platform, source), n in sorted(c["events"].items()):
            events.add_metric([platform, source], n)
        yield events
        yield CounterMetricFamily(f"{NS}_events_inserted", "Events new to the store", value=c["inserted"])
        buckets = [
            ("+Inf" if bound == float("inf") else f"{bound:g}", n) for bound, n in c["latency_buckets"]
        ]
        yield HistogramMetricFamily(
            f"{NS}_fastpath_batch_latency_seconds",
            "Fast-path batches by time from read to commit",
            buckets=buckets,
            sum_value=c["latency_sum_s"],
        )

    def _otlp(self, c: metrics.OtlpCounters) -> Iterator[Metric]:
        for key, name, doc in (
            ("requests", "otlp_requests", "OTLP export requests answered 200, by signal"),
            ("records", "otlp_records", "OTLP records (log records, spans, metric points) taken, by signal"),
            ("refused", "otlp_records_refused", "OTLP records refused in a partialSuccess, by signal"),
        ):
            family = CounterMetricFamily(f"{NS}_{name}", doc, labels=["signal"])
            for signal in ("logs", "metrics", "traces"):
                family.add_metric([signal], c[key].get(signal, 0))
            yield family
        errors = CounterMetricFamily(
            f"{NS}_otlp_errors", "OTLP requests answered with an error, by HTTP status", labels=["status"]
        )
        for status, n in sorted(c["errors"].items()):
            errors.add_metric([status], n)
        yield errors
        yield CounterMetricFamily(
            f"{NS}_otlp_spooled",
            "OTLP requests spooled because Redis could not take them",
            value=c["spooled"],
        )

    def _usage(self, usage: list[metrics.ModelUsage], tools: list[metrics.ToolTotals]) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            f"{NS}_tokens",
            "Tokens of assistant responses, by platform, model and kind",
            labels=["platform", "model", "kind"],
        )
        cost = CounterMetricFamily(
            f"{NS}_cost_usd", "Cost of assistant responses in USD", labels=["platform", "model"]
        )
        messages = CounterMetricFamily(f"{NS}_messages", "Assistant responses", labels=["platform", "model"])
        for u in usage:
            for kind, n in u["tokens"].items():
                tokens.add_metric([u["platform"], u["model"], kind], n)
            cost.add_metric([u["platform"], u["model"]], float(u["cost_usd"]))
            messages.add_metric([u["platform"], u["model"]], u["messages"])
        yield from (tokens, cost, messages)
        families = {
            measure: CounterMetricFamily(
                f"{NS}_tool_{measure}", f"Tool calls: {measure}", labels=["platform", "tool"]
            )
            for measure in ("calls", "failures", "rejections", "interruptions")
        }
        for t in tools:
            for measure, family in families.items():
                family.add_metric([t["platform"], t["tool_name"]], t[measure])
        yield from families.values()


def exposition(*, spool: Callable[[], health.SpoolState | None]) -> bytes:
    """The whole /metrics page."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(spool=spool))
    return generate_latest(registry)

"""OpenTelemetry metrics and log numbering through the real capture converter, fast path and catch-up:
delta and cumulative temporality (a counter restarting with every Claude Code process), `event.sequence`
gaps as possible loss, and hostile values, each order-independent (docs/metrics.md, "one ledger with
provenance")."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from telemetry.capture.otlp_records import otlp_envelopes
from telemetry.models import ActivityHour, DataIssue, MetricPoint, Session, ToolCall, Turn
from telemetry.processing.bounds import METRIC_MAX
from telemetry.processing.claude import claude_facts
from telemetry.processing.facts import IssueKind, SequenceFact
from tests.support.otel_sources import PRIVACY
from tests.telemetry.processing.test_claude_otel import feed, reset

pytestmark = pytest.mark.django_db

SESSION = "5e55a000-0000-4000-8000-000000000001"
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LINES = "claude_code.lines_of_code.count"


def ns(seconds: float) -> int:
    return int((T0 + timedelta(seconds=seconds)).timestamp() * 1e9)


def _value(v: object) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def _attributes(values: dict) -> list[dict]:
    return [{"key": k, "value": _value(v)} for k, v in values.items()]


RESOURCE = {"attributes": _attributes({"service.name": "claude-code", "service.version": "2.1.331"})}


def metric_export(points: list[tuple[float, float, float]], *, temporality: int, name: str = LINES,
                  attributes: dict | None = None) -> list[dict]:  # fmt: skip
    """Envelopes of one metrics export: points (start s, time s, value) of one metric."""
    attrs = {"session.id": SESSION, "type": "added", **(attributes or {})}
    data_points = [
        {"attributes": _attributes(attrs), "startTimeUnixNano": str(ns(s)), "timeUnixNano": str(ns(t)),
         "asDouble": v}
        for s, t, v in points
    ]  # fmt: skip
    doc = {"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [{"scope": {"name": "com.anthropic.claude_code"},
           "metrics": [{"name": name, "unit": "", "sum": {"aggregationTemporality": temporality, "isMonotonic": True,
                                                          "dataPoints": data_points}}]}]}]}  # fmt: skip
    return otlp_envelopes(doc, signal="metrics", privacy=PRIVACY, capture_ns=ns(1000)).envelopes


def log_export(records: list[tuple[float, int]], *, name: str = "assistant_response", extra: dict | None = None,
               at: str | None = None, capture: float = 1000) -> list[dict]:  # fmt: skip
    """Envelopes of one logs export: records (time s, event.sequence) of one event name."""
    logs = []
    for t, sequence in records:
        moment = at or (T0 + timedelta(seconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        attrs = {"session.id": SESSION, "event.name": name, "event.timestamp": moment, "event.sequence": sequence,
                 **(extra or {})}  # fmt: skip
        logs.append({"timeUnixNano": str(ns(t)), "body": {"stringValue": f"claude_code.{name}"},
                     "attributes": _attributes(attrs)})  # fmt: skip
    doc = {
        "resourceLogs": [
            {"resource": RESOURCE, "scopeLogs": [{"scope": {"name": "events"}, "logRecords": logs}]}
        ]
    }
    return otlp_envelopes(doc, signal="logs", privacy=PRIVACY, capture_ns=ns(capture)).envelopes


def deltas() -> list[Decimal]:
    return [d for (d,) in MetricPoint.objects.order_by("time", "start_time").values_list("delta")]


def session() -> Session:
    return Session.objects.get(session_id=SESSION)


# --- temporality ------------------------------------------------------------------------------------


def test_delta_points_are_summed_as_they_are(redis):
    feed(redis, metric_export([(0, 10, 2.0), (10, 20, 3.0), (25, 30, 4.0)], temporality=1))
    assert deltas() == [2, 3, 4]
    assert session().otel_lines_added == 9 and session().otel_lines_removed == 0
    assert session().otel_active_seconds == 0  # it has metric points: zero, not unknown
    assert ActivityHour.objects.aggregate(n=Sum("otel_lines_added"))["n"] == 9


CUMULATIVE = [
    # process 1: a running total from its start at 0 s
    (0, 10, 5.0), (0, 20, 8.0), (0, 30, 12.0),
    # process 2 (a resume): its own counter from its start at 100 s
    (100, 110, 2.0), (100, 120, 6.0),
]  # fmt: skip


def test_cumulative_points_count_their_growth_and_a_new_process_starts_over(redis):
    feed(redis, metric_export(CUMULATIVE, temporality=2))
    assert deltas() == [5, 3, 4, 2, 4]
    assert session().otel_lines_added == 18
    assert ActivityHour.objects.aggregate(n=Sum("otel_lines_added"))["n"] == 18


def test_cumulative_deltas_do_not_depend_on_arrival_order(redis):
    for point in reversed(CUMULATIVE):  # newest first, each in a catch-up of its own
        feed(redis, metric_export([point], temporality=2))
    assert deltas() == [5, 3, 4, 2, 4]
    assert session().otel_lines_added == 18


def test_a_cumulative_counter_that_drops_was_reset(redis):
    feed(redis, metric_export([(0, 10, 7.0), (0, 20, 3.0), (0, 30, 5.0)], temporality=2))
    assert deltas() == [7, 3, 2]


def test_a_session_without_metric_points_has_no_otel_figures(redis):
    feed(redis, log_export([(1, 0)]))
    s = session()
    assert (s.otel_active_seconds, s.otel_lines_added, s.otel_edit_accepts) == (None, None, None)


def test_session_count_alone_makes_no_session(redis):
    feed(redis, metric_export([(0, 1, 1.0)], temporality=1, name="claude_code.session.count"))
    assert not Session.objects.exists() and not MetricPoint.objects.exists()


# --- event.sequence gaps ----------------------------------------------------------------------------


def gaps() -> tuple[int, list[str]]:
    issues = DataIssue.objects.filter(session__session_id=SESSION, kind=IssueKind.OTEL_SEQUENCE_GAP)
    return session().otel_gaps, sorted(issues.values_list("detail", flat=True))


def test_a_sequence_gap_is_reported_and_closed_when_the_records_come(redis):
    feed(redis, log_export([(1, 0), (2, 1), (3, 2), (6, 5)]))
    count, details = gaps()
    assert count == 2 and len(details) == 1 and "before event.sequence 5" in details[0]
    assert session().data_issues == 1
    # The same export sent again (a retry: another capture time) is no new gap and no new row.
    feed(redis, log_export([(1, 0), (2, 1), (3, 2), (6, 5)], capture=2000))
    assert gaps() == (count, details)
    # The missing records arrive late: no gap is left.
    feed(redis, log_export([(4, 3), (5, 4)]))
    assert gaps() == (0, [])
    assert session().data_issues == 0


def test_a_new_process_numbering_from_zero_is_no_gap(redis):
    feed(redis, log_export([(1, 0), (2, 1), (3, 2)]))
    feed(redis, log_export([(50, 0), (51, 1)]))  # a resume: a new process, the same session
    assert gaps() == (0, [])


def test_gaps_do_not_depend_on_arrival_order(redis):
    records = [(1, 0), (2, 1), (5, 4), (50, 0), (53, 3)]
    feed(redis, log_export(records))
    expected = gaps()
    assert expected[0] == 4  # 2, 3 in the first process; 1, 2 in the second
    reset(redis)
    for record in reversed(records):
        feed(redis, log_export([record]))
    assert gaps() == expected


def test_hook_bookkeeping_records_make_no_facts_but_their_number():
    [envelope] = log_export([(1, 7)], name="hook_registered")
    facts = claude_facts(seq=1, event=envelope)
    assert facts == [SequenceFact(SESSION, T0 + timedelta(seconds=1), 7)]


# --- hostile values ---------------------------------------------------------------------------------


def test_values_no_column_holds_are_fitted_and_reported(redis):
    huge = 2**70  # past 64 bits: capture keeps its text
    request = {"request_id": "req_huge", "model": "claude-sonnet-4-5-20250929", "input_tokens": huge,
               "output_tokens": 10**12, "cost_usd": 1e300}  # fmt: skip
    feed(redis, log_export([(1, 0)], name="api_request", extra=request))
    feed(redis, metric_export([(0, 10, 1e300)], temporality=1))
    turn = Turn.objects.get(request_id="req_huge")
    assert (turn.source, turn.input_tokens, turn.output_tokens, turn.cost_usd) == ("otel", 0, 10**9, None)
    assert turn.otel_usage["input_tokens"] == 0 and turn.otel_usage["cost_usd"] == ""
    assert MetricPoint.objects.get().value == pytest.approx(METRIC_MAX)  # SQLite keeps a float
    kinds = set(DataIssue.objects.values_list("kind", flat=True))
    assert kinds == {IssueKind.VALUE_OUT_OF_RANGE}


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"])
def test_an_event_time_no_column_holds_is_an_issue_and_nothing_else(redis, moment):
    feed(redis, log_export([(1, 0)], name="tool_decision", at=moment, extra={"tool_use_id": "toolu_x"}))
    assert list(DataIssue.objects.values_list("kind", flat=True)) == [IssueKind.TIME_OUT_OF_RANGE]
    assert not ToolCall.objects.exists() and not Turn.objects.exists()


def test_megabyte_strings_are_summarised_never_stored(redis):
    text = "x " * 500_000
    feed(redis, log_export([(1, 0)], name="tool_result",
                           extra={"tool_use_id": "toolu_big", "tool_name": text, "error_type": text,
                                  "success": False}))  # fmt: skip
    call = ToolCall.objects.get(tool_use_id="toolu_big")
    assert (call.status, call.seen_in_otel) == ("failure", True)
    assert len(call.tool_name) <= 128 and len(call.error_type) <= 128

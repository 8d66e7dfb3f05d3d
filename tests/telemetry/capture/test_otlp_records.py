"""OTLP exports into envelopes (telemetry/capture/otlp_records.py): the fixture's counts, stable ids,
privacy, and what odd values and shapes become. Pure: no Redis, no database."""

import collections
import json

import pytest

from telemetry.capture.otlp_decode import export_decode, protobuf_from_json
from telemetry.capture.otlp_records import otlp_envelopes
from telemetry.capture.privacy import Privacy
from tests.support.otel import EXPECTED, otlp_requests

PRIVACY = Privacy(b"otlp-records-salt" * 2)
KEPT = Privacy(b"otlp-records-salt" * 2, store_content=True)
REQUESTS = otlp_requests()
NS = 1_780_000_000 * 10**9


def signal_of(request: dict) -> str:
    return request["path"].rsplit("/", 1)[1]


def convert_all(privacy: Privacy = PRIVACY, *, capture_ns: int = NS) -> list[dict]:
    envelopes = []
    for request in REQUESTS:
        conversion = otlp_envelopes(
            request["body"], signal=signal_of(request), privacy=privacy, capture_ns=capture_ns
        )
        assert conversion.rejected == 0, conversion.message
        envelopes += conversion.envelopes
    return envelopes


def test_counts_per_event_span_and_metric_are_the_fixture_readmes():
    envelopes = convert_all()
    by_signal = collections.defaultdict(collections.Counter)
    for envelope in envelopes:
        by_signal[envelope["payload"]["signal"]][envelope["event_type"]] += 1
    assert dict(by_signal["log"]) == EXPECTED["otlp"]["log_events"]
    assert dict(by_signal["span"]) == EXPECTED["otlp"]["spans"]
    assert dict(by_signal["metric"]) == {n: m["points"] for n, m in EXPECTED["otlp"]["metrics"].items()}
    assert {e["platform"] for e in envelopes} == {"claude_code"} and {e["source"] for e in envelopes} == {
        "otel"
    }
    # The metric totals survive as values: delta points sum to the README's totals.
    totals = collections.Counter()
    for envelope in envelopes:
        if envelope["payload"]["signal"] == "metric":
            assert envelope["payload"]["temporality"] == "delta"
            totals[envelope["event_type"]] += envelope["payload"]["value"]
    for name, metric in EXPECTED["otlp"]["metrics"].items():
        assert totals[name] == pytest.approx(metric["total"])


def test_ids_are_unique_and_the_same_on_every_conversion():
    first = [e["event_id"] for e in convert_all(capture_ns=NS)]
    again = [e["event_id"] for e in convert_all(capture_ns=NS + 3600 * 10**9)]
    assert len(first) == len(set(first)) == 1445
    assert first == again
    # Natural ids where the record has them.
    assert all(i.startswith(("cc:o:log:", "cc:o:span:", "cc:o:metric:")) for i in first)
    assert sum(i.count(":") >= 5 for i in first if i.startswith("cc:o:log:")) == sum(
        EXPECTED["otlp"]["log_events"].values()
    )


def test_protobuf_gives_the_same_envelopes_as_json():
    for request in REQUESTS[:20]:
        signal = signal_of(request)
        doc = export_decode(
            protobuf_from_json(request["body"], signal=signal), signal=signal, encoding="protobuf"
        )
        a = otlp_envelopes(request["body"], signal=signal, privacy=PRIVACY, capture_ns=NS).envelopes
        b = otlp_envelopes(doc, signal=signal, privacy=PRIVACY, capture_ns=NS).envelopes
        assert a == b


def files_scenario_text(privacy: Privacy) -> str:
    """Everything the 00-files scenario (exported with OTEL_LOG_USER_PROMPTS/OTEL_LOG_TOOL_DETAILS on)
    became, as one JSON text."""
    envelopes = [
        e
        for e in convert_all(privacy)
        if e["metadata"]["resource"].get("corpus.scenario") == "00-files"
        and e["payload"]["signal"] != "metric"
    ]
    assert envelopes
    return json.dumps(envelopes)


CONTENT = (
    "Create notes.txt with three lines",  # the prompt
    "alpha\\\\nbeta\\\\ngamma",  # what Write wrote, in tool_input
    "ls -la && wc -l notes.txt",  # the Bash command
    "Now I'll change beta to BETA",  # the model's reply
    "/home/dev/otel/work/00-files/notes.txt",  # a path
)


def test_content_switched_on_in_the_export_is_not_stored_unless_kept():
    dropped = files_scenario_text(PRIVACY)
    for text in CONTENT:
        assert text not in dropped, text
    assert '"prompt": {"chars"' in dropped  # summarised: size and hash
    kept = files_scenario_text(KEPT)
    for text in CONTENT:
        assert text in kept, text


def test_people_are_hashed_whatever_the_content_setting():
    user = "user.id"
    raw = {a["value"]["stringValue"] for r in REQUESTS[:1] for b in r["body"]["resourceMetrics"]
           for s in b["scopeMetrics"] for m in s["metrics"] for p in m["sum"]["dataPoints"]
           for a in p["attributes"] if a["key"] == user}  # fmt: skip
    for privacy in (PRIVACY, KEPT):
        text = json.dumps(convert_all(privacy))
        assert raw and not any(r in text for r in raw)


def log_export(attributes: list[dict], *, service: str = "claude-code", **record: object) -> dict:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeLogs": [{"scope": {"name": "t"}, "logRecords": [{"attributes": attributes, **record}]}],
            }
        ]
    }


def attr(key: str, **value: object) -> dict:
    return {"key": key, "value": value}


BASE = [
    attr("session.id", stringValue="s-1"),
    attr("event.name", stringValue="api_request"),
    attr("event.timestamp", stringValue="2026-01-02T03:04:05.678Z"),
    attr("event.sequence", intValue="7"),
]


def one(doc: dict, signal: str = "logs", privacy: Privacy = PRIVACY) -> dict:
    conversion = otlp_envelopes(doc, signal=signal, privacy=privacy, capture_ns=NS)
    assert conversion.rejected == 0, conversion.message
    [envelope] = conversion.envelopes
    return envelope


def test_edge_values_become_typed_or_text_never_an_error():
    envelope = one(
        log_export(
            [
                *BASE,
                attr("huge_int", intValue="123456789012345678901234567890"),
                attr("big_int", intValue=str(2**63 - 1)),
                attr("nan", doubleValue="NaN"),
                attr("inf", doubleValue="Infinity"),
                attr("minus_inf", doubleValue=float("-inf")),
                attr("duration_ms", stringValue="21"),
                attr("success", stringValue="true"),
                attr("tool_use_id", stringValue="0123"),
                attr("nested", kvlistValue={"values": [attr("inner", intValue=5)]}),
                attr("list", arrayValue={"values": [{"intValue": "1"}, {"stringValue": "a"}]}),
            ]
        )
    )
    attributes = envelope["payload"]["attributes"]
    assert attributes["huge_int"] == "123456789012345678901234567890"
    assert attributes["big_int"] == 2**63 - 1
    assert attributes["nan"] is None and attributes["inf"] is None and attributes["minus_inf"] is None
    assert attributes["duration_ms"] == 21 and attributes["success"] is True
    assert attributes["tool_use_id"] == "0123"  # an id stays text
    assert attributes["nested"] == {"inner": 5}
    assert envelope["event_id"] == "cc:o:log:s-1:2026-01-02T03:04:05.678Z:7"
    assert envelope["payload"]["sequence"] == 7
    json.dumps(envelope, allow_nan=False)  # the store's JSON: no NaN


def test_a_megabyte_string_is_summarised_unless_content_is_kept():
    text = "word " * 200_000
    doc = log_export([*BASE, attr("prompt", stringValue=text), attr("note", stringValue=text)])
    envelope = one(doc)
    assert len(json.dumps(envelope)) < 4000
    assert envelope["payload"]["attributes"]["prompt"]["chars"] == len(text)
    assert one(doc, privacy=KEPT)["payload"]["attributes"]["prompt"] == text


def test_times_past_2262_and_at_the_calendars_ends():
    # Nanoseconds past 64 bits (after 2262-04-11): no time from them; the event's own time still counts.
    past = str(2**64 + 5)
    envelope = one(log_export(BASE, timeUnixNano=past))
    assert envelope["timestamp"] == "2026-01-02T03:04:05.678Z"
    no_time = [a for a in BASE if a["key"] != "event.timestamp"]
    conversion = otlp_envelopes(
        log_export(no_time, timeUnixNano=past), signal="logs", privacy=PRIVACY, capture_ns=NS
    )
    assert conversion.rejected == 1 and "without a time" in conversion.message
    # The last nanosecond 64 bits hold is 2262.
    assert one(log_export(no_time, timeUnixNano=str(2**63 - 1)))["timestamp"].startswith(
        "2262-04-11T23:47:16"
    )
    for stamp in ("0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"):
        attributes = [*no_time, attr("event.timestamp", stringValue=stamp)]
        assert one(log_export(attributes))["timestamp"] == stamp


def test_records_without_a_session_or_from_another_service_are_refused_with_the_reason():
    no_session = [a for a in BASE if a["key"] != "session.id"]
    conversion = otlp_envelopes(log_export(no_session), signal="logs", privacy=PRIVACY, capture_ns=NS)
    assert (conversion.rejected, conversion.envelopes) == (1, [])
    assert "session.id" in conversion.message
    conversion = otlp_envelopes(
        log_export(BASE, service="other"), signal="logs", privacy=PRIVACY, capture_ns=NS
    )
    assert conversion.rejected == 1 and "not from claude-code" in conversion.message


def test_values_nested_past_the_limit_refuse_their_record_and_the_rest_is_taken():
    import orjson

    from telemetry.capture.otlp_records import NESTING_MAX

    def nested(depth: int) -> dict:
        value: dict = {"stringValue": "x"}
        for _ in range(depth):
            value = {"arrayValue": {"values": [value]}}
        return value

    kept = Privacy(b"k" * 32, store_content=True)  # kept content is stored as it came: it must fit the store
    doc = log_export([*BASE, attr("deep", **nested(NESTING_MAX))])
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"].append(
        {"attributes": [*BASE, attr("deep", **nested(300))]}
    )
    conversion = otlp_envelopes(doc, signal="logs", privacy=kept, capture_ns=NS)
    assert conversion.rejected == 1 and "nested deeper" in conversion.message
    [envelope] = conversion.envelopes
    orjson.dumps(envelope)  # the store's encoder takes it
    deep_resource = log_export(BASE)
    deep_resource["resourceLogs"][0]["resource"]["attributes"].append(attr("deep", **nested(300)))
    with pytest.raises(ValueError, match="nested deeper"):  # the receiver's 400
        otlp_envelopes(deep_resource, signal="logs", privacy=kept, capture_ns=NS)


def metric_export(point: dict, *, kind: str = "sum", temporality: int = 2) -> dict:
    data = {"dataPoints": [point], "aggregationTemporality": temporality, "isMonotonic": True}
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": [attr("service.name", stringValue="claude-code")]},
                "scopeMetrics": [
                    {"metrics": [{"name": "claude_code.cost.usage", "unit": "USD", kind: data}]}
                ],
            }
        ]
    }


def test_metric_points_cumulative_and_odd_values():
    point = {"attributes": [attr("session.id", stringValue="s")], "timeUnixNano": str(NS), "asDouble": 1.5}
    envelope = one(metric_export(point), "metrics")
    assert envelope["payload"]["temporality"] == "cumulative" and envelope["payload"]["value"] == 1.5
    assert one(metric_export({**point, "asDouble": None, "asInt": "9"}), "metrics")["payload"]["value"] == 9
    for bad in ("NaN", "Infinity"):
        conversion = otlp_envelopes(
            metric_export({**point, "asDouble": bad}), signal="metrics", privacy=PRIVACY, capture_ns=NS
        )
        assert conversion.rejected == 1 and "finite" in conversion.message
    histogram = otlp_envelopes(
        metric_export(point, kind="histogram"), signal="metrics", privacy=PRIVACY, capture_ns=NS
    )
    assert histogram.rejected == 1 and "histogram" in histogram.message


@pytest.mark.parametrize(
    ("doc", "signal"),
    [
        ({"resourceLogs": {"not": "a list"}}, "logs"),
        ({"resourceLogs": ["text"]}, "logs"),
        ({"resourceSpans": [{"scopeSpans": [{"spans": "x"}]}]}, "traces"),
        ({"resourceMetrics": [{"scopeMetrics": [{"metrics": [1, 2]}]}]}, "metrics"),
        ([], "logs"),
        ("text", "metrics"),
    ],
)
def test_wrong_shapes_raise_value_error(doc, signal):
    with pytest.raises(ValueError):
        otlp_envelopes(doc, signal=signal, privacy=PRIVACY, capture_ns=NS)

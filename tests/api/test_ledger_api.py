"""GET /api/v1/ledger/ and the provenance the other resources carry (usage `sources` and group=source,
ccusage's `sources`, the tools report's decisions, sessions', turns' and tool calls' OTel fields) over the
rows the slow path writes for a session whose API calls came from every source (tests/factories.otel_rows).
Also run on PostgreSQL (tests/test_api_postgres.py)."""

from datetime import timedelta

import pytest

from tests.api.resources_support import error, ok
from tests.factories import OTEL_DAY, OTEL_MODEL, OTEL_PROJECT, OTEL_SESSION, otel_rows

pytestmark = pytest.mark.django_db

DAY = OTEL_DAY.date().isoformat()
SPAN = {"since": DAY, "until": DAY, "tz": "UTC"}


@pytest.fixture
def rows():
    return otel_rows()


def test_ledger_gives_every_figure(client, rows):
    found = ok(client, "ledger/", **SPAN)
    assert found["otel"] is True and found["span"] == {"since": DAY, "until": DAY, "tz": "UTC"}
    assert [(r["source"], r["messages"], r["output_tokens"]) for r in found["usage"]] == [
        ("both", 1, 100), ("transcript", 1, 200), ("otel", 1, 49), ("conflict", 1, 300),
    ]  # fmt: skip
    assert found["sources"]["otel"]["cost_usd"] == pytest.approx(0.0914)
    [compared] = found["compared"]
    assert compared["model"] == OTEL_MODEL
    assert compared["ledger"]["calls"] == 3 and compared["ledger"]["output_tokens"] == 449
    assert compared["events"]["output_tokens"] == 450 and compared["events"]["cost_usd"] == pytest.approx(
        0.115988
    )
    assert compared["events_difference"]["output_tokens"] == 1
    assert compared["metrics"]["cache_write_tokens"] == 25168
    assert compared["metrics_difference"]["cost_usd"] == pytest.approx(0.115988 - 0.116)
    [conflict] = found["conflicts"]
    assert (conflict["request_id"], conflict["session_id"]) == ("req_conflict", OTEL_SESSION)
    assert (conflict["transcript"]["output_tokens"], conflict["otel"]["output_tokens"]) == (300, 301)
    assert conflict["otel"]["cost_usd"] == pytest.approx(0.004605)  # a number, as all money
    assert found["conflicts_total"] == 1
    joins = found["joins"]
    assert joins["requests"] == {"both": 1, "transcript": 1, "otel": 1, "conflict": 1}
    assert joins["tool_calls"]["in_otel"] == 2 and joins["prompts"]["in_otel"] == 1
    assert joins["otel_gaps"] == {"sessions": 1, "records": 1}
    act = found["activity"]
    assert act["otel_active_seconds"] == pytest.approx(23.852) and act["active_seconds"] == 420
    assert (act["otel_lines_added"], act["otel_lines_removed"], act["otel_edit_accepts"]) == (30, 2, 11)
    assert (act["api_errors"], act["api_retries"]) == (1, 2)
    assert [(d["tool_name"], d["decision"], d["decision_source"]) for d in act["tool_decisions"]] == [
        ("Bash", "reject", "user_reject"), ("Write", "accept", "config"),
    ]  # fmt: skip


def test_ledger_without_otel_says_so(client, rows):
    later = (OTEL_DAY + timedelta(days=3)).date().isoformat()
    found = ok(client, "ledger/", since=later, until=later, tz="UTC")
    assert found["otel"] is False and found["usage"] == []
    assert found["activity"]["otel_active_seconds"] is None


def test_ledger_by_project_and_at_the_calendars_ends(client, rows):
    assert len(ok(client, "ledger/", project=OTEL_PROJECT[0], **SPAN)["usage"]) == 4
    assert ok(client, "ledger/", project="nope", **SPAN)["usage"] == []
    assert (
        len(ok(client, "ledger/", since="0001-01-01", until="9999-12-31", tz="Pacific/Kiritimati")["usage"])
        == 4
    )


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-27", "until": "2026-11-26"},
        {"since": "not-a-day"},
        {"tz": "Nowhere/Else"},
        {"days": 0},
        {"days": 2**64},
        {"project": "x" * 1_000_000},
        {"since": "10000-01-01"},
    ],
    ids=["reversed", "bad-day", "bad-zone", "no-days", "days-past-64-bits", "megabyte-project", "year-10000"],
)
def test_ledger_bad_parameters_are_400(client, params):
    body = error(client, "ledger/", 400, **params)
    assert len(body["message"]) < 500


def test_usage_reports_carry_sources(client, rows):
    found = ok(client, "usage/", group="day", **SPAN)
    assert found["totals"]["messages"] == 4 and found["totals"]["output_tokens"] == 649
    assert found["sources"]["otel"]["messages"] == 1 and found["sources"]["conflict"]["output_tokens"] == 300
    by_source = {r["source"]: r for r in ok(client, "usage/", group="source", **SPAN)["rows"]}
    assert set(by_source) == {"both", "transcript", "otel", "conflict"}
    assert by_source["otel"]["cost_usd"] == pytest.approx(0.0914)
    daily = ok(client, "usage/", group="day", format="ccusage", **SPAN)
    assert (
        daily["sources"]["otel"]["totalCost"] == pytest.approx(0.0914)
        and daily["totals"]["outputTokens"] == 649
    )
    sessions = ok(client, "usage/", group="session", format="ccusage", **SPAN)
    assert sessions["sources"]["both"]["messages"] == 1
    assert "sources" not in ok(client, "usage/", group="day", platform="cursor", **SPAN)


def test_a_transcript_only_span_has_no_sources(client, rows):
    from telemetry.models import UsageHour

    later = OTEL_DAY + timedelta(days=3, hours=10)
    UsageHour.objects.create(hour=later, platform="claude_code", project=rows.project, model=OTEL_MODEL,
                             source="transcript", messages=1, output_tokens=5)  # fmt: skip
    day = later.date().isoformat()
    assert "sources" not in ok(client, "usage/", group="day", since=day, until=day, tz="UTC")
    assert "sources" not in ok(
        client, "usage/", group="day", format="ccusage", since=day, until=day, tz="UTC"
    )


def test_tools_report_gives_decisions(client, rows):
    found = ok(client, "tools/", **SPAN)
    assert {(d["tool_name"], d["decision_source"], d["calls"]) for d in found["decisions"]} == {
        ("Bash", "user_reject", 1), ("Write", "config", 1),
    }  # fmt: skip
    assert ok(client, "tools/", platform="cursor", **SPAN)["decisions"] == []


def test_sessions_turns_and_tool_calls_carry_provenance(client, rows):
    session = ok(client, f"sessions/{OTEL_SESSION}/")
    assert (session["api_retries"], session["otel_gaps"], session["otel_lines_added"]) == (2, 1, 30)
    assert session["otel_active_seconds"] == pytest.approx(23.852) and session["otel_edit_accepts"] == 11
    [listed] = ok(client, "sessions/", search=OTEL_SESSION)["results"]
    assert listed == {k: v for k, v in session.items() if k != "conversations"}
    turns = {t["request_id"]: t for t in ok(client, "turns/", session=OTEL_SESSION, page_size=100)["results"]}
    assert turns["req_conflict"]["source"] == "conflict"
    assert turns["req_conflict"]["otel_usage"]["output_tokens"] == 301
    assert turns["req_conflict"]["otel_usage"]["cost_usd"] == pytest.approx(0.004605)
    assert turns["req_transcript"]["otel_usage"] is None and turns["req_otel"]["source"] == "otel"
    calls = {c["tool_use_id"]: c for c in ok(client, "tool-calls/", session=OTEL_SESSION)["results"]}
    assert (calls["toolu_rejected"]["decision"], calls["toolu_rejected"]["decision_source"]) == (
        "reject",
        "user_reject",
    )
    assert (
        calls["toolu_accepted"]["seen_in_otel"] is True and calls["toolu_accepted"]["otel_duration_ms"] == 180
    )
    assert calls["toolu_hooks"]["seen_in_otel"] is False and calls["toolu_hooks"]["otel_duration_ms"] is None
    timeline = ok(client, f"sessions/{OTEL_SESSION}/timeline/", page_size=100)["results"]
    assert {t["source"] for t in timeline if t["type"] == "turn" and t["kind"] == "assistant_response"} == {
        "both", "transcript", "otel", "conflict",
    }  # fmt: skip


def test_session_summary_gives_provenance(client, rows):
    found = ok(client, f"sessions/{OTEL_SESSION}/summary/")["provenance"]
    assert found["api_calls"] == {"both": 1, "transcript": 1, "otel": 1, "conflict": 1}
    assert found["conflicts"][0]["otel"]["cost_usd"] == pytest.approx(0.004605)
    assert found["api_errors"][0]["status_code"] == 529 and found["api_errors"][0]["attempts"] == 3
    assert found["tool_calls_in_otel"] == 2 and len(found["tool_decisions"]) == 2

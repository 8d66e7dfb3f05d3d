"""The MCP tool `ledger`, and the provenance the usage, session and tool answers carry, as plain functions
(in-process) over the rows the slow path writes for a session whose API calls came from every source
(tests/factories.otel_rows): the API's answers to the same questions (the protocol test asks them over
stdio and HTTP too)."""

from datetime import timedelta

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from api.mcp import tools
from tests.factories import OTEL_DAY, OTEL_SESSION, otel_rows

pytestmark = pytest.mark.django_db

DAY = OTEL_DAY.date().isoformat()
SPAN = {"since": DAY, "until": DAY, "tz": "UTC"}


def test_ledger_is_the_apis_answer(client):
    otel_rows()
    found = tools.ledger(**SPAN)
    assert found == client.get("/api/v1/ledger/", SPAN).json()
    assert found["otel"] is True and found["sources"]["otel"]["messages"] == 1
    assert found["conflicts"][0]["otel"]["output_tokens"] == 301
    assert found["activity"]["api_retries"] == 2 and found["joins"]["otel_gaps"]["records"] == 1
    assert found["activity"]["tool_decisions"][0]["decision_source"] == "user_reject"


def test_ledger_without_otel_says_so():
    otel_rows()
    later = (OTEL_DAY + timedelta(days=3)).date().isoformat()
    assert tools.ledger(since=later, until=later, tz="UTC")["otel"] is False


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"since": "2026-11-27", "until": "2026-11-26"}, "after until"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"project": "x" * 1_000_000}, "project"),
        ({"since": "x" * 100_000}, "since"),
        ({"days": 2**64}, "days"),
    ],
)
def test_ledger_bad_arguments_are_tool_errors(arguments, says):
    with pytest.raises(ToolError, match=says) as found:
        tools.ledger(**arguments)
    assert len(str(found.value)) < 2000


def test_usage_session_and_tool_answers_carry_sources_and_decisions(client):
    otel_rows()
    usage = tools.usage_report(group="day", **SPAN)
    assert usage["sources"]["conflict"]["output_tokens"] == 300 and usage["totals"]["messages"] == 4
    by_source = tools.usage_report(group="source", **SPAN)
    assert {r["source"] for r in by_source["rows"]} == {"both", "transcript", "otel", "conflict"}
    assert tools.usage_report(group="day", format="ccusage", **SPAN)["sources"]["otel"]["messages"] == 1
    summary = tools.session_summary(session_id=OTEL_SESSION)
    assert summary == client.get(f"/api/v1/sessions/{OTEL_SESSION}/summary/").json()
    assert summary["session"]["api_retries"] == 2 and summary["session"]["otel_lines_added"] == 30
    assert summary["provenance"]["api_calls"] == {"both": 1, "transcript": 1, "otel": 1, "conflict": 1}
    performance = tools.tool_performance(**SPAN)
    assert {d["decision"] for d in performance["decisions"]} == {"accept", "reject"}

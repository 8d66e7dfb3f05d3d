"""The provenance selectors (telemetry/selectors/provenance.py) over rows as the slow path writes them
(tests/factories.otel_rows): usage by source, OTel's own figures beside it, conflicts, join coverage
and the figures only OTel has."""

from datetime import timedelta
from decimal import Decimal

import pytest

from telemetry.selectors import provenance
from tests.factories import OTEL_DAY, OTEL_MODEL, OTEL_PROJECT, otel_rows

pytestmark = pytest.mark.django_db
SPAN = {"start": OTEL_DAY, "end": OTEL_DAY + timedelta(days=1)}


def test_usage_splits_by_source_and_counts_each_call_once() -> None:
    otel_rows()
    rows = provenance.usage_by_source(**SPAN)
    assert [(r["source"], r["messages"], r["output_tokens"]) for r in rows] == [
        ("both", 1, 100),
        ("transcript", 1, 200),
        ("otel", 1, 49),
        ("conflict", 1, 300),  # the transcript's reading counts
    ]
    totals = provenance.sources_of(rows)
    assert sum(t["messages"] for t in totals.values()) == 4
    assert totals["otel"]["cost_usd"] == Decimal("0.0914")


def test_otel_reported_gives_the_events_and_the_metrics_beside_the_ledger() -> None:
    otel_rows()
    [row] = provenance.otel_reported(**SPAN)
    assert row["model"] == OTEL_MODEL
    assert row["events"]["calls"] == 3
    assert row["events"]["output_tokens"] == 100 + 49 + 301
    assert row["events"]["cost_usd"] == Decimal("0.0200") + Decimal("0.091383") + Decimal("0.004605")
    assert row["metrics"]["output_tokens"] == 450
    assert row["metrics"]["cache_write_tokens"] == 25168
    assert row["metrics"]["cost_usd"] == Decimal("0.115988")


def test_conflicts_show_both_readings() -> None:
    otel_rows()
    [conflict] = provenance.usage_conflicts(**SPAN)
    assert conflict["request_id"] == "req_conflict"
    assert conflict["transcript"]["output_tokens"] == 300
    assert conflict["otel"]["output_tokens"] == 301


def test_join_coverage() -> None:
    otel_rows()
    joins = provenance.join_coverage(**SPAN)
    assert joins["requests"] == {"both": 1, "transcript": 1, "otel": 1, "conflict": 1}
    assert joins["tool_calls"]["total"] == 3
    assert joins["tool_calls"]["in_otel"] == 2
    assert joins["tool_calls"]["otel_and_hooks"] == 2
    assert joins["tool_calls"]["not_in_otel"] == 1
    assert joins["prompts"] == {"total": 2, "in_otel": 1, "in_hooks": 2, "in_transcript": 2, "otel_only": 0}
    assert joins["otel_gaps"] == {"sessions": 1, "records": 1}


def test_otel_activity_beside_blueplane_figures() -> None:
    otel_rows()
    act = provenance.otel_activity(**SPAN)
    assert act["otel"] is True
    assert act["otel_active_seconds"] == Decimal("23.852")
    assert act["active_seconds"] == 420
    assert (act["otel_lines_added"], act["otel_edit_accepts"], act["api_retries"]) == (30, 11, 2)
    assert [(d["tool_name"], d["decision"], d["decision_source"]) for d in act["tool_decisions"]] == [
        ("Bash", "reject", "user_reject"),
        ("Write", "accept", "config"),
    ]


def test_without_otel_its_figures_are_missing_not_zero() -> None:
    otel_rows()
    later = {"start": OTEL_DAY + timedelta(days=5), "end": OTEL_DAY + timedelta(days=6)}
    act = provenance.otel_activity(**later)
    assert act["otel"] is False
    assert act["otel_active_seconds"] is None and act["otel_lines_added"] is None
    assert provenance.ledger(**later)["usage"] == []


def test_project_filter() -> None:
    otel_rows()
    assert provenance.ledger(**SPAN, project_key="nope")["usage"] == []
    assert len(provenance.ledger(**SPAN, project_key=OTEL_PROJECT[0])["usage"]) == 4

"""The admin over rows with OpenTelemetry provenance (tests/factories.otel_rows): API calls filtered by
source, tool calls by Claude Code's decision, and the read-only list of OTel metric points."""

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from telemetry.models import MetricPoint, Turn
from tests.factories import otel_rows

pytestmark = pytest.mark.django_db


def get(client, name: str, **params):
    url = reverse(f"admin:telemetry_{name}_changelist") + ("?" + urlencode(params) if params else "")
    response = client.get(url)
    assert response.status_code == 200, (name, params)
    return response


def test_turns_filter_by_source(admin_client) -> None:
    otel_rows()
    for source in ("both", "transcript", "otel", "conflict"):
        [turn] = get(admin_client, "turn", source=source).context["cl"].result_list
        assert turn.request_id == f"req_{source}"
    assert 'class="field-source">conflict<' in get(admin_client, "turn").content.decode()


def test_tool_calls_filter_by_decision(admin_client) -> None:
    otel_rows()
    [call] = get(admin_client, "toolcall", decision="reject").context["cl"].result_list
    assert (call.tool_name, call.decision_source) == ("Bash", "user_reject")
    assert 'class="field-decision_source">user_reject<' in get(admin_client, "toolcall").content.decode()


def test_metric_points_list_and_detail(admin_client) -> None:
    otel_rows()
    points = get(admin_client, "metricpoint").context["cl"].result_list
    assert {p.name for p in points} >= {"claude_code.active_time.total", "claude_code.cost.usage"}
    point = MetricPoint.objects.get(name="claude_code.active_time.total")
    page = admin_client.get(reverse("admin:telemetry_metricpoint_change", args=[point.pk]))
    assert page.status_code == 200 and "23.852" in page.content.decode()
    turn = Turn.objects.get(request_id="req_conflict")
    page = admin_client.get(reverse("admin:telemetry_turn_change", args=[turn.pk]))
    assert page.status_code == 200 and "0.004605" in page.content.decode()  # OTel's own reading

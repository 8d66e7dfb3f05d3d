"""GET /api/v1/ledger/: Claude Code's usage with the provenance of every number (transcript, OTel, both
agreeing, or a conflict), OpenTelemetry's own figures beside the ledger's, the conflicts with both
readings, how the sources' join keys matched, and the figures only OTel has. The same selector as
`blueplane report ledger --json` and the MCP tool `ledger` (telemetry/selectors/provenance.py)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.selectors import provenance

from ..errors import ErrorSerializer
from ..params import SpanParams
from ..resources.serializers import otel_reading
from .base import ReportView, SpanSerializer, parsed, people_of, span_of
from .serializers import SourceTotalsSerializer, ToolDecisionSerializer

SOURCE_HELP = ("both (transcript and OTel agree), transcript (only a transcript saw it), otel (only OTel), "
               "conflict (both, tokens differ: the transcript's count)")  # fmt: skip


class LedgerParams(SpanParams):
    """The span of local days, which project, user and machine (the ledger is Claude Code's: the only
    OTel exporter)."""

    project = serializers.CharField(
        required=False, max_length=64, help_text="only this project, by its key (see /api/v1/projects/)"
    )
    user = serializers.CharField(required=False, max_length=150, help_text="only this user's (docs/team.md)")
    machine = serializers.CharField(
        required=False, max_length=64, help_text="only this machine's (docs/team.md)"
    )


class TokensSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    cache_read_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class SourceUsageSerializer(SourceTotalsSerializer):
    model = serializers.CharField()
    source = serializers.CharField(help_text=SOURCE_HELP)


class CallsSerializer(TokensSerializer):
    calls = serializers.IntegerField()


class ComparedSerializer(serializers.Serializer):
    model = serializers.CharField()
    ledger = CallsSerializer(help_text="the ledger's figures for the calls OTel saw (both, otel, conflict)")
    events = CallsSerializer(
        allow_null=True, help_text="the sum of OTel's api_request events (Claude Code's cost)"
    )
    metrics = TokensSerializer(allow_null=True, help_text="claude_code.token.usage and cost.usage summed")
    events_difference = CallsSerializer(allow_null=True, help_text="events minus ledger")
    metrics_difference = TokensSerializer(allow_null=True, help_text="metrics minus ledger")


class ConflictSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    request_id = serializers.CharField()
    model = serializers.CharField()
    timestamp = serializers.DateTimeField()
    transcript = serializers.DictField(help_text="the transcript's tokens (what the ledger counts)")
    otel = serializers.DictField(help_text="OTel's reading (tokens, cost_usd: Claude Code's figure)")


class JoinsSerializer(serializers.Serializer):
    requests = serializers.DictField(child=serializers.IntegerField(), help_text="API calls per source")
    tool_calls = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="total, in_otel, in_hooks, in_transcript, otel_and_hooks, otel_only, not_in_otel",
    )
    prompts = serializers.DictField(
        child=serializers.IntegerField(), help_text="total, in_otel, in_hooks, in_transcript, otel_only"
    )
    otel_gaps = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="sessions with event.sequence gaps, and records possibly lost in them",
    )


class OtelActivitySerializer(serializers.Serializer):
    otel = serializers.BooleanField(
        help_text="false: no OTel metric in the span; its otel_* figures are null"
    )
    active_seconds = serializers.IntegerField(help_text="Blueplane's gap-based active time")
    otel_active_seconds = serializers.FloatField(allow_null=True, help_text="Claude Code's own active time")
    lines_added = serializers.IntegerField()
    lines_removed = serializers.IntegerField()
    otel_lines_added = serializers.IntegerField(allow_null=True)
    otel_lines_removed = serializers.IntegerField(allow_null=True)
    edits_accepted = serializers.IntegerField()
    edits_rejected = serializers.IntegerField()
    otel_edit_accepts = serializers.IntegerField(
        allow_null=True, help_text="claude_code.code_edit_tool.decision"
    )
    otel_edit_rejects = serializers.IntegerField(allow_null=True)
    api_errors = serializers.IntegerField()
    api_retries = serializers.IntegerField(help_text="API request attempts after the first")
    tool_decisions = ToolDecisionSerializer(many=True)


class LedgerSerializer(serializers.Serializer):
    span = SpanSerializer()
    project = serializers.CharField(allow_null=True)
    otel = serializers.BooleanField(help_text="false: the span holds nothing OpenTelemetry reported")
    usage = SourceUsageSerializer(many=True, help_text="per model and source; each API call counted once")
    sources = serializers.DictField(
        child=SourceTotalsSerializer(), help_text=f"usage per source: {SOURCE_HELP}"
    )
    compared = ComparedSerializer(many=True)
    conflicts = ConflictSerializer(many=True, help_text=f"newest first, at most {provenance.CONFLICTS_MAX}")
    conflicts_total = serializers.IntegerField()
    joins = JoinsSerializer()
    activity = OtelActivitySerializer()


def ledger_answer(values: dict) -> dict:
    days = values["local_days"]
    found = provenance.ledger(
        start=days.start, end=days.end, project_key=values.get("project"), **people_of(values)
    )
    found.pop("otel_reported")  # inside `compared`, beside the ledger's figures
    found["conflicts"] = [{**c, "otel": otel_reading(c["otel"])} for c in found["conflicts"]]
    return {"span": span_of(values), "project": values.get("project"), **found}


class LedgerView(ReportView):
    @extend_schema(
        operation_id="ledger_report",
        summary="Claude Code's usage with the provenance of every number, and OpenTelemetry's own figures",
        description="Usage per model and source (both, transcript, otel, conflict: each API call counted "
        "once), OTel's api_request events and token/cost metrics beside the ledger's figures with the "
        "difference, the calls whose transcript and OTel tokens disagree (both readings), how the "
        "sources' join keys matched, possible OTel loss (event.sequence gaps), and the figures only OTel "
        "has (active time, lines of code, edit decisions, API retries, tool decisions by who decided). "
        "Claude Code only; the same numbers as `blueplane report ledger --json` (docs/metrics.md).",
        parameters=[LedgerParams],
        responses={
            200: LedgerSerializer,
            400: OpenApiResponse(ErrorSerializer, description="a parameter is not valid"),
        },
    )
    def get(self, request: Request) -> Response:
        values = parsed(LedgerParams, request)
        return Response(LedgerSerializer(ledger_answer(values)).data)

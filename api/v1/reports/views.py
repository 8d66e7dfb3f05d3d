"""Reports over a span (tools, errors, acceptance, activity, productivity), data issues, dead letters and
the pipeline's state. Each view parses its parameters, calls one selector and renders what it returned."""

from typing import Any

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from telemetry.selectors import activity, deadletters, derived, errors, provenance, system, tools
from telemetry.selectors.usage import PLATFORMS

from ..errors import ErrorSerializer
from . import serializers as out
from .base import Choice, ReportParams, ReportView, parsed, people_of, redis_guarded, span_of

BAD = OpenApiResponse(ErrorSerializer, description="a parameter is not valid")
REDIS_DOWN = OpenApiResponse(ErrorSerializer, description="Redis cannot be reached")


def _filters(values: dict) -> dict:
    days = values["local_days"]
    return {"start": days.start, "end": days.end, "platform": values.get("platform"),
            "project_key": values.get("project"), **people_of(values)}  # fmt: skip


class ToolsView(ReportView):
    @extend_schema(
        operation_id="tools_report",
        summary="Tool calls per tool: failure, rejection and interruption rates, latency percentiles",
        description="From the hourly tool rollups: the whole UTC hours overlapping the span. Latencies are "
        "read from summed histograms, within a factor of 1.12 (docs/metrics.md).",
        parameters=[ReportParams],
        responses={200: out.ToolReportSerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(ReportParams, request)
        filters = _filters(values)
        report = {"span": span_of(values), "tools": tools.tool_stats(**filters),
                  "decisions": provenance.tool_decisions(**filters)}  # fmt: skip
        return Response(out.ToolReportSerializer(report).data)


class ErrorParams(ReportParams):
    tool = serializers.CharField(required=False, max_length=128, help_text="only this tool")
    error_type = serializers.CharField(
        required=False, max_length=128, help_text="only this type: user_rejected, permission_denied, "
        "interrupted, tool_use_error or error",
    )  # fmt: skip
    min_count = serializers.IntegerField(
        default=1, min_value=1, max_value=2**31 - 1, help_text="leave out groups seen fewer times"
    )
    limit = serializers.IntegerField(default=100, min_value=1, max_value=1000, help_text="groups at most")


class ErrorsView(ReportView):
    @extend_schema(
        operation_id="errors_report",
        summary="Failed, rejected and interrupted tool calls grouped by tool, error type and message hash",
        description="Each group: how often, in how many sessions, first and last seen. The message hash "
        "groups equal error texts without storing them; the text's start is there only when content "
        "storage is opted in (docs/privacy.md).",
        parameters=[ErrorParams],
        responses={200: out.ErrorReportSerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(ErrorParams, request)
        limit = values["limit"]
        groups = errors.error_groups(
            **_filters(values), tool_name=values.get("tool"), error_type=values.get("error_type"),
            min_count=values["min_count"], limit=limit + 1,
        )  # fmt: skip
        report = {"span": span_of(values), "groups": groups[:limit], "more": len(groups) > limit}
        return Response(out.ErrorReportSerializer(report).data)


class AcceptanceView(ReportView):
    @extend_schema(
        operation_id="acceptance_report",
        summary="Acceptance of AI edits: accepted, rejected and reverted, by file extension",
        parameters=[ReportParams],
        responses={200: out.AcceptanceReportSerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(ReportParams, request)
        extensions, total = activity.acceptance_by_extension(**_filters(values))
        report = {"span": span_of(values), "extensions": extensions, "total": total}
        return Response(out.AcceptanceReportSerializer(report).data)


class ActivityView(ReportView):
    @extend_schema(
        operation_id="activity_report",
        summary="Activity totals and rates: prompts, messages, tool calls, errors, lines, active time",
        parameters=[ReportParams],
        responses={200: out.ActivityReportSerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(ReportParams, request)
        report = {"span": span_of(values), "activity": activity.activity_summary(**_filters(values))}
        return Response(out.ActivityReportSerializer(report).data)


class ProductivityView(ReportView):
    @extend_schema(
        operation_id="productivity_report",
        summary="The productivity score (0-100), the points of each part, and the inputs",
        description="score = clamp(50 + 25 tool_success - 15 error_share + 10 acceptance + 10 impact, 0, "
        "100); docs/metrics.md defines each part.",
        parameters=[ReportParams],
        responses={200: out.ProductivitySerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(ReportParams, request)
        report = {"span": span_of(values), **activity.productivity_score(**_filters(values))}
        return Response(out.ProductivitySerializer(report).data)


def _choice_filter(values: tuple, **kwargs: Any) -> django_filters.ChoiceFilter:
    # Django's message would quote the whole value sent, however long.
    message = "not one of: " + ", ".join(values)
    return django_filters.ChoiceFilter(
        choices=[(v, v) for v in values], error_messages={"invalid_choice": message}, **kwargs
    )


class IssueFilter(django_filters.FilterSet):
    kind = _choice_filter(derived.ISSUE_KINDS, help_text="only this kind")
    platform = _choice_filter(PLATFORMS, field_name="session__platform", help_text="only this platform")
    session = django_filters.CharFilter(
        field_name="session__session_id", max_length=256, help_text="only this session (its id)"
    )


class IssuePages(CursorPagination):
    ordering = "-id"  # the primary key: a stable order along an index, whatever the table's size
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {"cursor": "not a cursor this list gave out (follow the `next` and `previous` links)"}
            ) from None


@extend_schema_view(
    get=extend_schema(
        operation_id="data_issues_list",
        summary="Data issues: events the slow path could not fully understand, newest first",
        responses={200: out.DataIssueSerializer(many=True), 400: BAD},
    )
)
class DataIssueList(generics.ListAPIView):
    queryset = derived.data_issue_list()
    serializer_class = out.DataIssueSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = IssueFilter
    pagination_class = IssuePages
    content_negotiation_class = ReportView.content_negotiation_class


class IssueCountParams(serializers.Serializer):
    platform = Choice(choices=PLATFORMS, required=False, help_text="only this platform")
    session = serializers.CharField(required=False, max_length=256, help_text="only this session (its id)")


class DataIssueCounts(ReportView):
    @extend_schema(
        operation_id="data_issues_counts",
        summary="Data issues per kind",
        description="Counted along an index up to 100,000 per kind; past that `exact` is false.",
        parameters=[IssueCountParams],
        responses={200: out.IssueCountsSerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        values = parsed(IssueCountParams, request)
        kinds = errors.data_issue_counts(platform=values.get("platform"), session_id=values.get("session"))
        return Response(out.IssueCountsSerializer({"kinds": kinds}).data)


DEAD_LETTER_ID = r"^\d{1,20}-\d{1,20}$"  # a stream id, <ms>-<n>


class DeadLetterParams(serializers.Serializer):
    limit = serializers.IntegerField(default=50, min_value=1, max_value=500, help_text="dead letters at most")
    before = serializers.RegexField(
        DEAD_LETTER_ID, required=False, max_length=41,
        help_text="a dead letter's id (e.g. 1764066283123-0): list those older (the next page)",
    )  # fmt: skip


@redis_guarded
class DeadLetterList(ReportView):
    @extend_schema(
        operation_id="dead_letters_list",
        summary="Dead letters (entries the fast path could not store), newest first",
        parameters=[DeadLetterParams],
        responses={200: out.DeadLetterPageSerializer, 400: BAD, 503: REDIS_DOWN},
    )
    def get(self, request: Request) -> Response:
        values = parsed(DeadLetterParams, request)
        try:
            found = deadletters.dead_letter_list(limit=values["limit"], before=values.get("before"))
        except ValueError as exc:
            raise ValidationError({"before": str(exc)}) from None
        url = request.build_absolute_uri()
        more = len(found) == values["limit"]
        page = {
            "next": replace_query_param(url, "before", found[-1]["id"]) if more else None,
            "results": found,
        }
        return Response(out.DeadLetterPageSerializer(page).data)


@redis_guarded
class DeadLetterCounts(ReportView):
    @extend_schema(
        operation_id="dead_letters_counts",
        summary="Dead letters per reason",
        description="Reasons without their particulars (numbers and quoted values), counted over the newest "
        "20,000 dead letters; past that `exact` is false.",
        responses={200: out.DeadLetterCountsSerializer, 503: REDIS_DOWN},
    )
    def get(self, request: Request) -> Response:
        return Response(out.DeadLetterCountsSerializer(deadletters.dead_letter_counts()).data)


@redis_guarded
class DeadLetterDetail(ReportView):
    @extend_schema(
        operation_id="dead_letters_get",
        summary="One dead letter with its event",
        parameters=[
            OpenApiParameter(
                "dead_letter_id",
                str,
                OpenApiParameter.PATH,
                description="e.g. 1764066283123-0",
                pattern=DEAD_LETTER_ID,
            )
        ],
        responses={
            200: out.DeadLetterSerializer,
            400: BAD,
            404: OpenApiResponse(ErrorSerializer),
            503: REDIS_DOWN,
        },
    )
    def get(self, request: Request, dead_letter_id: str) -> Response:
        if len(dead_letter_id) > 41 or not deadletters.is_dead_letter_id(dead_letter_id):
            raise ValidationError({"dead_letter_id": f"not a dead-letter id: {dead_letter_id[:80]!r}"})
        try:
            found = deadletters.dead_letter_get(dead_letter_id=dead_letter_id)
        except ValueError as exc:
            raise ValidationError({"dead_letter_id": str(exc)}) from None
        if found is None:
            raise NotFound(f"no dead letter {dead_letter_id} (replayed or purged, or never there)")
        return Response(out.DeadLetterSerializer(found).data)


class PipelineView(ReportView):
    @extend_schema(
        operation_id="pipeline_state",
        summary="The pipeline's state, as `blueplane status` reports it",
        description="Database, Redis, the event stream, the slow path's lag, failing sessions, free space, "
        "and what needs attention. A part that is down is reported as such; this never fails for it.",
        responses={200: out.PipelineSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(out.PipelineSerializer(system.pipeline_state()).data)

"""GET /api/v1/ai-code/: AI-authored code as Cursor tracks it, the same answer as `blueplane report ai
--json` (telemetry/selectors/ai_code.py): scored commits per day, week or month (each commit once,
AI lines vs the human's), and the AI-generated fragments of code by source, model, extension or
project."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.selectors import ai_code
from telemetry.selectors.spans import WEEKDAYS

from ..errors import ErrorSerializer
from .base import Choice, ReportParams, ReportView, SpanSerializer, parsed, people_of, span_of
from .serializers import Present


class Label(Present, serializers.CharField):
    """A label only some rows have, null when it is unknown (DRF would write null in rows without it)."""


class AiCodeParams(ReportParams):
    group = Choice(choices=ai_code.PERIODS, default="day", help_text="commits: what a row is")
    lines_by = Choice(
        choices=ai_code.LINE_GROUPS, default="source", help_text="AI lines: what a row is (project: through "
        "the conversation Cursor recorded)",
    )  # fmt: skip
    start_of_week = Choice(choices=WEEKDAYS, default="monday", help_text="group=week: the day weeks start on")


class CommitTotalsSerializer(serializers.Serializer):
    commits = serializers.IntegerField(help_text="scored commits, each once whatever the branches")
    lines_added = serializers.IntegerField()
    lines_deleted = serializers.IntegerField()
    tab_lines_added = serializers.IntegerField()
    tab_lines_deleted = serializers.IntegerField()
    composer_lines_added = serializers.IntegerField()
    composer_lines_deleted = serializers.IntegerField()
    human_lines_added = serializers.IntegerField()
    human_lines_deleted = serializers.IntegerField()
    blank_lines_added = serializers.IntegerField()
    blank_lines_deleted = serializers.IntegerField()
    ai_lines_added = serializers.IntegerField(help_text="tab + composer")
    ai_lines_deleted = serializers.IntegerField(help_text="tab + composer")
    ai_share = serializers.FloatField(
        allow_null=True, help_text="ai_lines_added / (ai_lines_added + human_lines_added); null without lines"
    )


class CommitRowSerializer(CommitTotalsSerializer):
    day = serializers.DateField(required=False, help_text="group=day")
    week = serializers.CharField(required=False, help_text="group=week: its first day, YYYY-MM-DD")
    month = serializers.CharField(required=False, help_text="group=month: YYYY-MM")


class CommitsSerializer(serializers.Serializer):
    group = serializers.CharField()
    rows = CommitRowSerializer(many=True)
    totals = CommitTotalsSerializer()


class LineRowSerializer(serializers.Serializer):
    source = serializers.CharField(required=False, help_text="lines_by=source: composer, tab, ...")
    model = serializers.CharField(required=False, help_text='lines_by=model ("" when not recorded)')
    extension = serializers.CharField(required=False, help_text='lines_by=extension, e.g. ".py"')
    project = Label(required=False, allow_null=True, help_text="lines_by=project: its name; null: unknown")
    project_key = Label(required=False, allow_null=True, help_text="lines_by=project")
    lines = serializers.IntegerField(help_text="AI-generated fragments Cursor recorded")
    sessions = serializers.IntegerField(help_text="distinct sessions they came from")


class LinesSerializer(serializers.Serializer):
    group = serializers.CharField()
    rows = LineRowSerializer(many=True)
    total = serializers.IntegerField()


class AiCodeReportSerializer(serializers.Serializer):
    span = SpanSerializer()
    platform = serializers.CharField(help_text="cursor: the only assistant that tracks AI lines")
    commits = CommitsSerializer()
    lines = LinesSerializer()


def ai_code_answer(values: dict) -> dict:
    """The report for validated AiCodeParams (the CLI, the API and the MCP tool answer with it)."""
    days = values["local_days"]
    span = {"start": days.since, "end": days.until, "tz": days.tz, "platform": values.get("platform")}
    commits, totals = ai_code.ai_commit_report(
        **span, by=values["group"], week_starts=WEEKDAYS.index(values["start_of_week"])
    )
    lines, total = ai_code.ai_lines_by(
        **span, by=values["lines_by"], project_key=values.get("project"), **people_of(values)
    )
    return {
        "span": span_of(values),
        "platform": ai_code.PLATFORM,
        "commits": {"group": values["group"], "rows": commits, "totals": totals},
        "lines": {"group": values["lines_by"], "rows": lines, "total": total},
    }


class AiCodeView(ReportView):
    @extend_schema(
        operation_id="ai_code_report",
        summary="AI-authored code (Cursor): scored commits, AI vs human lines, and AI lines by source",
        description="From Cursor's own tracking database. Commits: those first scored in the span, each "
        "once however many branches it was scored on, per day, week or month, with lines added and "
        "deleted by the AI (Tab and composer) and the human, and the AI's share of the added lines. "
        "Lines: the fragments of code Cursor recorded as AI-generated, by source, model, file extension "
        "or project. `project`, `user` and `machine` filter the lines (commits have none of them: Cursor "
        "scores them apart from any session). Another platform than "
        "cursor answers empty.",
        parameters=[AiCodeParams],
        responses={
            200: AiCodeReportSerializer,
            400: OpenApiResponse(ErrorSerializer, description="a parameter is not valid"),
        },
    )
    def get(self, request: Request) -> Response:
        values = parsed(AiCodeParams, request)
        return Response(AiCodeReportSerializer(ai_code_answer(values)).data)

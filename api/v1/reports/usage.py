"""GET /api/v1/usage/: tokens and cost by day, week, month, session, project or model, the same numbers as
`blueplane usage` (the same selectors), or in ccusage's `--json` shape with format=ccusage."""

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.selectors import ccusage, ccusage_shapes, provenance, sessions, usage

from ..errors import ErrorSerializer
from .base import Choice, ReportParams, ReportView, parsed, people_of, span_of
from .serializers import CCUSAGE_SERIALIZERS, UsageReportSerializer

GROUPS = ("day", "week", "month", "session", "project", "model", "platform", "source", "user", "machine")


class UsageParams(ReportParams):
    group = Choice(choices=GROUPS, default="day", help_text="what a row is")
    group_by = Choice(
        choices=GROUPS, required=False, help_text="the same as group (docs/team.md names it so)"
    )
    format = Choice(
        choices=("json", "ccusage"),
        default="json",
        help_text="json: Blueplane's rows (as `blueplane usage --json`); ccusage: ccusage's `--json` "
        "shape (group day, week, month or session)",
    )
    start_of_week = Choice(
        choices=usage.WEEKDAYS,
        required=False,
        help_text="group=week: the day weeks start on (default: monday, as ccusage 20's weekly report)",
    )
    order = Choice(
        choices=ccusage_shapes.ORDERS,
        required=False,
        help_text="format=ccusage: asc or desc, as ccusage's --order (default: periods oldest first, "
        "sessions most expensive first)",
    )
    limit = serializers.IntegerField(
        default=50, min_value=1, max_value=10_000,
        help_text="group=session: at most this many sessions (newest first; with format=ccusage, most "
        "expensive first)",
    )  # fmt: skip

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if "group_by" in attrs:
            attrs["group"] = attrs.pop("group_by")
        if attrs["format"] == "ccusage" and attrs["group"] not in ccusage.REPORTS:
            raise serializers.ValidationError(
                {"group": f"format=ccusage reports group=day, week, month or session, not {attrs['group']} "
                 "(ccusage has no such report)"}
            )  # fmt: skip
        # Monday unless asked: Blueplane's weeks, and ccusage 20's (ccusage_shapes.WEEK_STARTS).
        attrs["week_starts"] = usage.WEEKDAYS.index(attrs.get("start_of_week", "monday"))
        return attrs


def usage_rows(values: dict) -> list:
    """The rows `blueplane usage --by <group> --json` prints for the same span."""
    days = values["local_days"]
    if values["group"] == "session":
        return sessions.session_usage_list(
            start=days.start, end=days.end, limit=values["limit"], platform=values.get("platform"),
            project_key=values.get("project"), **people_of(values),
        )  # fmt: skip
    return usage.usage_report(
        start=days.since, end=days.until, tz=days.tz, by=values["group"], platform=values.get("platform"),
        project_key=values.get("project"), week_starts=values["week_starts"], **people_of(values),
    )  # fmt: skip


def ccusage_report(values: dict) -> dict:
    days = values["local_days"]
    group = values["group"]
    filters = {"platform": values.get("platform"), "project": values.get("project"), **people_of(values),
               "order": values.get("order") or ccusage_shapes.DEFAULT_ORDER[group]}  # fmt: skip
    if group == "session":
        return ccusage.ccusage_sessions(start=days.start, end=days.end, limit=values["limit"], **filters)
    return ccusage.ccusage_periods(
        start=days.since, end=days.until, tz=days.tz, period=group, week_starts=values["week_starts"],
        **filters,
    )  # fmt: skip


class UsageView(ReportView):
    @extend_schema(
        operation_id="usage_report",
        summary="Tokens and cost by day, week, month, session, project, model or platform",
        description="The same numbers as `blueplane usage --by <group> --json`, from the hourly rollups (a "
        "session row: the whole session's usage, for sessions with activity in the span). A day, week or "
        "month row has `platforms`, its usage per platform, when the report holds more than one. Cursor "
        "does not record every response's tokens: `responses_without_tokens` counts those, and tokens "
        "and cost are null (missing, not 0) where none of a row's responses has them. format=ccusage "
        "answers in the shape of `ccusage daily|weekly|monthly|session --json` (ccusage 20), with the "
        "same additions where the report holds Cursor's usage. Where the span holds API calls that are not a "
        "transcript's alone (Claude Code's OpenTelemetry export), the answer adds `sources`: the totals per "
        "source (both, transcript, otel, conflict); group=source splits the rows so.",
        parameters=[UsageParams],
        responses={
            200: PolymorphicProxySerializer(
                component_name="UsageAnswer",
                serializers=[UsageReportSerializer, *CCUSAGE_SERIALIZERS.values()],
                resource_type_field_name=None,
            ),
            400: OpenApiResponse(ErrorSerializer, description="a parameter is not valid"),
        },
    )
    def get(self, request: Request) -> Response:
        values = parsed(UsageParams, request)
        if values["format"] == "ccusage":
            answer = ccusage_report(values)
            return Response(CCUSAGE_SERIALIZERS[values["group"]](answer).data)
        rows = usage_rows(values)
        return Response(UsageReportSerializer(usage_answer(values, rows)).data)


def usage_answer(values: dict, rows: list) -> dict:
    """The json report of `rows`, with `sources` when the span holds calls that are not a transcript's
    alone (provenance.span_sources)."""
    days = values["local_days"]
    report = {
        "group": values["group"],
        "span": span_of(values),
        "rows": rows,
        "totals": usage.usage_totals(rows),
    }
    found = provenance.span_sources(
        start=days.start,
        end=days.end,
        platform=values.get("platform"),
        project_key=values.get("project"),
        **people_of(values),
    )
    if found:
        report["sources"] = found
    return report

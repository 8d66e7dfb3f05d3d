"""GET /api/v1/blocks/: the 5-hour usage blocks in ccusage's `blocks --json` shape, the same blocks as
`blueplane report blocks --json` (telemetry/selectors/blocks.py, read through the ORM here)."""

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.selectors import blocks
from telemetry.selectors.spans import zone_named, zone_unknown
from telemetry.selectors.usage import PLATFORMS

from ..errors import ErrorSerializer
from .base import Choice, ReportView, parsed, people_of


class TokenLimit(serializers.CharField):
    def to_internal_value(self, data: object) -> int | str:
        text = super().to_internal_value(data)
        if text == "max":
            return text
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise serializers.ValidationError(f"{text[:40]!r} is not a number of tokens or 'max'")
        return int(text)


class BlocksParams(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="first day of a block's start, YYYY-MM-DD")
    until = serializers.DateField(required=False, help_text="last day of a block's start, YYYY-MM-DD")
    tz = serializers.CharField(default="UTC", max_length=64, help_text="IANA time zone of the days")
    project = serializers.CharField(
        required=False, max_length=255, help_text="only this project (name or key)"
    )
    platform = Choice(choices=PLATFORMS, required=False, help_text="only this platform's usage")
    user = serializers.CharField(required=False, max_length=150, help_text="only this user's (docs/team.md)")
    machine = serializers.CharField(
        required=False, max_length=64, help_text="only this machine's (docs/team.md)"
    )
    active = serializers.BooleanField(default=False, help_text="only the active block")
    recent = serializers.BooleanField(default=False, help_text="blocks of the last 3 days and the active one")
    order = Choice(choices=("asc", "desc"), default="asc", help_text="by start")
    token_limit = TokenLimit(
        required=False, max_length=20, help_text="tokens (or max) for the active block's tokenLimitStatus"
    )
    session_length = serializers.FloatField(default=5.0, min_value=0.01, max_value=24, help_text="hours")

    def validate_tz(self, value: str) -> str:
        if zone_named(value) is None:
            raise serializers.ValidationError(zone_unknown(value))
        return value

    def validate(self, attrs: dict) -> dict:
        if "since" in attrs and "until" in attrs and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"since": "is after until"})
        return attrs


class BlocksView(ReportView):
    @extend_schema(
        operation_id="blocks_report",
        summary="Usage in 5-hour blocks (ccusage's blocks)",
        description='ccusage 20\'s `blocks --json`: {"blocks": [...]}, each block with tokenCounts, costUSD, '
        "models, isActive, isGap, and for the active block burnRate and projection (tokenLimitStatus with "
        "token_limit). The same numbers as `blueplane report blocks --json`.",
        parameters=[BlocksParams],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"blocks": [...]}'),
            400: OpenApiResponse(ErrorSerializer, description="a parameter is not valid"),
        },
    )
    def get(self, request: Request) -> Response:
        values = parsed(BlocksParams, request)
        report = blocks.blocks_report(
            blocks.entries_orm(
                project=values.get("project"), platform=values.get("platform"), **people_of(values)
            ),
            now=datetime.now(UTC),
            tz=values["tz"],
            since=values.get("since"),
            until=values.get("until"),
            active=values["active"],
            recent=values["recent"],
            descending=values["order"] == "desc",
            token_limit=values.get("token_limit"),
            hours=values["session_length"],
        )
        return Response(report)

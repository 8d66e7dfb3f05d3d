"""Query parameters several endpoints share: the span of local days (since, until, days, tz).

Parsed by serializers, so a bad value is a 400 naming the parameter, and documented in the schema."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from rest_framework import serializers
from rest_framework.request import Request

from telemetry.selectors.spans import LocalDays, days_back, zone_named, zone_unknown


def zone_check(value: str) -> str:
    if zone_named(value) is None:
        raise serializers.ValidationError(zone_unknown(value))
    return value


class SpanParams(serializers.Serializer):
    """The local days a report covers: since..until inclusive in time zone tz (default: the last 30
    days up to today in tz)."""

    since = serializers.DateField(required=False, help_text="first day, YYYY-MM-DD")
    until = serializers.DateField(required=False, help_text="last day, YYYY-MM-DD (default: today)")
    days = serializers.IntegerField(
        required=False, default=30, min_value=1, max_value=4_000_000, help_text="days when since is not given"
    )
    tz = serializers.CharField(
        required=False, default="UTC", max_length=64, validators=[zone_check], help_text="IANA time zone"
    )

    def validate(self, attrs: dict) -> dict:
        until = attrs.get("until") or datetime.now(ZoneInfo(attrs["tz"])).date()
        since = attrs.get("since") or days_back(until, attrs["days"])
        if since > until:
            raise serializers.ValidationError(f"since {since} is after until {until}")
        attrs["local_days"] = LocalDays(since, until, attrs["tz"])
        return attrs


def local_days(request: Request) -> LocalDays:
    """The span a request asks for; a bad parameter raises ValidationError (a 400 naming it)."""
    params = SpanParams(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data["local_days"]


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()

"""What the report views share: query parameters parsed by serializers (a bad one is a 400 naming it, and
the schema documents each), the answer to Redis being down, and content negotiation that leaves
`format` to the views."""

from typing import Any

import redis
from django.utils.decorators import method_decorator
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from api.v1.params import SpanParams
from telemetry.selectors.usage import PLATFORMS


class JsonAlways(BaseContentNegotiation):
    """Reports answer JSON (or, for export, the file format asked for by `format`); errors are JSON
    whatever the client accepts. DRF would otherwise read `?format=` as a renderer's name and answer
    404 to `format=ccusage` or `format=csv`, and 406 to a client that accepts only text/csv."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        renderer = next((r for r in renderers if isinstance(r, JSONRenderer)), renderers[0])
        return renderer, renderer.media_type


class ReportView(APIView):
    content_negotiation_class = JsonAlways


class RedisUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "redis_unavailable"
    default_detail = "Redis cannot be reached, so dead letters cannot be read; `blueplane status` says why"


REDIS_ERRORS = (redis.RedisError, OSError)


def redis_guard(view: Any) -> Any:
    """Turns Redis being down (a state of the machine, not of the request) into a JSON 503."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except REDIS_ERRORS as exc:
            raise RedisUnavailable() from exc

    return wrapped


def redis_guarded(cls: type) -> type:
    return method_decorator(redis_guard, name="get")(cls)


class Choice(serializers.ChoiceField):
    """A ChoiceField whose error lists the choices and quotes at most 80 characters of what was sent
    (DRF's quotes all of it: a megabyte parameter would make a megabyte error)."""

    default_error_messages = {"invalid_choice": "{input} is not one of: {choices}"}

    def fail(self, key: str, **kwargs: Any) -> None:
        if key == "invalid_choice":
            kwargs = {
                "input": repr(str(kwargs.get("input", ""))[:80]),
                "choices": ", ".join(map(str, self.choices)),
            }
        super().fail(key, **kwargs)


class ReportParams(SpanParams):
    """The span of local days, and which platform and project to count."""

    platform = Choice(choices=PLATFORMS, required=False, help_text="only this platform")
    project = serializers.CharField(
        required=False, max_length=64, help_text="only this project, by its key (see /api/v1/projects/)"
    )
    user = serializers.CharField(required=False, max_length=150, help_text="only this user's (docs/team.md)")
    machine = serializers.CharField(
        required=False, max_length=64, help_text="only this machine's (docs/team.md)"
    )


def parsed(params: type[serializers.Serializer], request: Request) -> dict:
    """The request's query parameters validated by `params`; a bad one raises ValidationError (a 400)."""
    found = params(data=request.query_params)
    found.is_valid(raise_exception=True)
    return found.validated_data


def people_of(values: dict) -> dict:
    """The user and machine filters a report was asked for (None: any)."""
    return {"user": values.get("user"), "machine": values.get("machine")}


def span_of(values: dict) -> dict:
    days = values["local_days"]
    return {"since": days.since, "until": days.until, "tz": days.tz}


class SpanSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    tz = serializers.CharField()

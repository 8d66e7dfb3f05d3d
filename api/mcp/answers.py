"""What the tools share: parameters checked by the API's own serializers (so a bad one is refused with
the API's message), answers rendered as the API renders them, and sessions found as the API finds them.
A ToolError reaches the model as a tool result with isError set; the server keeps serving."""

import json
from typing import Any

from django_filters.utils import translate_validation
from mcp.server.mcpserver.exceptions import ToolError
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from api.v1.errors import clipped, message_of
from telemetry.models import Session
from telemetry.selectors import sessions

NUL_REFUSED = "holds a NUL character, which no id or name contains"


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The values given (None is "not given"). NUL is refused as the API refuses it: PostgreSQL would
    refuse it in a query."""
    given = {name: value for name, value in values.items() if value is not None}
    for name, value in given.items():
        if isinstance(value, str) and "\x00" in value:
            raise ToolError(f"{name}: {NUL_REFUSED}")
    return given


def validated(params: type[serializers.Serializer], **values: Any) -> dict:
    """`values` checked by one of the API's parameter serializers."""
    given = _given(values)
    found = params(data=given)
    if not found.is_valid():
        raise ToolError(message_of(clipped(found.errors)))
    return found.validated_data


def filtered(filterset: type, queryset: Any, **values: Any) -> Any:
    """`queryset` through one of the API's FilterSets, with the same checks as its query parameters."""
    given = {name: str(value) for name, value in _given(values).items()}
    found = filterset(data=given, queryset=queryset)
    if not found.is_valid():
        # As DjangoFilterBackend turns the form's errors into the API's 400.
        raise ToolError(message_of(clipped(translate_validation(found.errors).detail)))
    return found.qs


def rendered(data: Any) -> Any:
    """`data` exactly as the API writes it (money as JSON numbers, times as ISO 8601), as plain JSON."""
    return json.loads(JSONRenderer().render(data))


def session_one(session_id: str, platform: str | None) -> Session:
    """The session with this id (on `platform`), as GET /api/v1/sessions/{id}/ finds it."""
    if "\x00" in session_id:
        raise ToolError(f"session_id: {NUL_REFUSED}")
    found = sessions.session_lookup(session_id=session_id, platform=platform)
    if not found:
        on = f" on {platform}" if platform else ""
        raise ToolError(f"no session {session_id[:300]!r}{on}; find sessions with the sessions_search tool")
    if len(found) > 1:
        raise ToolError(
            f"session {session_id!r} exists on {' and '.join(s.platform for s in found)}: give platform"
        )
    return found[0]

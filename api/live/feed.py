"""The live feed's plain functions: a connection's query and filters, which events a connection wants,
and the messages of the protocol (api/live/__init__.py) as the text sent. No I/O here."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.core.serializers.json import DjangoJSONEncoder

from api.dashboard.filters import PLATFORMS, FilterError, PageFilters, filters_parse
from api.dashboard.pages import PAGES
from telemetry.selectors.changes import ChangedEvent

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SESSION_ID = 256  # Session.session_id's column
MAX_QUERY_CHARS = 8192  # a connection's whole query; filters are short, anything longer is refused

# Close codes (RFC 6455 leaves 4000-4999 to applications): a refused filter, a refused client (the
# access rule, as HTTP's 401), a page from another site (Origin not in ALLOWED_HOSTS, as HTTP's 403),
# no such session or path (as HTTP's 404).
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SERVER_ERROR = 1011  # RFC 6455's "internal error": the figures could not be computed (logged)
CLOSE_TRY_AGAIN = 1013  # RFC 6455's "try again later": Redis is not reachable just now


def query_params(query_string: bytes) -> dict[str, str]:
    """A connection's query as a dict (the last of repeated names wins, as Django's QueryDict.get)."""
    text = query_string.decode("latin-1")
    if len(text) > MAX_QUERY_CHARS:
        raise FilterError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    return dict(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True)
class EventFilters:
    """What a /ws/events connection asked for; empty text matches anything."""

    session: str = ""
    project: str = ""  # a project's key or (folder) name, as the dashboard's project filter
    platform: str = ""
    limit: int = DEFAULT_LIMIT

    @property
    def unfiltered(self) -> bool:
        return not (self.session or self.project or self.platform)


def _text(params: Mapping[str, str], name: str, most: int) -> str:
    value = params.get(name) or ""
    if len(value) > most:
        raise FilterError(f"{name}: longer than {most} characters")
    return value


def limit_parse(value: str | None) -> int:
    if not value:
        return DEFAULT_LIMIT
    # int() refuses a string of more than 4300 digits (ValueError) before building a huge number.
    if len(value) > 10 or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise FilterError(f"limit: {value[:40]!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def event_filters_parse(params: Mapping[str, str]) -> EventFilters:
    """The filters of a /ws/events query; FilterError names a bad one."""
    platform = _text(params, "platform", 40)
    if platform and platform not in PLATFORMS:
        raise FilterError(f"platform: {platform!r} is not one of {', '.join(PLATFORMS)}")
    return EventFilters(
        session=_text(params, "session", MAX_SESSION_ID),
        project=_text(params, "project", 200),
        platform=platform,
        limit=limit_parse(params.get("limit")),
    )


def event_matches(event: ChangedEvent, filters: EventFilters, project_keys: frozenset[str] | None) -> bool:
    """Whether a connection with these filters wants the event. project_keys: the keys the project
    filter names (None: no project filter); an event whose session is not derived yet has no project
    and matches no project filter."""
    return (
        (not filters.session or event["session_id"] == filters.session)
        and (not filters.platform or event["platform"] == filters.platform)
        and (project_keys is None or event["project"] in project_keys)
    )


@dataclass(frozen=True)
class MetricsRequest:
    """What a /ws/metrics connection asked for: a page, its filters, and the session of a session page."""

    page: str
    filters: PageFilters
    session_id: str = ""

    @property
    def key(self) -> tuple:
        """Connections with equal keys see the same figures (they share one computation)."""
        return (self.page, tuple(sorted(self.filters.query().items())), self.filters.tz, self.session_id)

    def kwargs(self) -> dict[str, str]:
        return {"session_id": self.session_id} if self.page == "session" else {}


def metrics_request_parse(params: Mapping[str, str]) -> MetricsRequest:
    page = params.get("page") or ""
    if page not in PAGES:
        raise FilterError(f"page: {page[:40]!r} is not one of {', '.join(PAGES)}")
    filters = filters_parse(params)
    session_id = _text(params, "session", MAX_SESSION_ID) if page == "session" else ""
    if page == "session" and not session_id:
        raise FilterError("session: the session page needs a session id")
    return MetricsRequest(page, filters, session_id)


def change_concerns(request: MetricsRequest, changed: Mapping) -> bool:
    """Whether a slow-path change can move this connection's figures: a session page only moves with
    its own session; a page filtered by user or machine only with a change of theirs (a change that
    does not say whose it is may be anyone's); every other page is made of rollups any change can move."""
    if request.page == "session":
        return any(session_id == request.session_id for _, session_id in changed.get("sessions", ()))
    user, machine = request.filters.user, request.filters.machine  # "": any
    people = changed.get("people")
    if not (user or machine) or people is None:
        return True
    return any((not user or u == user) and (not machine or m == machine) for u, m in people)


def dumps(message: dict) -> str:
    """A message as sent: JSON, with Decimal as a string and dates as ISO 8601 (DjangoJSONEncoder)."""
    return json.dumps(message, cls=DjangoJSONEncoder, separators=(",", ":"))


def events_message(kind: str, events: Iterable[ChangedEvent]) -> str:
    return dumps({"type": kind, "events": list(events)})


def error_message(message: str) -> str:
    return dumps({"type": "error", "message": message})

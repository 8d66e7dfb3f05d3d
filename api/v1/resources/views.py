"""Read-only views of sessions and their derived rows, projects and models. Each takes its rows from a
selector, filters them with a FilterSet (filters.py) and pages them by keyset (pagination.py); nothing
here queries on its own."""

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.models import Session
from telemetry.selectors import derived, sessions, timeline, traces
from telemetry.selectors.keyset import Key, Ordering, Position, ordering_reversed

# The error shape's one schema component (it lives with the first endpoint that documented it).
from ..errors import ErrorSerializer
from . import filters, serializers
from .pagination import CursorPagination

PLATFORMS = [value for value, _ in filters.PLATFORM_CHOICES]
PLATFORM_PARAM = OpenApiParameter(
    "platform",
    OpenApiTypes.STR,
    enum=PLATFORMS,
    description="The session's platform; needed only when two platforms used the same session id",
)


class ResourceSchema(AutoSchema):
    """Documents the errors every resource answers with: 400 for a bad parameter, 404 for an unknown
    session."""

    def get_override_parameters(self) -> list:
        parameters = super().get_override_parameters()
        if "{session_id}" in self.path:
            description = "The session's id (a Claude Code session id, a Cursor conversation id)"
            parameters.append(
                OpenApiParameter("session_id", str, OpenApiParameter.PATH, description=description)
            )
        return parameters

    def _get_response_bodies(self, direction: str = "response") -> dict:
        bodies = super()._get_response_bodies(direction)
        error = ErrorSerializer
        bodies.setdefault("400", self._get_response_for_code(error, "400", direction=direction))
        if "session_id" in self.path:
            bodies.setdefault("404", self._get_response_for_code(error, "404", direction=direction))
        return bodies


class ResourceView(GenericAPIView):
    """Filters by django-filter only (ordering is the paginator's, by keyset); cursor pagination."""

    schema = ResourceSchema()
    filter_backends = [DjangoFilterBackend]
    pagination_class = CursorPagination
    orderings: dict[str, Ordering] = {}
    default_ordering = ""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # No stored text holds NUL, and PostgreSQL refuses it in a query: a 400 here, not a 500 there.
        values = [*kwargs.values(), *request.query_params.keys(), *request.query_params.values()]
        if any("\x00" in str(v) for v in values):
            raise ValidationError("the URL holds a NUL character (%00), which no id or name contains")

    def platform_param(self) -> str | None:
        """?platform=, checked (views that read it before the filters do)."""
        platform = self.request.query_params.get("platform") or None
        if platform is not None and platform not in PLATFORMS:
            choices = ", ".join(PLATFORMS)
            raise ValidationError({"platform": f"unknown platform {platform[:40]!r}; choose from {choices}"})
        return platform

    def people_param(self) -> dict:
        """?user= and ?machine=, checked as the FilterSets check them (empty: any; docs/team.md), for views
        whose totals are summed before the filters run."""
        out = {}
        for name, most in (("user", 150), ("machine", 64)):
            value = self.request.query_params.get(name) or None
            if value is not None and len(value) > most:
                raise ValidationError({name: f"Ensure this value has at most {most} characters."})
            out[name] = value
        return out


class SessionScoped(ResourceView):
    """Views under sessions/{session_id}/: the session is found first (404 if unknown; 400 if two
    platforms used the id and ?platform= does not pick one)."""

    def one_of(self, found: Sequence[Any], platforms: list[str]) -> Any:
        session_id = self.kwargs["session_id"]
        if not found:
            on = self.platform_param()
            raise NotFound(f"no session {session_id[:300]!r}{f' on {on}' if on else ''}")
        if len(found) > 1:
            raise ValidationError(
                {"platform": f"session {session_id!r} exists on {' and '.join(platforms)}: add ?platform= "
                 f"with one of them"}
            )  # fmt: skip
        return found[0]

    @cached_property
    def session(self) -> Session:
        found = sessions.session_lookup(session_id=self.kwargs["session_id"], platform=self.platform_param())
        return self.one_of(found, [s.platform for s in found])


# --- sessions ----------------------------------------------------------------------------------------


class SessionList(ResourceView, ListAPIView):
    """Sessions, most recent activity first."""

    serializer_class = serializers.SessionSerializer
    filterset_class = filters.SessionFilter
    orderings = sessions.SESSION_ORDERINGS
    default_ordering = "-last_event_at"

    def get_queryset(self) -> QuerySet:
        return sessions.sessions_with_tokens(sessions.session_list())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # serializer_class documents the rows; session_data builds the same JSON without DRF's walk.
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([serializers.session_data(s) for s in page])


@extend_schema(parameters=[PLATFORM_PARAM])
class SessionDetail(SessionScoped, RetrieveAPIView):
    """One session: its counters, project, models, branch, times, status, and how many conversations
    and data issues it has."""

    serializer_class = serializers.SessionDetailSerializer
    pagination_class = None

    def get_object(self) -> Session:
        return self.session

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(serializers.session_detail_data(self.get_object()))


class RowTimeOrderings:
    time_field = "timestamp"

    @property
    def orderings(self) -> dict[str, Ordering]:
        return derived.time_orderings(self.time_field)


class ConversationList(ResourceView, ListAPIView):
    """Conversations (a Claude Code session is one; a Cursor session can hold several)."""

    serializer_class = serializers.ConversationSerializer
    filterset_class = filters.ConversationFilter
    orderings = derived.CONVERSATION_ORDERINGS
    default_ordering = "-started_at"

    def get_queryset(self) -> QuerySet:
        return derived.conversation_rows()


class TurnList(RowTimeOrderings, ResourceView, ListAPIView):
    """Turns: prompts (sizes, never text), assistant responses (model, tokens, cost, latency),
    compactions, sub-agent runs, API errors. Newest first."""

    serializer_class = serializers.TurnSerializer
    filterset_class = filters.TurnFilter
    default_ordering = "-timestamp"

    def get_queryset(self) -> QuerySet:
        return derived.turn_rows()


class ToolCallList(RowTimeOrderings, ResourceView, ListAPIView):
    """Tool calls with their outcome and duration; their time is the start (else the end). Newest first."""

    serializer_class = serializers.ToolCallSerializer
    filterset_class = filters.ToolCallFilter
    default_ordering = "-timestamp"
    time_field = "at"

    def get_queryset(self) -> QuerySet:
        return derived.tool_call_rows()


class CodeChangeList(RowTimeOrderings, ResourceView, ListAPIView):
    """Changes AI edits made to files: extension, line counts and outcome, never the code. Newest first."""

    serializer_class = serializers.CodeChangeSerializer
    filterset_class = filters.CodeChangeFilter
    default_ordering = "-timestamp"

    def get_queryset(self) -> QuerySet:
        return derived.code_change_rows()


class SessionRows(SessionScoped):
    """A list of one session's rows, oldest first."""

    default_ordering = "timestamp"

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no session
            return super().get_queryset()
        return derived.rows_of_session(super().get_queryset(), session=self.session)


class SessionConversationList(SessionRows, ConversationList):
    default_ordering = "started_at"


class SessionTurnList(SessionRows, TurnList):
    pass


class SessionToolCallList(SessionRows, ToolCallList):
    pass


class SessionCodeChangeList(SessionRows, CodeChangeList):
    pass


# --- a session's timeline and raw events ----------------------------------------------------------


@extend_schema(
    parameters=[PLATFORM_PARAM],
    responses=serializers.TimelineItemSerializer,
)
class SessionTimeline(SessionScoped, ListAPIView):
    """The session's turns, tool calls and code changes merged in time order (oldest first); `type`
    says which each item is. At the same instant a turn comes before tool calls, and those before code
    changes."""

    serializer_class = serializers.TimelineTurnSerializer  # for the schema; each item picks its own
    filter_backends: list = []
    orderings = {"timestamp": timeline.TIMELINE_KEYS, "-timestamp": ordering_reversed(timeline.TIMELINE_KEYS)}
    default_ordering = "timestamp"

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.session

        def read(keys: Ordering, limit: int, after: Position | None, before: Position | None) -> tuple:
            return timeline.timeline_page(
                session=session, limit=limit, after=after, before=before, descending=keys[0].descending
            )

        items = self.paginator.paginate(request, self, read, lambda item, keys: item.position)
        return self.get_paginated_response(serializers.timeline_data(items))


@extend_schema(parameters=[PLATFORM_PARAM])
class SessionEvents(SessionScoped, ListAPIView):
    """The session's raw events, decompressed, exactly as stored, in stored order: the one endpoint
    that reads the compressed store. Events archived to Parquet are not included."""

    serializer_class = serializers.RawEventSerializer
    filter_backends: list = []
    orderings = {"seq": (Key("seq"),)}
    default_ordering = "seq"

    @cached_property
    def platform(self) -> str:
        session_id, platform = self.kwargs["session_id"], self.platform_param()
        platforms = sorted(
            {s.platform for s in sessions.session_lookup(session_id=session_id, platform=platform)}
            | set(sessions.session_stored_platforms(session_id=session_id, platform=platform))
        )
        return self.one_of(platforms, platforms)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        platform, session_id = self.platform, self.kwargs["session_id"]

        def read(keys: Ordering, limit: int, after: Position | None, before: Position | None) -> tuple:
            return traces.session_events_page(
                platform=platform,
                session_id=session_id,
                limit=limit,
                after_seq=after[0] if after else None,
                before_seq=before[0] if before else None,
            )

        rows = self.paginator.paginate(request, self, read, lambda row, keys: (row[0],))
        return self.get_paginated_response([{"seq": seq, "event": event} for seq, event in rows])


# --- projects and models -----------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter(
                "platform", OpenApiTypes.STR, enum=PLATFORMS, description="Only sessions and usage there"
            ),
            OpenApiParameter(
                "user", OpenApiTypes.STR, description="Only this user's sessions and usage (docs/team.md)"
            ),
            OpenApiParameter(
                "machine",
                OpenApiTypes.STR,
                description="Only this machine's sessions and usage (docs/team.md)",
            ),
        ]
    )
)
class ProjectList(ResourceView, ListAPIView):
    """Projects with their session count, first and last activity, and usage totals (from the hourly
    rollups)."""

    serializer_class = serializers.ProjectSerializer
    filterset_class = filters.ProjectFilter
    orderings = derived.PROJECT_ORDERINGS
    default_ordering = "name"

    def get_queryset(self) -> QuerySet:
        return derived.project_list_with_totals(platform=self.platform_param(), **self.people_param())


class ModelList(ResourceView, ListAPIView):
    """Every model that answered, with its responses, tokens, cost and the first and last hour it
    answered in (from the hourly rollups). Most costly first."""

    serializer_class = serializers.ModelUsageSerializer
    filterset_class = filters.ModelUsageFilter
    orderings = derived.MODEL_ORDERINGS
    default_ordering = "-cost_usd"

    def get_queryset(self) -> QuerySet:
        return derived.model_usage_list()

"""Query filters of the resource lists (django-filter). Each filter calls a selector; a bad value is a 400
naming the parameter (DjangoFilterBackend raises the form's errors), and a free-text value longer than
any stored one matches nothing instead of reaching the database.

since / until take an ISO date or date-time. A date is a whole local day in `tz` (since: from its
start; until: through its end); a date-time without a zone is a time in `tz`."""

from datetime import datetime
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from telemetry.models import (
    ChangeStatus,
    CodeChange,
    Conversation,
    Project,
    Session,
    SessionStatus,
    ToolCall,
    ToolStatus,
    Turn,
    TurnKind,
    UsageHour,
)
from telemetry.selectors import derived, sessions
from telemetry.selectors.spans import moment_parse, zone_named, zone_unknown

PLATFORM_CHOICES = [("claude_code", "Claude Code"), ("cursor", "Cursor")]
# Longer than any stored id or name (the longest column holds 300): such a value matches nothing.
TEXT_MAX_CHARS = 300


def zone_valid(value: str) -> None:
    if zone_named(value) is None:
        # The value goes in as a parameter: django-filter %-formats messages, and values may hold "%".
        raise forms.ValidationError("%(message)s", params={"message": zone_unknown(value)})


class SpanForm(forms.Form):
    """Reads since and until together with tz, into UTC instants."""

    def clean(self) -> dict:
        data = super().clean()
        if "tz" in self.errors or not ({"since", "until"} & set(self.fields)):
            return data
        zone = ZoneInfo(data.get("tz") or "UTC")
        moments: dict[str, datetime | None] = {}
        for name in ("since", "until"):
            raw = data.get(name)
            try:
                moments[name] = moment_parse(raw, zone, end=name == "until") if raw else None
            except ValueError:
                message = "not a date or time: %(value)s (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[+zone])"
                self.add_error(name, forms.ValidationError(message, params={"value": repr(raw[:80])}))
        if len(moments) < 2:
            return data
        since, until = moments["since"], moments["until"]
        if since and until and since >= until:
            self.add_error("until", f"until ({until:%Y-%m-%d %H:%M:%S} UTC) is not after since")
        return {**data, **moments}


class ResourceFilterSet(filters.FilterSet):
    """Filters of one resource list. Text past TEXT_MAX_CHARS matches nothing."""

    class Meta:
        form = SpanForm

    _form_classes: ClassVar[dict[type, type[forms.Form]]] = {}

    def get_form_class(self) -> type[forms.Form]:
        # django-filter builds a form class, and every filter's form field, on each request (~1 ms a list);
        # no filter here depends on the request, so one form class per FilterSet class serves them all.
        cls = type(self)
        form_class = self._form_classes.get(cls)
        if form_class is None:
            form_class = self._form_classes[cls] = super().get_form_class()
        return form_class

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if any(isinstance(v, str) and len(v) > TEXT_MAX_CHARS for v in self.form.cleaned_data.values()):
            return queryset.none()
        queryset = super().filter_queryset(queryset)
        if "since" in self.filters:
            queryset = self.span(queryset, self.form.cleaned_data["since"], self.form.cleaned_data["until"])
        return queryset

    def span(self, queryset: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet:
        return queryset

    def unfiltered(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # read by filter_queryset with the others of its kind

    def by_project(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.rows_in_project(queryset, project=value)


class IntegerFilter(filters.NumberFilter):
    """A whole number (NumberFilter reads a decimal)."""

    field_class = forms.IntegerField


def platform_filter(field: str = "platform") -> filters.ChoiceFilter:
    return filters.ChoiceFilter(field_name=field, choices=PLATFORM_CHOICES, help_text="Platform")


def project_filter() -> filters.CharFilter:
    return filters.CharFilter(method="by_project", help_text="Project key, or project (folder) name (exact)")


def user_filter(field: str = "user") -> filters.CharFilter:
    return filters.CharFilter(field_name=field, max_length=150, help_text="User (exact; docs/team.md)")


def machine_filter(field: str = "machine") -> filters.CharFilter:
    return filters.CharFilter(field_name=field, max_length=64, help_text="Machine id (exact; docs/team.md)")


def moment_filter(help_text: str) -> filters.CharFilter:
    """since or until, documented as what it takes (a date or a date-time), so schema-driven clients
    (and fuzzers) send those; read by SpanForm."""
    schema = {"oneOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
    return extend_schema_field({**schema, "description": help_text})(
        filters.CharFilter(method="unfiltered", help_text=help_text)
    )


class SpanFilterSet(ResourceFilterSet):
    """since, until and tz; subclasses say what a span means for their rows (`span`)."""

    since = moment_filter("From this date (a local day in tz) or date-time (ISO 8601)")
    until = moment_filter("Through this date (a local day in tz), or before this date-time (ISO 8601)")
    tz = filters.CharFilter(
        method="unfiltered",
        max_length=64,
        validators=[zone_valid],
        help_text="IANA time zone of since and until (default UTC)",
    )


class SessionFilter(SpanFilterSet):
    platform = platform_filter()
    project = project_filter()
    user = user_filter()
    machine = machine_filter()
    branch = filters.CharFilter(field_name="git_branch", help_text="Git branch (exact)")
    model = filters.CharFilter(method="by_model", help_text="Sessions with a response from this model")
    tool = filters.CharFilter(method="by_tool", help_text="Sessions with a call of this tool")
    status = filters.ChoiceFilter(choices=SessionStatus.choices, help_text="Session status")
    min_cost = filters.NumberFilter(method="by_min_cost", help_text="Sessions that cost at least this (USD)")
    min_tokens = IntegerFilter(
        method="by_min_tokens", help_text="Sessions with at least this many tokens (input+output+cache)"
    )
    search = filters.CharFilter(method="by_search", help_text="Session id (exact) or part of a project name")

    class Meta(ResourceFilterSet.Meta):
        model = Session
        fields: list[str] = []

    def span(self, queryset: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet:
        return sessions.sessions_active(queryset, start=start, end=end)

    def by_project(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return sessions.sessions_in_project(queryset, project=value)

    def by_model(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.sessions_using_model(queryset, model=value)

    def by_tool(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return sessions.sessions_using_tool(queryset, tool=value)

    def by_min_cost(self, queryset: QuerySet, name: str, value: Decimal) -> QuerySet:
        return sessions.sessions_min_cost(queryset, cost_usd=value)

    def by_min_tokens(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return sessions.sessions_min_tokens(queryset, tokens=value)

    def by_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.rows_search(queryset, term=value, session="pk", project="project")


class RowFilter(SpanFilterSet):
    """Rows of sessions: by session id, project, platform and time (`time_field` in since..until)."""

    session = filters.CharFilter(method="by_session", help_text="Session id (exact)")
    project = project_filter()
    platform = filters.ChoiceFilter(method="by_platform", choices=PLATFORM_CHOICES, help_text="Platform")
    user = user_filter("session__user")
    machine = machine_filter("session__machine")

    time_field = "timestamp"

    def span(self, queryset: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet:
        return derived.rows_in_span(queryset, field=self.time_field, start=start, end=end)

    def by_session(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.rows_with_session_id(queryset, session_id=value)

    def by_platform(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.rows_on_platform(queryset, platform=value)


class ConversationFilter(RowFilter):
    class Meta(ResourceFilterSet.Meta):
        model = Conversation
        fields: list[str] = []

    def span(self, queryset: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet:
        return derived.conversations_active(queryset, start=start, end=end)

    def by_project(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.rows_in_project(queryset, project=value, field="session__project")


class TurnFilter(RowFilter):
    kind = filters.ChoiceFilter(choices=TurnKind.choices, help_text="Kind of turn")
    model = filters.CharFilter(help_text="Model that answered (exact)")

    class Meta(ResourceFilterSet.Meta):
        model = Turn
        fields: list[str] = []


class ToolCallFilter(RowFilter):
    tool_name = filters.CharFilter(help_text="Tool name (exact)")
    mcp_server = filters.CharFilter(help_text="MCP server of the tool (exact)")
    status = filters.ChoiceFilter(choices=ToolStatus.choices, help_text="Outcome of the call")
    error_type = filters.CharFilter(help_text="Error type of a failed call (exact)")

    time_field = "at"  # the start, or the end when the start is unknown

    class Meta(ResourceFilterSet.Meta):
        model = ToolCall
        fields: list[str] = []


class CodeChangeFilter(RowFilter):
    tool_name = filters.CharFilter(help_text="Tool that made the change (exact)")
    file_extension = filters.CharFilter(help_text="File extension without the dot, e.g. py (exact)")
    status = filters.ChoiceFilter(choices=ChangeStatus.choices, help_text="Whether the change was kept")

    class Meta(ResourceFilterSet.Meta):
        model = CodeChange
        fields: list[str] = []


class ProjectFilter(ResourceFilterSet):
    search = filters.CharFilter(
        method="by_search", help_text="Part of the project name (any case), or its key"
    )

    class Meta(ResourceFilterSet.Meta):
        model = Project
        fields: list[str] = []

    def by_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return derived.project_search(queryset, term=value)


class ModelUsageFilter(SpanFilterSet):
    """The rollup hours a model's totals are summed over: since..until (hours overlapping it), platform,
    project, user, machine."""

    platform = platform_filter()
    project = project_filter()
    user = user_filter()
    machine = machine_filter()

    class Meta(ResourceFilterSet.Meta):
        model = UsageHour
        fields: list[str] = []

    def span(self, queryset: QuerySet, start: datetime | None, end: datetime | None) -> QuerySet:
        return derived.rollup_hours_in_span(queryset, start=start, end=end)

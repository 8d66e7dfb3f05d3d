"""List filters that never ask the database for their choices by scanning a big table.

Choices are fixed (platforms, event types, issue kinds), read from a small table (models and tools from
the hourly rollups, one session by its key), or the field's own choices; the selected value is always
offered, even when it is not among them.
"""

from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from ..models import RAW_TRACE_MODELS
from ..selectors import ai_lines_pages, derived, provenance
from ..selectors.spans import moment_parse
from ..store.keys import event_key_bounds

PLATFORM_LABELS = {"claude_code": "Claude Code", "cursor": "Cursor"}

# The event-type filter offers these instead of a SELECT DISTINCT over the whole table. Claude Code's
# names are the hook events and transcript record types its real CLI wrote (tests/fixtures/claude-real);
# Cursor's are its hook events. Any other type still filters via ?event_type= and is then listed.
KNOWN_EVENT_TYPES = {
    "claude_code": (
        # hooks
        "ConfigChange",
        "CwdChanged",
        "FileChanged",
        "InstructionsLoaded",
        "MessageDisplay",
        "Notification",
        "PermissionRequest",
        "PostCompact",
        "PostModelSwitch",
        "PostToolBatch",
        "PostToolUse",
        "PostToolUseFailure",
        "PreCompact",
        "PreModelSwitch",
        "PreToolUse",
        "SessionEnd",
        "SessionStart",
        "Setup",
        "Stop",
        "StopFailure",
        "SubagentStart",
        "SubagentStop",
        "TaskCompleted",
        "TaskCreated",
        "UserPromptExpansion",
        "UserPromptSubmit",
        # transcript records
        "assistant",
        "attachment",
        "file-history-snapshot",
        "queue-operation",
        "summary",
        "system",
        "user",
    ),
    "cursor": (
        "beforeSubmitPrompt",
        "beforeShellExecution",
        "afterShellExecution",
        "beforeMCPExecution",
        "afterMCPExecution",
        "beforeReadFile",
        "afterFileEdit",
        "afterAgentResponse",
        "afterAgentThought",
        "stop",
    ),
}


class PlatformSwitch(admin.SimpleListFilter):
    """Each platform has its own table and admin; this filter links to the other one, keeping the
    search and date filters (event types differ between platforms, so that filter is dropped)."""

    title = "platform"
    parameter_name = "platform"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(PLATFORM_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset  # the table is the platform

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        query = changelist.get_query_string(remove=[self.parameter_name, "event_type"])
        for platform, label in self.lookup_choices:
            model = RAW_TRACE_MODELS[platform]
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            yield {
                "selected": platform == changelist.model.PLATFORM,
                "query_string": url + query,
                "display": label,
            }


class EventTypeFilter(admin.SimpleListFilter):
    """Known event types of the platform plus the selected one; never a DISTINCT over the table."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = list(KNOWN_EVENT_TYPES.get(model_admin.model.PLATFORM, ()))
        current = request.GET.get(self.parameter_name)
        if current and current not in names:
            names.append(current)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(event_type=value) if value else queryset


def _row_id(value: str | None) -> bool:
    """Whether a URL value can be a row's primary key (digits, within 64 bits)."""
    return bool(value) and value.isascii() and value.isdigit() and int(value) < 2**63


def _parse_moment(value: str, *, end: bool) -> datetime:
    """An ISO date or datetime; naive means the current time zone. A bare `until` date includes the day."""
    return moment_parse(value, timezone.get_current_timezone(), end=end)


class EventDateFilter(admin.SimpleListFilter):
    """Event time, as a range of event_key (which starts with the event time, and is indexed), since
    ts_ms has no index. ?since= and ?until= take ISO dates or datetimes; until is inclusive of its day."""

    title = "event date"
    parameter_name = "date"
    template = "admin/telemetry/date_range_filter.html"
    RANGE_PARAMS = ("since", "until")

    def __init__(self, request: HttpRequest, params: dict, model: type[Model], model_admin: Any) -> None:
        self.since = self._pop(params, "since")
        self.until = self._pop(params, "until")
        self.form_hidden: list[tuple[str, str]] = []
        super().__init__(request, params, model, model_admin)

    @staticmethod
    def _pop(params: dict, name: str) -> str | None:
        values = params.pop(name, None)
        return (values[-1].strip() or None) if values else None

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name, *self.RANGE_PARAMS]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("today", "Today"), ("7d", "Past 7 days"), ("30d", "Past 30 days"), ("year", "This year")]

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) of the selected range; None means open. KeyError or ValueError on a bad value."""
        now = timezone.now()
        today = timezone.make_aware(datetime.combine(timezone.localdate(now), time()))
        start, end = {
            None: (None, None),
            "today": (today, today + timedelta(days=1)),
            "7d": (now - timedelta(days=7), None),
            "30d": (now - timedelta(days=30), None),
            "year": (today.replace(month=1, day=1), None),
        }[self.value()]
        if self.since:
            since = _parse_moment(self.since, end=False)
            start = since if start is None else max(start, since)
        if self.until:
            until = _parse_moment(self.until, end=True)
            end = until if end is None else min(end, until)
        return start, end

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        try:
            start, end = self.bounds()
        except (KeyError, ValueError) as exc:  # unknown ?date=, bad ISO date: the changelist answers ?e=1
            raise IncorrectLookupParameters(exc) from exc
        lo, hi = event_key_bounds(
            int(start.timestamp() * 1000) if start else 0,
            int(end.timestamp() * 1000) if end else 0,
        )
        if start is not None:
            queryset = queryset.filter(event_key__gte=lo)
        if end is not None:
            queryset = queryset.filter(event_key__lt=hi)
        return queryset

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        every = [self.parameter_name, *self.RANGE_PARAMS]
        self.form_hidden = [(k, v) for k, v in changelist.params.items() if k not in every]
        ranged = bool(self.since or self.until)
        yield {
            "selected": self.value() is None and not ranged,
            "query_string": changelist.get_query_string(remove=every),
            "display": "Any date",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup and not ranged,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}, remove=list(self.RANGE_PARAMS)
                ),
                "display": title,
            }
        if ranged:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": f"{self.since or '…'} to {self.until or '…'}",
            }


class PlatformFieldFilter(admin.SimpleListFilter):
    """The fixed platforms; the default field filter would SELECT DISTINCT over the table."""

    title = "platform"
    parameter_name = "platform"
    field = "platform"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(PLATFORM_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class SessionPlatformFilter(PlatformFieldFilter):
    """The platform of the row's session (turns, tool calls and the like have no platform column)."""

    field = "session__platform"


class SessionFilter(admin.SimpleListFilter):
    """The rows of one session (?session=<id>), as the links on a session's page open them. Offers only
    the selected session, read by its primary key, and a way back to all sessions; never a list of them."""

    title = "session"
    parameter_name = "session"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        value = self.value()
        if not _row_id(value):
            return []
        session = derived.session_get(pk=int(value))
        return [(value, session.session_id if session else f"#{value} (not found)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not _row_id(value):
            raise IncorrectLookupParameters(f"session={value[:40]!r}")
        return queryset.filter(session_id=int(value))


class NameFilter(admin.SimpleListFilter):
    """Names seen so far, from a small table, plus the selected one; `field` is filtered by equality."""

    field = ""
    names: Callable[[], list[str]]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = list(type(self).names())
        current = self.value()
        if current and current not in names:
            names.append(current)
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class ModelFilter(NameFilter):
    title = "model"
    parameter_name = "model"
    field = "model"
    names = derived.model_names


class SessionModelFilter(ModelFilter):
    """Sessions that used the model in any assistant response."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return derived.sessions_using_model(queryset, model=value) if value else queryset


class ToolFilter(NameFilter):
    title = "tool"
    parameter_name = "tool_name"
    field = "tool_name"
    names = derived.tool_names


class IssueKindFilter(NameFilter):
    title = "kind"
    parameter_name = "kind"
    field = "kind"

    @staticmethod
    def names() -> list[str]:
        return list(derived.ISSUE_KINDS)


class AiCodeSourceFilter(NameFilter):
    """Where Cursor says an AI code line came from: the sources seen in its tracking database
    (docs: cursor-formats §4.1), never a DISTINCT over the table."""

    title = "source"
    parameter_name = "source"
    field = "source"

    @staticmethod
    def names() -> list[str]:
        return list(ai_lines_pages.AI_CODE_SOURCES)


class UsageSourceFilter(NameFilter):
    """Where an API call's numbers come from (Turn.source: docs/metrics.md, "one ledger with
    provenance"): a fixed list, never a DISTINCT over the table."""

    title = "source"
    parameter_name = "source"
    field = "source"

    @staticmethod
    def names() -> list[str]:
        return list(provenance.SOURCES)


class DecisionFilter(NameFilter):
    """Claude Code's decision on a tool call (its OpenTelemetry tool_decision event)."""

    title = "decision"
    parameter_name = "decision"
    field = "decision"

    @staticmethod
    def names() -> list[str]:
        return ["accept", "reject"]


class ProgressFilter(admin.SimpleListFilter):
    """Sessions the slow path has not caught up with, or whose catch-up fails."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("failing", "Failing"), ("waiting", "Waiting")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "failing":
            return derived.progress_failing(queryset)
        if value == "waiting":
            return derived.progress_waiting(queryset)
        return queryset

"""Read-only admin over the raw trace store.

The raw tables grow by millions of rows, so every changelist here runs a bounded number of queries
whatever the table size: rows come from selectors that never load compressed bodies, filters never
ask the database for their choices, and nothing counts the table (WindowPaginator).
"""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from .models import RAW_TRACE_MODELS, ClaudeRawTrace, CursorRawTrace, RawChunk, RawTrace, SessionProgress
from .selectors import traces
from .store.keys import event_key_bounds, session_key

admin.site.site_header = "Blueplane"
admin.site.site_title = "Blueplane"
admin.site.index_title = "Telemetry"

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


def _ms_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _page_num(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get(PAGE_VAR, 1)), 1)
    except ValueError:
        return 1


class WindowPaginator(Paginator):
    """Pages a changelist without COUNT(*).

    It reads the requested page plus one row: fewer rows than that means this is the last page and the
    count is exact. Otherwise an unfiltered table is estimated from its primary-key span (two index
    reads; an upper bound, exact while no rows are deleted), and a filtered one reports what it knows,
    "at least" the rows up to here plus the next one, so the pager offers one page more.
    count_kind ("exact", "estimate" or "at_least") tells the templates how to word the number.
    """

    def __init__(
        self,
        object_list: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        page_num: int = 1,
    ) -> None:
        # Orphans would need the exact count; the admin passes 0.
        super().__init__(object_list, per_page, 0, allow_empty_first_page)
        self.page_num = page_num
        self.count_kind = "exact"
        self._window: list[Model] = []

    @cached_property
    def count(self) -> int:
        offset = (self.page_num - 1) * self.per_page
        self._window = list(self.object_list[offset : offset + self.per_page + 1])
        known = offset + len(self._window)
        if len(self._window) <= self.per_page:
            return known
        if not self.object_list.query.where:
            span = traces.row_id_span(model=self.object_list.model)
            estimate = span[1] - span[0] + 1 if span else 0
            if estimate > known:
                self.count_kind = "estimate"
                return estimate
        self.count_kind = "at_least"
        return known

    @property
    def window(self) -> list[Model]:
        """The rows of the requested page (read along with the count)."""
        self.count  # noqa: B018 - reads the window
        return self._window[: self.per_page]

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)  # reads the window through count
        if number == self.page_num:
            return self._get_page(self.window, number, self)
        return super().page(number)


class WindowChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if not self.multi_page and isinstance(self.paginator, WindowPaginator):
            # A single page was already read whole by the paginator; don't read it again.
            self.result_list = self.paginator.window


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never editable; no full counts, no facet counts, no "show all"."""

    actions = None
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_max_show_all = 0
    paginator = WindowPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return WindowChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> WindowPaginator:
        return self.paginator(
            queryset, per_page, orphans, allow_empty_first_page, page_num=_page_num(request)
        )


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


def _parse_moment(value: str, *, end: bool) -> datetime:
    """An ISO date or datetime; naive means the current time zone. A bare `until` date includes the day."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else timezone.make_aware(moment)
    return timezone.make_aware(datetime.combine(day + timedelta(days=1) if end else day, time()))


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


class RawTraceAdmin(ReadOnlyAdmin):
    """One event per row, from the index columns; the event itself only on its detail page."""

    list_display = (
        "seq",
        "time",
        "session",
        "event_type",
        "source",
        "model",
        "tool_name",
        "tokens",
        "lines",
        "raw_bytes",
    )
    list_display_links = ("seq",)
    list_filter = (PlatformSwitch, EventTypeFilter, EventDateFilter)
    # Sorting by an unindexed column would sort the whole table.
    sortable_by = ("seq",)
    ordering = ("-seq",)
    # Shows the search box; get_search_results matches the session id exactly, through session_key.
    search_fields = ("chunk__session_id",)
    search_help_text = "Session id (exact)"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "seq",
                    "time",
                    "session",
                    "session_key",
                    "event_key_hex",
                    "event_type",
                    "source",
                    "model",
                    "tool_name",
                    "tokens",
                    "duration_ms",
                    "lines",
                    "raw_bytes",
                )
            },
        ),
        ("Stored in", {"fields": ("unit",)}),
        ("Event", {"fields": ("event",)}),
    )
    readonly_fields = tuple(f for _, options in fieldsets for f in options["fields"])

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return traces.trace_list_with_units(platform=self.model.PLATFORM)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(session_key=session_key(term)), False

    @admin.display(description="time (UTC)")
    def time(self, obj: RawTrace) -> datetime | None:
        return _ms_datetime(obj.ts_ms)

    @admin.display(description="session")
    def session(self, obj: RawTrace) -> SafeString:
        session_id = obj.chunk.session_id
        return format_html('<a href="?{}">{}</a>', urlencode({"q": session_id}), session_id)

    @admin.display(description="tokens in/out/cache w+r")
    def tokens(self, obj: RawTrace) -> str:
        counts = (obj.input_tokens, obj.output_tokens, obj.cache_write_tokens, obj.cache_read_tokens)
        if all(c is None for c in counts):
            return "-"
        n_in, n_out, n_write, n_read = (c or 0 for c in counts)
        return f"{n_in}/{n_out}/{n_write}+{n_read}"

    @admin.display(description="lines +/-")
    def lines(self, obj: RawTrace) -> str:
        if obj.lines_added is None and obj.lines_removed is None:
            return "-"
        return f"+{obj.lines_added or 0} -{obj.lines_removed or 0}"

    @admin.display(description="event key")
    def event_key_hex(self, obj: RawTrace) -> str:
        return bytes(obj.event_key).hex()

    @admin.display(description="unit")
    def unit(self, obj: RawTrace) -> SafeString:
        chunk = obj.chunk
        url = reverse("admin:telemetry_rawchunk_change", args=[chunk.id])
        return format_html(
            '<a href="{}">unit {}</a>, event {} of {} (codec {}, {}raw {} bytes, written {})',
            url,
            chunk.id,
            obj.chunk_pos + 1,
            chunk.n_events,
            chunk.codec_id,
            "sealed, " if chunk.sealed else "",
            chunk.raw_bytes,
            _ms_datetime(chunk.created_ms),
        )

    @admin.display(description="event (decompressed)")
    def event(self, obj: RawTrace) -> SafeString:
        event = traces.trace_event(trace=obj)
        if event is None:
            return format_html("<em>{}</em>", "not stored any more")
        return format_html("<pre>{}</pre>", json.dumps(event, indent=2, ensure_ascii=False))


@admin.register(ClaudeRawTrace)
class ClaudeRawTraceAdmin(RawTraceAdmin):
    pass


@admin.register(CursorRawTrace)
class CursorRawTraceAdmin(RawTraceAdmin):
    pass


class PlatformFieldFilter(admin.SimpleListFilter):
    """The fixed platforms; the default field filter would SELECT DISTINCT over all units."""

    title = "platform"
    parameter_name = "platform"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(PLATFORM_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(platform=value) if value else queryset


@admin.register(RawChunk)
class RawChunkAdmin(ReadOnlyAdmin):
    """Compressed units; the list never loads a body, the detail page previews the events."""

    PREVIEW_EVENTS = 5

    list_display = ("id", "platform", "session_id", "n_events", "raw_bytes", "codec", "sealed", "created")
    list_filter = (PlatformFieldFilter, "sealed")
    sortable_by = ("id",)
    ordering = ("-id",)
    search_fields = ("=session_id",)
    search_help_text = "Session id (exact)"
    fields = (
        "id",
        "platform",
        "session_id",
        "codec",
        "n_events",
        "raw_bytes",
        "created",
        "sealed",
        "preview",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return traces.chunk_list()

    @admin.display(description="written (UTC)")
    def created(self, obj: RawChunk) -> datetime | None:
        return _ms_datetime(obj.created_ms)

    @admin.display(description="events (decompressed)")
    def preview(self, obj: RawChunk) -> SafeString:
        events = traces.chunk_events_load(chunk_id=obj.id)
        if events is None:
            return format_html("<em>{}</em>", "not stored any more")
        shown = [json.loads(raw) for raw in events[: self.PREVIEW_EVENTS]]
        more = len(events) - len(shown)
        return format_html(
            "<pre>{}</pre>{}",
            json.dumps(shown, indent=2, ensure_ascii=False),
            f"and {more} more" if more > 0 else "",
        )


@admin.register(SessionProgress)
class SessionProgressAdmin(ReadOnlyAdmin):
    """Per session: raw events stored vs applied by the slow path."""

    list_display = ("platform", "session_id", "raw_through_seq", "processed_seq", "waiting", "updated_at")
    list_filter = (PlatformFieldFilter,)
    ordering = ("-updated_at",)
    sortable_by = ()
    search_fields = ("=session_id",)
    search_help_text = "Session id (exact)"
    readonly_fields = ("platform", "session_id", "raw_through_seq", "processed_seq", "waiting", "updated_at")
    fields = readonly_fields

    @admin.display(boolean=True, description="waiting")
    def waiting(self, obj: SessionProgress) -> bool:
        return obj.waiting

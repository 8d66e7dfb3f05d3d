"""Read-only admin over the raw store: events (index rows), their compressed units, and the slow path's
progress per session.

Rows come from selectors that never load compressed bodies on a list; an event is decompressed only on
its own page.
"""

import json
from datetime import datetime

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from ..models import RAW_TRACE_MODELS, ClaudeRawTrace, CursorRawTrace, RawChunk, RawTrace, SessionProgress
from ..selectors import derived, traces
from ..store.keys import session_key
from .base import ReadOnlyAdmin, admin_url, detail_link, list_link, ms_datetime
from .filters import EventDateFilter, EventTypeFilter, PlatformFieldFilter, PlatformSwitch, ProgressFilter


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
                    "derived_session",
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
        return ms_datetime(obj.ts_ms)

    @admin.display(description="session")
    def session(self, obj: RawTrace) -> SafeString:
        session_id = obj.chunk.session_id
        return format_html('<a href="?{}">{}</a>', urlencode({"q": session_id}), session_id)

    @admin.display(description="derived session")
    def derived_session(self, obj: RawTrace) -> SafeString:
        session = derived.session_find(platform=obj.PLATFORM, session_id=obj.chunk.session_id)
        if session is None:
            return format_html("<em>{}</em>", "not derived yet")
        return detail_link(session, f"{session.session_id} ({session.get_status_display()})")

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
        url = admin_url(RawChunk, "change", chunk.id)
        return format_html(
            '<a href="{}">unit {}</a>, event {} of {} (codec {}, {}raw {} bytes, written {})',
            url,
            chunk.id,
            obj.chunk_pos + 1,
            chunk.n_events,
            chunk.codec_id,
            "sealed, " if chunk.sealed else "",
            chunk.raw_bytes,
            ms_datetime(chunk.created_ms),
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
        return ms_datetime(obj.created_ms)

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
    """Per session: raw events stored vs applied by the slow path, and its failed catch-ups."""

    list_display = (
        "platform",
        "session_id",
        "raw_through_seq",
        "processed_seq",
        "waiting",
        "failures",
        "last_error",
        "retry_at",
        "updated_at",
    )
    list_filter = (PlatformFieldFilter, ProgressFilter)
    ordering = ("-updated_at",)
    sortable_by = ()
    search_fields = ("=session_id",)
    search_help_text = "Session id (exact)"
    readonly_fields = (
        "platform",
        "session_id",
        "session",
        "raw_events",
        "raw_through_seq",
        "processed_seq",
        "waiting",
        "failures",
        "last_error",
        "retry_at",
        "updated_at",
    )
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.progress_list()

    @admin.display(boolean=True, description="waiting")
    def waiting(self, obj: SessionProgress) -> bool:
        return obj.waiting

    @admin.display(description="session")
    def session(self, obj: SessionProgress) -> SafeString:
        session = derived.session_find(platform=obj.platform, session_id=obj.session_id)
        if session is None:
            return format_html("<em>{}</em>", "not derived yet")
        return detail_link(session, session.session_id)

    @admin.display(description="raw events")
    def raw_events(self, obj: SessionProgress) -> SafeString:
        return raw_events_link(platform=obj.platform, session_id=obj.session_id)


def raw_events_link(*, platform: str, session_id: str, text: str = "raw events") -> SafeString:
    """The raw trace list of a session: raw rows hold only its key, which the list's search matches."""
    return list_link(RAW_TRACE_MODELS[platform], text, q=session_id)

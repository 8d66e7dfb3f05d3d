"""Read-only admin over the derived data: sessions, conversations, turns, tool calls, code changes,
projects, data issues and Cursor's AI-authored lines (scored commits, AI code lines), with links between
a session, its rows and its raw events.

Every list reads through telemetry.selectors.derived (joins in the same query, newest first by primary
key), pages without counting (base.WindowPaginator) and filters without scanning (filters.py), so a
list page runs a bounded number of queries however many rows there are. Links to a session's rows use
?session=<id>, which SessionFilter shows and clears.
"""

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import (
    RAW_TRACE_MODELS,
    AiCodeLine,
    AiCommit,
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    Project,
    Session,
    ToolCall,
    Turn,
)
from ..selectors import ai_lines_pages, derived, sessions
from .base import ReadOnlyAdmin, admin_url, detail_link, list_link
from .filters import (
    PLATFORM_LABELS,
    AiCodeSourceFilter,
    DecisionFilter,
    IssueKindFilter,
    ModelFilter,
    PlatformFieldFilter,
    SessionFilter,
    SessionModelFilter,
    SessionPlatformFilter,
    ToolFilter,
    UsageSourceFilter,
)
from .raw import raw_events_link


class DerivedAdmin(ReadOnlyAdmin):
    """Every field shown read-only on the detail page; search through selectors.derived.rows_search."""

    # Sorting by an unindexed column would sort the whole table; lists keep the selector's order.
    sortable_by = ()
    # Shows the search box; get_search_results decides what the term matches.
    search_fields = ("pk",)
    search_help_text = "Session id (exact) or project name"
    search_on: dict = {}  # rows_search's arguments naming this model's fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return derived.rows_search(queryset, term=search_term, **self.search_on), False

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # The model's fields (a foreign key shows as a link to its row's page), then the extra ones.
        return [f.name for f in self.model._meta.fields if f.name != "id"] + list(self.readonly_fields)

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return self.get_readonly_fields(request, obj)

    @admin.display(description="session")
    def session_link(self, obj: Model) -> SafeString:
        return detail_link(obj.session, obj.session.session_id)

    @admin.display(description="project")
    def project_name(self, obj: Model) -> str:
        return obj.project.name if obj.project_id else "-"

    @admin.display(description="platform")
    def session_platform(self, obj: Model) -> str:
        # The session is joined in the list's query (list_select_related): no query per row.
        return PLATFORM_LABELS.get(obj.session.platform, obj.session.platform)


def _tokens(obj: Session | Turn) -> str:
    return f"{obj.input_tokens}/{obj.output_tokens}/{obj.cache_write_tokens}+{obj.cache_read_tokens}"


# Cursor does not record every response's tokens: those are said to be missing, never shown as zeros.
NOT_RECORDED = "not recorded"


@admin.register(Session)
class SessionAdmin(DerivedAdmin):
    """One row per session; its page links to everything derived from it and to its raw events."""

    list_display = ("session_id", "platform", "project_name", "status", "started_at", "last_event_at",
                    "models", "prompts", "tool_calls_link", "tokens", "cost_usd", "issues_link")  # fmt: skip
    list_select_related = ("project",)
    list_filter = (
        PlatformFieldFilter,
        "status",
        SessionModelFilter,
        "project",
        "last_event_at",
        "started_at",
    )
    search_help_text = "Session id (exact), project name or model"
    search_on = {"session": "pk", "project": "project"}
    readonly_fields = ("related",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return sessions.session_list()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if term and term in derived.model_names():
            return derived.sessions_using_model(queryset, model=term), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="models")
    def models(self, obj: Session) -> str:
        return ", ".join(obj.models_used) or "-"

    @admin.display(description="tokens in/out/cache w+r")
    def tokens(self, obj: Session) -> str:
        missing = obj.responses_without_tokens
        if not missing:
            return _tokens(obj)
        if missing >= obj.assistant_messages:
            return NOT_RECORDED
        return f"{_tokens(obj)} ({missing} of {obj.assistant_messages} responses {NOT_RECORDED})"

    @admin.display(description="tool calls")
    def tool_calls_link(self, obj: Session) -> SafeString:
        return list_link(ToolCall, obj.tool_calls, session=obj.pk)

    @admin.display(description="data issues")
    def issues_link(self, obj: Session) -> SafeString | int:
        return list_link(DataIssue, obj.data_issues, session=obj.pk) if obj.data_issues else 0

    @admin.display(description="related")
    def related(self, obj: Session) -> SafeString:
        links = [
            list_link(Conversation, "conversations", session=obj.pk),
            list_link(
                Turn, f"turns ({obj.prompts} prompts, {obj.assistant_messages} responses)", session=obj.pk
            ),
            list_link(ToolCall, f"tool calls ({obj.tool_calls})", session=obj.pk),
            list_link(CodeChange, f"code changes (+{obj.lines_added} -{obj.lines_removed})", session=obj.pk),
            list_link(DataIssue, f"data issues ({obj.data_issues})", session=obj.pk),
            raw_events_link(platform=obj.platform, session_id=obj.session_id),
        ]
        if obj.platform == "cursor":  # only Cursor records which conversation wrote an AI code line
            links.append(list_link(AiCodeLine, "AI code lines", session=obj.pk))
        if obj.parent_session_id:
            links.append(list_link(Session, f"forked from {obj.parent_session_id}", q=obj.parent_session_id))
        return format_html_join(" | ", "{}", ((link,) for link in links))


@admin.register(Conversation)
class ConversationAdmin(DerivedAdmin):
    list_display = ("conversation_id", "title", "mode", "session_platform", "session_link", "started_at", "last_event_at",
                    "archived", "lines")  # fmt: skip
    list_select_related = ("session",)
    list_filter = (SessionFilter, SessionPlatformFilter, "archived", "started_at")
    search_help_text = "Session id (exact)"
    search_on = {"session": "session", "project": None}
    readonly_fields = ("turns",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.conversation_list()

    @admin.display(description="lines (assistant's own totals)")
    def lines(self, obj: Conversation) -> str:
        if obj.lines_added is None and obj.lines_removed is None:
            return "-"  # not recorded (Claude Code keeps none; its edits are in code changes)
        return f"+{obj.lines_added or 0} -{obj.lines_removed or 0}"

    @admin.display(description="turns")
    def turns(self, obj: Conversation) -> SafeString:
        return list_link(Turn, "turns of this conversation", session=obj.session_id, conversation=obj.pk)


@admin.register(Turn)
class TurnAdmin(DerivedAdmin):
    list_display = ("timestamp", "kind", "model", "session_platform", "session_link", "project_name", "tokens", "cost_usd",
                    "source", "latency_ms", "stop_reason")  # fmt: skip
    list_display_links = ("timestamp",)
    list_select_related = ("session", "project")
    list_filter = (
        SessionFilter,
        SessionPlatformFilter,
        "kind",
        ModelFilter,
        UsageSourceFilter,
        "tokens_known",
        "project",
        "timestamp",
    )
    search_help_text = "Session id (exact), project name or model"
    search_on = {"session": "session", "project": "project", "model": "model"}
    readonly_fields = ("tool_calls",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.turn_list()

    @admin.display(description="tokens in/out/cache w+r")
    def tokens(self, obj: Turn) -> str:
        return _tokens(obj) if obj.tokens_known else NOT_RECORDED

    @admin.display(description="tool calls")
    def tool_calls(self, obj: Turn) -> SafeString:
        return list_link(
            ToolCall, "tool calls this response requested", session=obj.session_id, message_key=obj.key
        )


@admin.register(ToolCall)
class ToolCallAdmin(DerivedAdmin):
    list_display = ("started_at", "tool_name", "status", "duration_ms", "session_platform", "session_link", "project_name",
                    "mcp_server", "error_type", "decision", "decision_source", "target")  # fmt: skip
    list_display_links = ("started_at",)
    list_select_related = ("session", "project")
    list_filter = (
        SessionFilter,
        SessionPlatformFilter,
        "status",
        ToolFilter,
        DecisionFilter,
        "project",
        "started_at",
    )
    search_help_text = "Session id (exact), project name or tool name"
    search_on = {"session": "session", "project": "project", "tool": "tool_name"}
    readonly_fields = ("turn",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.tool_call_list()

    @admin.display(description="target hash")
    def target(self, obj: ToolCall) -> str:
        return obj.target_hash[:12] or "-"

    @admin.display(description="requested by")
    def turn(self, obj: ToolCall) -> SafeString | str:
        if not obj.message_key:
            return "-"
        return list_link(Turn, obj.message_key, session=obj.session_id, key=obj.message_key)


@admin.register(CodeChange)
class CodeChangeAdmin(DerivedAdmin):
    list_display = ("timestamp", "file_extension", "tool_name", "lines_added", "lines_removed", "status",
                    "session_platform", "session_link", "project_name")  # fmt: skip
    list_display_links = ("timestamp",)
    list_select_related = ("session", "project")
    list_filter = (SessionFilter, SessionPlatformFilter, "status", ToolFilter, "project", "timestamp")
    search_help_text = "Session id (exact), project name or tool name"
    search_on = {"session": "session", "project": "project", "tool": "tool_name"}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.code_change_list()


@admin.register(MetricPoint)
class MetricPointAdmin(DerivedAdmin):
    """Claude Code's OpenTelemetry metric points: the series behind its own active time, lines of
    code, edit decisions and the cross-check totals of tokens and cost."""

    list_display = (
        "time",
        "name",
        "kind",
        "model",
        "value",
        "delta",
        "temporality",
        "session_link",
        "project_name",
    )
    list_display_links = ("time",)
    list_select_related = ("session", "project")
    list_filter = (SessionFilter, "temporality", "time")
    search_help_text = "Session id (exact) or project name"
    search_on = {"session": "session", "project": "project"}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return MetricPoint.objects.select_related("session", "project").order_by("-pk")


@admin.register(Project)
class ProjectAdmin(DerivedAdmin):
    list_display = ("name", "key", "sessions_link")
    list_display_links = ("name",)
    ordering = ("name", "id")  # also orders the project filter's choices on the other lists
    search_help_text = "Project name"
    search_on = {"session": None, "project": "pk"}
    readonly_fields = ("sessions_link",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.project_list()

    @admin.display(description="sessions")
    def sessions_link(self, obj: Project) -> SafeString:
        # RelatedFieldListFilter's parameter on the session list.
        return list_link(Session, "sessions", project__id__exact=obj.pk)


@admin.register(DataIssue)
class DataIssueAdmin(DerivedAdmin):
    list_display = ("id", "kind", "detail", "session_platform", "session_link", "event")
    list_select_related = ("session",)
    list_filter = (SessionFilter, SessionPlatformFilter, IssueKindFilter)
    search_help_text = "Session id (exact)"
    search_on = {"session": "session", "project": None}
    readonly_fields = ("event",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return derived.data_issue_list()

    @admin.display(description="raw event")
    def event(self, obj: DataIssue) -> SafeString | str:
        if obj.event_seq is None:
            # Not one event's issue but a standing one (a tool result whose call never came, a session
            # that fails to derive): the tool-use id, if any, is in the detail.
            if obj.kind == derived.ORPHAN_RESULT:
                return list_link(ToolCall, "the tool call", session=obj.session_id, tool_use_id=obj.detail)
            return "-"
        model = RAW_TRACE_MODELS[obj.session.platform]
        return format_html(
            '<a href="{}">event {}</a>', admin_url(model, "change", obj.event_seq), obj.event_seq
        )


@admin.register(AiCommit)
class AiCommitAdmin(DerivedAdmin):
    """Cursor's scored commits: AI (Tab, composer) and human lines per commit and branch."""

    list_display = ("commit", "branch", "scored_at", "lines_added", "ai_lines", "human_lines_added",
                    "ai_share", "lines_deleted")  # fmt: skip
    list_display_links = ("commit",)
    list_filter = ("scored_at",)
    search_help_text = "Commit hash or branch (exact)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return ai_lines_pages.ai_commit_list()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return ai_lines_pages.ai_commits_search(queryset, term=search_term), False

    @admin.display(description="commit")
    def commit(self, obj: AiCommit) -> str:
        return obj.commit_hash[:12]

    @admin.display(description="AI lines (tab+composer)")
    def ai_lines(self, obj: AiCommit) -> int | str:
        if obj.tab_lines_added is None and obj.composer_lines_added is None:
            return "-"
        return (obj.tab_lines_added or 0) + (obj.composer_lines_added or 0)

    @admin.display(description="AI % (Cursor's v2)")
    def ai_share(self, obj: AiCommit) -> str:
        return "-" if obj.v2_ai_percentage is None else f"{obj.v2_ai_percentage}%"


@admin.register(AiCodeLine)
class AiCodeLineAdmin(DerivedAdmin):
    """Code fragments Cursor recorded as AI-generated: source, model, file extension, conversation."""

    list_display = ("created_at", "source", "model", "file_extension", "session_or_none", "project")
    list_display_links = ("created_at",)
    list_select_related = ("session", "session__project")
    list_filter = (SessionFilter, AiCodeSourceFilter, "created_at")
    search_help_text = "Session id (exact) or project name"
    search_on = {"session": "session", "project": "session__project"}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return ai_lines_pages.ai_code_line_list()

    @admin.display(description="session")
    def session_or_none(self, obj: AiCodeLine) -> SafeString | str:
        # Tab completions carry no conversation: no session.
        return detail_link(obj.session, obj.session.session_id) if obj.session_id else "-"

    @admin.display(description="project")
    def project(self, obj: AiCodeLine) -> str:
        return obj.session.project.name if obj.session_id and obj.session.project_id else "-"

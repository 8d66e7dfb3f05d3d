"""Lists of derived rows (conversations, turns, tool calls, code changes, projects, data issues) and the
slow path's progress, for the admin and the API: QuerySets that join what a list shows in the same
query, newest first by primary key (an index, whatever the table's size), never a payload column.

Searching resolves the term in the small tables first (sessions, projects, the rollups' model and tool
names) and then filters the big one by indexed keys, so a search that matches nothing does not scan it.
"""

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from ..models import (
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from ..processing.facts import IssueKind

ORPHAN_RESULT = IssueKind.ORPHAN_RESULT  # the admin links these issues to their tool call
ISSUE_KINDS = IssueKind.ALL  # every kind the slow path records


def conversation_list() -> QuerySet:
    """Conversations, newest first, with their session."""
    return Conversation.objects.select_related("session").order_by("-id")


def turn_list() -> QuerySet:
    """Turns, newest first, with their session and project; without their `detail` document."""
    return Turn.objects.select_related("session", "project").defer("detail").order_by("-id")


def tool_call_list() -> QuerySet:
    """Tool calls, newest first, with their session and project."""
    return ToolCall.objects.select_related("session", "project").order_by("-id")


def code_change_list() -> QuerySet:
    """Code changes (extensions and line counts, never code), newest first, with session and project."""
    return CodeChange.objects.select_related("session", "project").order_by("-id")


def project_list() -> QuerySet:
    """Projects by name."""
    return Project.objects.order_by("name", "id")


def data_issue_list() -> QuerySet:
    """Data issues, newest first, with their session."""
    return DataIssue.objects.select_related("session").order_by("-id")


def progress_list() -> QuerySet:
    """The slow path's progress per session, most recently changed first."""
    return SessionProgress.objects.order_by("-updated_at", "-id")


def progress_failing(queryset: QuerySet) -> QuerySet:
    """Sessions whose last catch-ups failed (the slow path set them aside and retries them later)."""
    return queryset.filter(failures__gt=0)


def progress_waiting(queryset: QuerySet) -> QuerySet:
    """Sessions with stored raw events the slow path has not applied yet."""
    return queryset.filter(raw_through_seq__gt=F("processed_seq"))


def session_get(*, pk: int) -> Session | None:
    return Session.objects.filter(pk=pk).first()


def session_find(*, platform: str, session_id: str) -> Session | None:
    """The derived session of a raw event's session id, or None until the slow path has derived it."""
    return Session.objects.filter(platform=platform, session_id=session_id).first()


def model_names() -> list[str]:
    """Every model that answered, from the hourly usage rollup (small: one row per hour and model)."""
    return list(
        UsageHour.objects.exclude(model="").order_by("model").values_list("model", flat=True).distinct()
    )


def tool_names() -> list[str]:
    """Every tool called, from the hourly tool rollup (small: one row per hour and tool)."""
    return list(ToolHour.objects.order_by("tool_name").values_list("tool_name", flat=True).distinct())


def sessions_using_model(queryset: QuerySet, *, model: str) -> QuerySet:
    """Sessions with an assistant response from `model` (a look-up in each session's turns, by index)."""
    return queryset.filter(Exists(Turn.objects.filter(session=OuterRef("pk"), model=model)))


_TERM_MAX_CHARS = 300


def rows_search(
    queryset: QuerySet,
    *,
    term: str,
    session: str | None = "session",
    project: str | None = "project",
    model: str | None = None,
    tool: str | None = None,
) -> QuerySet:
    """Rows matching `term` as a session id (exactly), a project name (any part, any case), a model or a
    tool name (exactly). Each argument names the row's field for that meaning; None leaves it out. A
    model or tool name counts only if the rollups know it, so the big table is filtered by keys alone
    unless the term is such a name."""
    term = term.strip()
    if not term:
        return queryset
    if len(term) > _TERM_MAX_CHARS:  # longer than any id or name it could match, and than SQLite's LIKE takes
        return queryset.none()
    match = Q(pk__in=[])
    if session:
        match |= Q(**{f"{session}__in": Session.objects.filter(session_id=term).values("pk")})
    if project:
        match |= Q(**{f"{project}__in": Project.objects.filter(name__icontains=term).values("pk")})
    if model and term in model_names():
        match |= Q(**{model: term})
    if tool and term in tool_names():
        match |= Q(**{tool: term})
    return queryset.filter(match)

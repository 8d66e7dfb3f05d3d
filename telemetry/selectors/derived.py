"""Lists of derived rows (conversations, turns, tool calls, code changes, projects, data issues) and the
slow path's progress, for the admin and the API: QuerySets that join what a list shows in the same
query, newest first by primary key (an index, whatever the table's size), never a payload column.

Searching resolves the term in the small tables first (sessions, projects, the rollups' model and tool
names) and then filters the big one by indexed keys, so a search that matches nothing does not scan it.
"""

from datetime import datetime

from django.db.models import (
    Aggregate,
    BigIntegerField,
    Count,
    DecimalField,
    Exists,
    F,
    Field,
    Max,
    Min,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round

from ..models import (
    RAW_TRACE_MODELS,
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
from ..processing import rollups
from ..processing.facts import IssueKind
from .keyset import Key, Ordering, ordering_reversed
from .spans import people_filter

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


def sessions_with_id(session_id: str, *, model: type[Model] = Session) -> QuerySet:
    """Sessions (or `model` rows keyed by platform and session id) with this id, on any platform. The
    platforms are named so the (platform, session_id) key's index finds the id: by the id alone, the
    database reads the whole index."""
    return model.objects.filter(platform__in=list(RAW_TRACE_MODELS), session_id=session_id)


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
        match |= Q(**{f"{session}__in": sessions_with_id(term).values("pk")})
    if project:
        match |= Q(**{f"{project}__in": Project.objects.filter(name__icontains=term).values("pk")})
    if model and term in model_names():
        match |= Q(**{model: term})
    if tool and term in tool_names():
        match |= Q(**{tool: term})
    return queryset.filter(match)


# --- The API's row lists: filters and orderings ------------------------------------------------------


def time_orderings(field: str) -> dict[str, Ordering]:
    """Newest first ("-timestamp") or oldest first ("timestamp") by `field`, a row's time: the UTC hour
    first, which rows carry and index, so a page walks that index instead of sorting the whole table;
    then the exact time and the primary key, which make the order total."""
    keys = (Key("hour", kind="datetime"), Key(field, kind="datetime"), Key("id"))
    return {"timestamp": keys, "-timestamp": ordering_reversed(keys)}


def tool_calls_timed(queryset: QuerySet) -> QuerySet:
    """`at`: when the call started, or when it finished if its start is unknown (never both unknown:
    such a call is not stored). Its `hour` is the hour of the same moment."""
    return queryset.annotate(at=Coalesce("started_at", "finished_at"))


def rows_of_session(queryset: QuerySet, *, session: Session) -> QuerySet:
    return queryset.filter(session=session)


def rows_on_platform(queryset: QuerySet, *, platform: str) -> QuerySet:
    """Rows of sessions on `platform`. A look-up of each row's session rather than a join: joined, the
    database may read the list through the platform's sessions and sort all their rows, where walking
    the time index and checking each row's session finds a page at once (a platform with few rows is
    then the slow case, instead of every list)."""
    return queryset.filter(Exists(Session.objects.filter(pk=OuterRef("session_id"), platform=platform)))


def rows_with_session_id(queryset: QuerySet, *, session_id: str) -> QuerySet:
    """Rows of the sessions with this id (one per platform that used it; usually one)."""
    return queryset.filter(session__in=sessions_with_id(session_id).values("pk"))


def rows_in_project(queryset: QuerySet, *, project: str, field: str = "project") -> QuerySet:
    """Rows of the project with this key, or of every project with this (folder) name."""
    names = Project.objects.filter(Q(key=project) | Q(name=project)).values("pk")
    return queryset.filter(**{f"{field}__in": names})


def rows_in_span(queryset: QuerySet, *, field: str, start: datetime | None, end: datetime | None) -> QuerySet:
    """Rows whose time `field` is in [start, end). The bound on the row's hour says nothing more, but it
    is the indexed column, so the database reads only the hours in the span."""
    if start is not None:
        queryset = queryset.filter(**{f"{field}__gte": start, "hour__gte": rollups.hour_floor(start)})
    if end is not None:
        queryset = queryset.filter(**{f"{field}__lt": end, "hour__lt": end})
    return queryset


def conversations_active(queryset: QuerySet, *, start: datetime | None, end: datetime | None) -> QuerySet:
    """Conversations whose activity (started_at .. last_event_at) overlaps [start, end)."""
    if start is not None:
        queryset = queryset.filter(last_event_at__gte=start)
    if end is not None:
        queryset = queryset.filter(started_at__lt=end)
    return queryset


CONVERSATION_ORDERINGS: dict[str, Ordering] = {
    "started_at": (Key("started_at", kind="datetime", nullable=True), Key("id")),
    "-started_at": (
        Key("started_at", descending=True, kind="datetime", nullable=True),
        Key("id", descending=True),
    ),
}


# --- Projects and models with their totals, from the rollups -----------------------------------------


def _sum(measure: str) -> Aggregate | Round:
    """A sum of a rollup measure. Money is rounded to the cent's millionth it is kept in: SQLite adds it
    as binary floats, and a sum that is not the same number as its decimal value would not compare equal
    to itself when a cursor brings it back."""
    return Round(Sum(measure), 8) if measure == "cost_usd" else Sum(measure)


def _subtotal(queryset: QuerySet, expression: Aggregate, output: Field) -> Coalesce:
    """One aggregate of the rows of `queryset` that belong to the outer project (by the indexed key)."""
    rows = queryset.filter(project=OuterRef("pk")).order_by().values("project")
    return Coalesce(Subquery(rows.annotate(v=expression).values("v")), Value(0), output_field=output)


# The rollup's sums, and how many of the responses have no recorded tokens (Cursor; usage.MEASURES).
_USAGE_MEASURES = (*rollups.USAGE_MEASURES, "responses_without_tokens")


def project_list_with_totals(
    *, platform: str | None = None, user: str | None = None, machine: str | None = None
) -> QuerySet:
    """Projects with their sessions (count, first start, last activity) and their usage (messages,
    tokens by kind, cost, responses without recorded tokens) summed from the hourly usage rollup, never from turns. On one platform, only
    the projects with sessions there, and their totals there; likewise for one user or machine (None:
    any; "" is this install's own capture, docs/team.md)."""
    usage = people_filter(UsageHour.objects.all(), user=user, machine=machine)
    sessions = people_filter(Session.objects.all(), user=user, machine=machine)
    if platform:
        usage, sessions = usage.filter(platform=platform), sessions.filter(platform=platform)
    big, money = BigIntegerField(), DecimalField(max_digits=20, decimal_places=8)
    measures = {m: _subtotal(usage, _sum(m), money if m == "cost_usd" else big) for m in _USAGE_MEASURES}
    firsts = sessions.filter(project=OuterRef("pk")).order_by()
    qs = Project.objects.annotate(
        session_count=_subtotal(sessions, Count("pk"), big),
        first_seen=Subquery(firsts.exclude(started_at=None).order_by("started_at").values("started_at")[:1]),
        last_seen=Subquery(
            firsts.exclude(last_event_at=None).order_by("-last_event_at").values("last_event_at")[:1]
        ),
        **measures,
    )
    narrowed = platform or user is not None or machine is not None
    return qs.filter(session_count__gt=0) if narrowed else qs


PROJECT_ORDERINGS: dict[str, Ordering] = {
    "name": (Key("name", kind="str"), Key("id")),
    "-name": (Key("name", descending=True, kind="str"), Key("id", descending=True)),
    "-cost_usd": (Key("cost_usd", descending=True, kind="decimal"), Key("id", descending=True)),
    "-session_count": (Key("session_count", descending=True), Key("id", descending=True)),
    "-last_seen": (
        Key("last_seen", descending=True, kind="datetime", nullable=True),
        Key("id", descending=True),
    ),
}


def project_search(queryset: QuerySet, *, term: str) -> QuerySet:
    """Projects whose name contains `term` (any case) or whose key is `term`."""
    return queryset.filter(Q(name__icontains=term) | Q(key=term))


def model_usage_list() -> QuerySet:
    """Every model that answered, one dict each: messages, tokens by kind, cost, and the first and last
    UTC hour it answered in, summed from the hourly usage rollup. Filters on the rollup's own columns
    (platform, hour, project; rollup_hours_in_span, rows_in_project) narrow the hours summed."""
    return (
        UsageHour.objects.exclude(model="")
        .order_by()
        .values("model")
        .annotate(
            **{m: _sum(m) for m in _USAGE_MEASURES},
            first_seen=Min("hour"),
            last_seen=Max("hour"),
        )
    )


def rollup_hours_in_span(queryset: QuerySet, *, start: datetime | None, end: datetime | None) -> QuerySet:
    """Rollup rows of the UTC hours that overlap [start, end)."""
    if start is not None:
        queryset = queryset.filter(hour__gte=rollups.hour_floor(start))
    if end is not None:
        queryset = queryset.filter(hour__lt=end)
    return queryset


MODEL_ORDERINGS: dict[str, Ordering] = {
    "model": (Key("model", kind="str"),),
    "-model": (Key("model", descending=True, kind="str"),),
    "-cost_usd": (Key("cost_usd", descending=True, kind="decimal"), Key("model", kind="str")),
    "-messages": (Key("messages", descending=True), Key("model", kind="str")),
    "-last_seen": (Key("last_seen", descending=True, kind="datetime"), Key("model", kind="str")),
}


def conversation_rows() -> QuerySet:
    """Conversations as a list shows them: with their session and its project."""
    return conversation_list().select_related("session__project")


# A big table's list joins nothing it could be read through: with an INNER JOIN to sessions, SQLite with
# statistics (after ANALYZE) drives the query from sessions and sorts every row (300 ms at 400,000 turns)
# instead of walking the hour index. Sessions and conversations come in one query each per page.
_SESSION_REF = Prefetch("session", queryset=Session.objects.only("id", "platform", "session_id"))
_CONVERSATION_REF = Prefetch("conversation", queryset=Conversation.objects.only("id", "conversation_id"))


def turn_rows() -> QuerySet:
    """Turns as a list shows them: with their session, conversation and project; no `detail`."""
    rows = Turn.objects.select_related("project").defer("detail")
    return rows.prefetch_related(_SESSION_REF, _CONVERSATION_REF)


def tool_call_rows() -> QuerySet:
    """Tool calls as a list shows them: with their session, conversation and project, and `at`."""
    rows = ToolCall.objects.select_related("project").prefetch_related(_SESSION_REF, _CONVERSATION_REF)
    return tool_calls_timed(rows)


def code_change_rows() -> QuerySet:
    """Code changes as a list shows them: with their session and project."""
    return CodeChange.objects.select_related("project").prefetch_related(_SESSION_REF)

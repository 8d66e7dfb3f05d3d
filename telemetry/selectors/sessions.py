"""Sessions: a filterable QuerySet for lists, and per-session usage records for reports."""

from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import TypedDict

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ..models import Conversation, Project, Session, SessionProgress, SessionStatus, ToolCall
from .derived import sessions_using_model, sessions_with_id
from .keyset import Key, KeyKind, Ordering
from .spans import people_filter
from .usage import UsageTotals, usage_tokens_missing


def session_list(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> QuerySet:
    """Sessions with activity in [start, end) (either bound optional), most recent activity first, with
    their project joined."""
    qs = Session.objects.select_related("project").order_by("-last_event_at", "-id")
    if start is not None:
        qs = qs.filter(last_event_at__gte=start)
    if end is not None:
        qs = qs.filter(started_at__lt=end)
    if platform:
        qs = qs.filter(platform=platform)
    if project_key:
        qs = qs.filter(project__key=project_key)
    return people_filter(qs, user=user, machine=machine)


class SessionUsage(UsageTotals):
    """A session's usage for reports: the session's own counters (docs/metrics.md)."""

    session_id: str
    platform: str
    project: str
    user: str  # "" for this install's own capture (docs/team.md)
    machine: str
    started_at: datetime | None
    status: str
    models: list[str]
    prompts: int
    tool_calls: int


def session_usage_list(
    *,
    start: datetime,
    end: datetime,
    limit: int = 50,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[SessionUsage]:
    """Sessions with activity in [start, end), newest first: project, models, tokens, cost, counts (the
    whole session's, also of a session that reaches outside the span); tokens and cost None when none of
    its responses has recorded tokens (usage.usage_tokens_missing)."""
    return [
        usage_tokens_missing(
            SessionUsage(
                session_id=s.session_id,
                platform=s.platform,
                project=s.project.name if s.project else "",
                user=s.user,
                machine=s.machine,
                started_at=s.started_at,
                status=s.status,
                models=s.models_used,
                messages=s.assistant_messages,
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
                cache_write_tokens=s.cache_write_tokens,
                cache_read_tokens=s.cache_read_tokens,
                cost_usd=s.cost_usd,
                prompts=s.prompts,
                tool_calls=s.tool_calls,
                responses_without_tokens=s.responses_without_tokens,
            )
        )
        for s in session_list(
            start=start,
            end=end,
            platform=platform,
            project_key=project_key,
            user=user,
            machine=machine,
        )[:limit]
    ]


class SessionCounts(TypedDict):
    """Sessions with activity in a span: all of them, per project key and per model that answered in
    them (a session with two models counts for each)."""

    total: int
    by_project: dict[str, int]
    by_model: dict[str, int]


def session_counts(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    model: str | None = None,
) -> SessionCounts:
    """Counts of the sessions session_list(start, end, ...) holds (so `total` is the length of the API's
    session list for the same span), optionally only those a `model` answered in. One query over the
    sessions' keys and model lists, never their turns."""
    rows = session_list(
        start=start,
        end=end,
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    by_project: dict[str, int] = {}
    by_model: dict[str, int] = {}
    total = 0
    for key, models in rows.values_list("project__key", "models_used").order_by():
        models = models or []
        if model and model not in models:
            continue
        total += 1
        key = key or Project.UNKNOWN_KEY  # as the rollups count a session without a project
        by_project[key] = by_project.get(key, 0) + 1
        for name in set(models):
            by_model[name] = by_model.get(name, 0) + 1
    return SessionCounts(total=total, by_project=by_project, by_model=by_model)


def sessions_stored_any() -> bool:
    """Whether the store holds any session's events at all, derived or not (an empty store is told how
    to get data in)."""
    return SessionProgress.objects.exists()


# --- The API's session list and detail: filters, orderings, look-ups ------------------------------

# A bound past what a column can hold matches nothing (or everything): said here, not left to overflow.
_INT64_MAX = 2**63 - 1
_COST_MAX = Decimal("99999999.99999999")  # Session.cost_usd: 16 digits, 8 after the point


def sessions_with_tokens(queryset: QuerySet) -> QuerySet:
    """`tokens`: input + output + cache write + cache read, as the CLI's reports add them."""
    return queryset.annotate(
        tokens=F("input_tokens") + F("output_tokens") + F("cache_write_tokens") + F("cache_read_tokens")
    )


def _order(field: str, kind: KeyKind, *, nullable: bool = False) -> dict[str, Ordering]:
    """Both directions of one ordering, with the primary key as the tiebreak that makes it total."""
    return {
        field: (Key(field, kind=kind, nullable=nullable), Key("id")),
        f"-{field}": (Key(field, descending=True, kind=kind, nullable=nullable), Key("id", descending=True)),
    }


# The session list's orderings (a session without a time sorts after every dated one, both ways round).
SESSION_ORDERINGS: dict[str, Ordering] = {
    **_order("last_event_at", "datetime", nullable=True),
    **_order("started_at", "datetime", nullable=True),
    **_order("cost_usd", "decimal"),
    **_order("tokens", "int"),
}


def sessions_active(queryset: QuerySet, *, start: datetime | None, end: datetime | None) -> QuerySet:
    """Sessions whose activity (started_at .. last_event_at) overlaps [start, end)."""
    if start is not None:
        queryset = queryset.filter(last_event_at__gte=start)
    if end is not None:
        queryset = queryset.filter(started_at__lt=end)
    return queryset


def sessions_in_project(queryset: QuerySet, *, project: str) -> QuerySet:
    """Sessions of the project with this key, or of every project with this (folder) name."""
    return queryset.filter(project__in=projects_named(project))


def projects_named(project: str) -> QuerySet:
    """Projects whose key or name is `project` (names are folder names: two projects can share one)."""
    return Project.objects.filter(Q(key=project) | Q(name=project)).values("pk")


def project_keys_named(*, project: str) -> list[str]:
    """The key of the project whose key is `project`, else the keys of those with that (folder) name
    (at most 3: one is the answer, more means the name is ambiguous)."""
    by_key = Project.objects.filter(key=project).values_list("key", flat=True)
    return list(by_key) or list(
        Project.objects.filter(name=project).order_by("key").values_list("key", flat=True)[:3]
    )


def sessions_using_tool(queryset: QuerySet, *, tool: str) -> QuerySet:
    """Sessions with a call of `tool` (a look-up in each session's tool calls, by index)."""
    return queryset.filter(Exists(ToolCall.objects.filter(session=OuterRef("pk"), tool_name=tool)))


def sessions_min_cost(queryset: QuerySet, *, cost_usd: Decimal) -> QuerySet:
    """Sessions that cost at least `cost_usd` (any finite number; past the column's range it is none or all)."""
    if cost_usd > _COST_MAX:
        return queryset.none()
    if cost_usd <= -_COST_MAX:
        return queryset
    # Stored costs have 8 decimals, so rounding the bound up to 8 decimals keeps `>=` exact.
    return queryset.filter(cost_usd__gte=cost_usd.quantize(Decimal("1e-8"), rounding=ROUND_CEILING))


def sessions_min_tokens(queryset: QuerySet, *, tokens: int) -> QuerySet:
    """Sessions with at least `tokens` tokens of every kind together (needs sessions_with_tokens)."""
    if tokens > _INT64_MAX:
        return queryset.none()
    return queryset.filter(tokens__gte=tokens) if tokens > 0 else queryset


def session_lookup(*, session_id: str, platform: str | None = None) -> list[Session]:
    """The sessions with this id (on `platform`, if given): one, none, or one per platform when two
    platforms happened to use the same id. Each comes with its project and its conversation count."""
    qs = sessions_with_tokens(sessions_with_id(session_id)).select_related("project")
    if platform:
        qs = qs.filter(platform=platform)
    conversations = Conversation.objects.filter(session=OuterRef("pk")).order_by().values("session")
    counted = Subquery(conversations.annotate(n=Count("pk")).values("n"))
    qs = qs.annotate(conversation_count=Coalesce(counted, 0))
    return list(qs.order_by("platform"))


def session_stored_platforms(*, session_id: str, platform: str | None = None) -> list[str]:
    """The platforms with raw events stored for this session id, derived or not (a session the slow path
    has not reached, or could not derive, has its raw events all the same)."""
    qs = sessions_with_id(session_id, model=SessionProgress)
    if platform:
        qs = qs.filter(platform=platform)
    return sorted(qs.values_list("platform", flat=True))


def sessions_filtered(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    platform: str = "",
    project: str = "",
    branch: str = "",
    model: str = "",
    status: str = "",
    user: str | None = None,
    machine: str | None = None,
) -> QuerySet:
    """The API's session list (with `tokens`) under the same filters as /api/v1/sessions/ applies them:
    activity overlapping [start, end), platform, project (key or folder name), git branch, a response
    from `model`, status; user and machine (None: any; "" is this install's own capture). Empty text
    means no filter. Order it with SESSION_ORDERINGS (keyset.py)."""
    qs = sessions_active(sessions_with_tokens(session_list()), start=start, end=end)
    if platform:
        qs = qs.filter(platform=platform)
    if project:
        qs = sessions_in_project(qs, project=project)
    if branch:
        qs = qs.filter(git_branch=branch)
    if model:
        qs = sessions_using_model(qs, model=model)
    if status:
        qs = qs.filter(status=status)
    return people_filter(qs, user=user, machine=machine)


def sessions_people() -> tuple[list[str], list[str]]:
    """The distinct users and machines of the stored sessions, sorted ("" is this install's own
    capture). Two index-only reads (session_user_machine)."""
    users = Session.objects.order_by("user").values_list("user", flat=True).distinct()
    machines = Session.objects.order_by("machine").values_list("machine", flat=True).distinct()
    return list(users), list(machines)


SESSION_STATUSES: tuple[str, ...] = tuple(SessionStatus.values)  # what ?status= may be

"""Sessions like a given one: the same project, the same tools, the same files touched.

A score in 0..1 adds three parts: PROJECT_WEIGHT when the project is the same, TOOLS_WEIGHT times the
Jaccard index of the tool names called, FILES_WEIGHT times the Jaccard index of the files changed (their
salted path hashes: files are compared without being named). Candidates are the CANDIDATES_MAX sessions
with the most recent activity that share the project, a tool or a file, so the cost is bounded however
large the store is."""

from typing import TypedDict

from django.db.models import Q, QuerySet

from ..models import CodeChange, Project, Session, ToolCall
from .sessions import sessions_with_tokens

PROJECT_WEIGHT = 0.4
TOOLS_WEIGHT = 0.3
FILES_WEIGHT = 0.3
CANDIDATES_MAX = 2000


class SimilarSession(TypedDict):
    session: Session
    score: float
    same_project: bool
    tools_shared: list[str]
    files_shared: int


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _sets(rows: QuerySet) -> dict[int, set]:
    """{session pk: values} from (session pk, value) rows."""
    out: dict[int, set] = {}
    for pk, value in rows:
        if value:
            out.setdefault(pk, set()).add(value)
    return out


def sessions_similar(*, session: Session, limit: int = 10) -> list[SimilarSession]:
    """The `limit` sessions most like `session` (never itself), best first; ties go to the most recent.
    A session with nothing in common (score 0) is not similar. Each comes with `tokens` (as the session
    list has it)."""
    tools = set(
        ToolCall.objects.filter(session=session).exclude(tool_name="").values_list("tool_name", flat=True)
    )
    files = set(
        CodeChange.objects.filter(session=session).exclude(path_hash="").values_list("path_hash", flat=True)
    )
    sharing = ToolCall.objects.filter(tool_name__in=tools).values("session")
    touching = CodeChange.objects.filter(path_hash__in=files).values("session")
    candidates = list(
        sessions_with_tokens(Session.objects.select_related("project"))
        .exclude(pk=session.pk)
        .filter(_shares(session, sharing, touching))
        .order_by("-last_event_at", "-id")[:CANDIDATES_MAX]
    )
    pks = [c.pk for c in candidates]
    their_tools = _sets(
        ToolCall.objects.filter(session__in=pks).values_list("session", "tool_name").distinct()
    )
    their_files = _sets(
        CodeChange.objects.filter(session__in=pks).values_list("session", "path_hash").distinct()
    )
    found: list[SimilarSession] = []
    for other in candidates:
        same = _project_known(session) and other.project_id == session.project_id
        other_tools, other_files = their_tools.get(other.pk, set()), their_files.get(other.pk, set())
        score = (
            PROJECT_WEIGHT * same
            + TOOLS_WEIGHT * _jaccard(tools, other_tools)
            + FILES_WEIGHT * _jaccard(files, other_files)
        )
        if score > 0:
            found.append(
                SimilarSession(
                    session=other,
                    score=round(score, 4),
                    same_project=same,
                    tools_shared=sorted(tools & other_tools),
                    files_shared=len(files & other_files),
                )
            )
    found.sort(key=lambda s: -s["score"])  # stable: equal scores keep the most recent first
    return found[:limit]


def _project_known(session: Session) -> bool:
    # Sessions whose project could not be told share the placeholder project, not a project.
    return session.project is not None and session.project.key != Project.UNKNOWN_KEY


def _shares(session: Session, sharing: QuerySet, touching: QuerySet) -> Q:
    condition = Q(pk__in=sharing) | Q(pk__in=touching)
    if _project_known(session):
        condition |= Q(project_id=session.project_id)
    return condition

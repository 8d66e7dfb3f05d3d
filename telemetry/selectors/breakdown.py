"""One session broken down: its tool calls by tool and outcome, its code changes by file extension, its
turns by kind. The parts of a session summary that the session's own counters do not hold."""

from typing import TypedDict

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from ..models import ChangeStatus, CodeChange, Session, ToolCall, ToolStatus, Turn

ROWS_MAX = 100  # tools or extensions of one session at most (a session has a few dozen)


class SessionTool(TypedDict):
    tool_name: str
    calls: int
    failures: int
    rejections: int
    interruptions: int
    duration_ms: int


class SessionExtension(TypedDict):
    file_extension: str
    changes: int
    rejected: int
    reverted: int
    lines_added: int
    lines_removed: int


class SessionBreakdown(TypedDict):
    tools: list[SessionTool]
    extensions: list[SessionExtension]
    turns: dict[str, int]


def session_breakdown(*, session: Session) -> SessionBreakdown:
    """The session's tools (most called first), file extensions changed (most changed first) and turns
    per kind."""
    tools = (
        ToolCall.objects.filter(session=session)
        .values("tool_name")
        .annotate(
            calls=Count("pk"),
            failures=Count("pk", filter=Q(status=ToolStatus.FAILURE)),
            rejections=Count("pk", filter=Q(status=ToolStatus.REJECTED)),
            interruptions=Count("pk", filter=Q(status=ToolStatus.INTERRUPTED)),
            duration_ms=Coalesce(Sum("duration_ms"), 0),
        )
        .order_by("-calls", "tool_name")[:ROWS_MAX]
    )
    extensions = (
        CodeChange.objects.filter(session=session)
        .values("file_extension")
        .annotate(
            changes=Count("pk"),
            rejected=Count("pk", filter=Q(status=ChangeStatus.REJECTED)),
            reverted=Count("pk", filter=Q(status=ChangeStatus.REVERTED)),
            lines_added=Coalesce(Sum("lines_added"), 0),
            lines_removed=Coalesce(Sum("lines_removed"), 0),
        )
        .order_by("-changes", "file_extension")[:ROWS_MAX]
    )
    turns = Turn.objects.filter(session=session).values("kind").annotate(n=Count("pk")).order_by("kind")
    return SessionBreakdown(
        tools=[SessionTool(**row) for row in tools],
        extensions=[SessionExtension(**row) for row in extensions],
        turns={row["kind"]: row["n"] for row in turns},
    )

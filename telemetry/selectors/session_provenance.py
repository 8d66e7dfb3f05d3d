"""Where one session's numbers came from (provenance.py's questions for one session): its API calls per
source, the conflicts with both readings, its API errors and retries, its tool calls' decisions. For
`blueplane analyze`, the session summary of the API and the MCP server."""

from typing import TypedDict

from django.db.models import Count

from ..models import Session, ToolCall, Turn, TurnKind
from .provenance import CONFLICTS_MAX, PLATFORM, SOURCES, Conflict, conflict_of


class SessionProvenance(TypedDict):
    """Where one session's numbers came from: its API calls per source, the conflicts (both readings),
    its API errors with their status and attempts, and its tool calls' decisions by who decided."""

    api_calls: dict[str, int]  # source -> calls (SOURCES order; "" as transcript, as elsewhere)
    conflicts: list[Conflict]  # at most CONFLICTS_MAX, newest first
    api_errors: list[dict]  # [{at, model, request_id, status_code, attempts}], at most CONFLICTS_MAX
    tool_decisions: list[dict]  # [{tool_name, decision, decision_source, calls}], most calls first
    tool_calls_in_otel: int


def session_provenance(*, session: Session) -> SessionProvenance:
    calls: dict[str, int] = {}
    for row in (
        Turn.objects.filter(session=session, kind=TurnKind.ASSISTANT_RESPONSE)
        .values("source")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        label = row["source"] or ("transcript" if session.platform == PLATFORM else session.platform)
        calls[label] = calls.get(label, 0) + row["n"]
    order = {s: i for i, s in enumerate(SOURCES)}
    conflicts = Turn.objects.filter(session=session, source="conflict").order_by("-timestamp", "-id")
    errors = Turn.objects.filter(session=session, kind=TurnKind.API_ERROR).order_by("timestamp", "id")
    tools = ToolCall.objects.filter(session=session)
    return SessionProvenance(
        api_calls={s: calls[s] for s in sorted(calls, key=lambda s: (order.get(s, len(order)), s))},
        conflicts=[conflict_of(t, session_id=session.session_id) for t in conflicts[:CONFLICTS_MAX]],
        api_errors=[
            {
                "at": t.timestamp,
                "model": t.model,
                "request_id": t.request_id,
                "status_code": (t.detail or {}).get("status_code") if isinstance(t.detail, dict) else None,
                "attempts": (t.detail or {}).get("attempts") if isinstance(t.detail, dict) else None,
            }
            for t in errors[:CONFLICTS_MAX]
        ],
        tool_decisions=list(
            tools.exclude(decision="")
            .values("tool_name", "decision", "decision_source")
            .annotate(calls=Count("pk"))
            .order_by("-calls", "tool_name", "decision", "decision_source")
        ),
        tool_calls_in_otel=tools.filter(seen_in_otel=True).count(),
    )

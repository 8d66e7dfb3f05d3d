"""Where one session's numbers came from (provenance.py's questions for one session): its API calls per
source, the conflicts with both readings, its API errors and retries, its tool calls' decisions. For
`blueplane analyze`, the session summary of the API and the MCP server."""

from typing import TypedDict

from django.db.models import Count

from ..models import Session, ToolCall, Turn, TurnKind
from .provenance import CONFLICTS_MAX, PLATFORM, SOURCES, Conflict, conflict_of


class SessionProvenance(TypedDict):
    """Where one session's numbers came from: its API calls per source, the conflicts (both readings),
    its API errors with their status and attempts, and its tool calls' decisions by who decided. `otel`
    says whether OpenTelemetry reported anything of the session at all (False: its otel_* figures are
    missing, not 0)."""

    otel: bool
    api_calls: dict[str, int]  # source -> calls (SOURCES order; "" as transcript, as elsewhere)
    conflicts: list[Conflict]  # at most CONFLICTS_MAX, newest first
    api_errors: list[dict]  # [{at, model, request_id, status_code, attempts}], at most CONFLICTS_MAX
    tool_decisions: list[dict]  # [{tool_name, decision, decision_source, calls}], most calls first
    tool_calls_in_otel: int


# Session figures only OTel gives: null until an OTel metric point names the session (models.Session).
_OTEL_FIGURES = ("otel_active_seconds", "otel_lines_added", "otel_lines_removed", "otel_edit_accepts",
                 "otel_edit_rejects")  # fmt: skip


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
    tools = ToolCall.objects.filter(session=session)
    in_otel = tools.filter(seen_in_otel=True).count()
    seen = (
        any(getattr(session, f) is not None for f in _OTEL_FIGURES)
        or session.otel_gaps > 0
        or in_otel > 0
        or any(n for source, n in calls.items() if source in SOURCES and source != "transcript")
    )
    api_calls = {s: calls[s] for s in sorted(calls, key=lambda s: (order.get(s, len(order)), s))}
    if not seen:  # nothing of OTel's to show: its errors' attempts, conflicts and decisions are OTel's
        return SessionProvenance(
            otel=False,
            api_calls=api_calls,
            conflicts=[],
            api_errors=[],
            tool_decisions=[],
            tool_calls_in_otel=0,
        )
    # Conflicts need both sources and decisions need OTel: their queries run only when there can be some.
    conflicts = (
        Turn.objects.filter(session=session, source="conflict").order_by("-timestamp", "-id")[:CONFLICTS_MAX]
        if calls.get("conflict")
        else []
    )
    decisions = (
        tools.exclude(decision="")
        .values("tool_name", "decision", "decision_source")
        .annotate(calls=Count("pk"))
        .order_by("-calls", "tool_name", "decision", "decision_source")
        if in_otel
        else []
    )
    errors = Turn.objects.filter(session=session, kind=TurnKind.API_ERROR).order_by("timestamp", "id")
    return SessionProvenance(
        otel=seen,
        api_calls=api_calls,
        conflicts=[conflict_of(t, session_id=session.session_id) for t in conflicts],
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
        tool_decisions=list(decisions),
        tool_calls_in_otel=in_otel,
    )

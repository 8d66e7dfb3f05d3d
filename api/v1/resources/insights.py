"""A session's summary (its totals broken down by tool, file extension and kind of turn) and the past
sessions most like it: GET /api/v1/sessions/{id}/summary/ and .../similar/. The row builders here are
what the MCP server's session_summary and similar_sessions tools answer with, so both say the same."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf
from rest_framework.request import Request
from rest_framework.response import Response

from telemetry.models import Session
from telemetry.selectors import breakdown, similar
from telemetry.selectors.session_provenance import session_provenance

from .serializers import otel_reading, session_data, session_detail_data
from .views import PLATFORM_PARAM, SessionScoped

SIMILAR_DEFAULT = 10
SIMILAR_MAX = 50


def summary_data(session: Session) -> dict:
    """The session's totals (as GET /api/v1/sessions/{id}/) with its tools, extensions and turns, and for a
    Claude Code session where its numbers came from (`provenance`: API calls per source, conflicts with
    both readings, API errors with status and attempts, tool decisions by who decided)."""
    data = {"session": session_detail_data(session), **breakdown.session_breakdown(session=session)}
    if session.platform == "claude_code":
        found = session_provenance(session=session)
        found["conflicts"] = [{**c, "otel": otel_reading(c["otel"])} for c in found["conflicts"]]
        data["provenance"] = found
    return data


def similar_data(session: Session, *, limit: int) -> dict:
    found = similar.sessions_similar(session=session, limit=limit)
    return {
        "session_id": session.session_id,
        "platform": session.platform,
        "results": [
            {
                "score": s["score"],
                "same_project": s["same_project"],
                "tools_shared": s["tools_shared"],
                "files_shared": s["files_shared"],
                "session": session_data(s["session"]),
            }
            for s in found
        ],
    }


@extend_schema(parameters=[PLATFORM_PARAM], responses=OpenApiTypes.OBJECT)
class SessionSummary(SessionScoped):
    """One session: its totals, and its tool calls by tool and outcome, code changes by file extension,
    turns by kind; for Claude Code, `provenance`: its API calls per source (transcript, otel, both,
    conflict), the conflicts with both readings, API errors with status code and attempts, and tool
    decisions (accept/reject) by who decided."""

    pagination_class = None

    def get(self, request: Request, session_id: str) -> Response:
        return Response(summary_data(self.session))


class SimilarParams(drf.Serializer):
    limit = drf.IntegerField(default=SIMILAR_DEFAULT, min_value=1, max_value=SIMILAR_MAX)


@extend_schema(
    parameters=[
        PLATFORM_PARAM,
        OpenApiParameter("limit", int, description=f"sessions at most (default {SIMILAR_DEFAULT}, at most "
                         f"{SIMILAR_MAX})"),
    ],
    responses=OpenApiTypes.OBJECT,
)  # fmt: skip
class SessionSimilar(SessionScoped):
    """Past sessions most like this one, best first: score 0..1 = 0.4 same project + 0.3 overlap of tools
    called + 0.3 overlap of files changed (Jaccard; files compared by salted hash)."""

    pagination_class = None

    def get(self, request: Request, session_id: str) -> Response:
        params = SimilarParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(similar_data(self.session, limit=params.validated_data["limit"]))

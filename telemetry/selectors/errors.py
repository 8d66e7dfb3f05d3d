"""Errors of tool calls grouped by tool, error type and message hash, and counts of data issues by kind.

A tool call's error hash (ToolCall.error_hash, telemetry.processing.claude.error_digest) groups calls
that failed with the same text without the text being stored; the text itself is there only when the
user opted in to keep content (docs/privacy.md).
"""

from datetime import datetime
from typing import TypedDict

from django.db.models import Count, Max, Min
from django.db.models.functions import Coalesce

from ..models import DataIssue, ToolCall, ToolStatus
from ..processing.facts import IssueKind
from .spans import hour_span, people_filter

FAILED = (ToolStatus.FAILURE, ToolStatus.REJECTED, ToolStatus.INTERRUPTED)


class ErrorGroup(TypedDict):
    tool_name: str
    error_type: str  # capture's verdict: user_rejected, permission_denied, interrupted, tool_use_error, error
    error_hash: str  # "" when the error's text was not recorded
    error_text: str  # the start of the text, only when content is kept; else ""
    count: int
    sessions: int
    first_seen: datetime | None
    last_seen: datetime | None


def error_groups(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
    tool_name: str | None = None,
    error_type: str | None = None,
    min_count: int = 1,
    limit: int = 100,
) -> list[ErrorGroup]:
    """Failed, rejected and interrupted tool calls of the hours overlapping [start, end), grouped by tool,
    error type and error hash: how often, in how many sessions, first and last seen (when the call
    ended, else began). Most frequent first; groups seen fewer than min_count times are left out; at
    most `limit` groups. One query, along the (hour, tool) index."""
    qs = ToolCall.objects.filter(**hour_span(start, end), status__in=FAILED)
    if platform:
        qs = qs.filter(session__platform=platform)
    if project_key:
        qs = qs.filter(project__key=project_key)
    qs = people_filter(qs, user=user, machine=machine, prefix="session__")
    if tool_name:
        qs = qs.filter(tool_name=tool_name)
    if error_type:
        qs = qs.filter(error_type=error_type)
    moment = Coalesce("finished_at", "started_at")
    sums = {"count": Count("id"), "sessions": Count("session", distinct=True), "first_seen": Min(moment),
            "last_seen": Max(moment), "error_text": Max("error_text")}  # fmt: skip
    rows = (
        qs.values("tool_name", "error_type", "error_hash")
        .annotate(**sums)
        .filter(count__gte=min_count)
        .order_by("-count", "tool_name", "error_type", "error_hash")[:limit]
    )
    return [ErrorGroup(**r) for r in rows]


# Counting a kind stops here: past it the count is a lower bound (`exact` False), so the summary costs
# the same on a store of any size (an index range of at most this many entries per kind).
ISSUE_COUNT_MAX = 100_000


class IssueCount(TypedDict):
    kind: str
    count: int
    exact: bool  # False: at least `count` (ISSUE_COUNT_MAX was reached)


def data_issue_counts(*, platform: str | None = None, session_id: str | None = None) -> list[IssueCount]:
    """Data issues per kind (every kind the slow path records, zeros included), along the (kind, id)
    index and up to ISSUE_COUNT_MAX each: one bounded query per kind, never a COUNT over the table."""
    qs = DataIssue.objects.all()
    if platform:
        qs = qs.filter(session__platform=platform)
    if session_id:
        qs = qs.filter(session__session_id=session_id)
    out = []
    for kind in IssueKind.ALL:
        n = qs.filter(kind=kind).order_by()[: ISSUE_COUNT_MAX + 1].count()
        out.append(IssueCount(kind=kind, count=min(n, ISSUE_COUNT_MAX), exact=n <= ISSUE_COUNT_MAX))
    return out

"""Sessions: a filterable QuerySet for lists, and per-session usage records for reports."""

from datetime import datetime

from django.db.models import QuerySet

from ..models import Session
from .usage import UsageTotals


def session_list(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    platform: str | None = None,
    project_key: str | None = None,
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
    return qs


class SessionUsage(UsageTotals):
    """A session's usage for reports: the session's own counters (docs/metrics.md)."""

    session_id: str
    platform: str
    project: str
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
) -> list[SessionUsage]:
    """Sessions with activity in [start, end), newest first: project, models, tokens, cost, counts (the
    whole session's, also of a session that reaches outside the span)."""
    return [
        SessionUsage(
            session_id=s.session_id,
            platform=s.platform,
            project=s.project.name if s.project else "",
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
        )
        for s in session_list(start=start, end=end, platform=platform, project_key=project_key)[:limit]
    ]

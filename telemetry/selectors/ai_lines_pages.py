"""Cursor's AI-authored lines for the admin and the dashboard: its scored commits (AI vs human lines per
commit) and its AI code lines (fragments by source), and the responses whose tokens it did not record.

A commit scored on two branches is two AiCommit rows but one commit: sums take each commit once, by the
rule of ai_code.py, which computes the figures for every interface."""

from datetime import date
from typing import TypedDict
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet, Sum

from ..models import AiCodeLine, AiCommit, UsageHour
from .ai_code import ai_commit_report, ai_lines_by
from .spans import days_hours, hour_local_day, rollup_filter

# Sources Cursor's ai_code_hashes rows carry (docs: cursor-formats §4.1): what a filter offers.
AI_CODE_SOURCES = ("composer", "tab", "human", "cli", "terminal", "background-agent", "cloud", "web_agent")
SEARCH_MAX_CHARS = 300

# The lines a scored commit splits its added lines into (blank lines are neither AI's nor the human's).
COMMIT_MEASURES = ("lines_added", "tab_lines_added", "composer_lines_added", "human_lines_added",
                   "blank_lines_added", "lines_deleted")  # fmt: skip


def ai_commit_list() -> QuerySet:
    """Scored commits, newest first."""
    return AiCommit.objects.order_by("-id")


def ai_code_line_list() -> QuerySet:
    """AI code lines, newest first, with their session (if Cursor named one) and its project."""
    return AiCodeLine.objects.select_related("session", "session__project").order_by("-id")


def ai_commits_search(queryset: QuerySet, *, term: str) -> QuerySet:
    """Scored commits whose hash or branch is `term` (exactly; the hash is the unique key's first column)."""
    term = term.strip()
    if not term:
        return queryset
    if len(term) > SEARCH_MAX_CHARS:
        return queryset.none()
    return queryset.filter(Q(commit_hash=term) | Q(branch=term))


def ai_lines_stored_any() -> bool:
    """Whether the store holds any scored commit or AI code line (two index reads)."""
    return AiCommit.objects.exists() or AiCodeLine.objects.exists()


class AiLinesDay(TypedDict):
    day: date
    commits: int
    ai_lines: int
    human_lines: int


class AiLinesSummary(TypedDict):
    """Scored commits of the span (each commit once) and their lines; AI code lines by source."""

    commits: int
    lines_added: int
    tab_lines_added: int
    composer_lines_added: int
    human_lines_added: int
    blank_lines_added: int
    lines_deleted: int
    ai_lines: int  # tab + composer
    ai_share: float | None  # ai / (ai + human); None without such lines
    by_day: list[AiLinesDay]
    code_lines: int
    code_lines_by_source: list[dict]  # [{"source", "lines"}], most first


def ai_lines_summary(*, start: date, end: date, tz: str = "UTC") -> AiLinesSummary:
    """Cursor's AI-authored lines over the local days start..end (inclusive) in zone `tz`: the CLI's and
    the API's figures (ai_code.py), in the shape the overview's card draws."""
    days, totals = ai_commit_report(start=start, end=end, tz=tz, by="day")
    sources, code_lines = ai_lines_by(start=start, end=end, tz=tz, by="source")
    return AiLinesSummary(
        commits=totals["commits"],
        **{m: totals[m] for m in COMMIT_MEASURES},
        ai_lines=totals["ai_lines_added"],
        ai_share=totals["ai_share"],
        by_day=[
            AiLinesDay(
                day=d["day"],
                commits=d["commits"],
                ai_lines=d["ai_lines_added"],
                human_lines=d["human_lines_added"],
            )
            for d in days
        ],
        code_lines=code_lines,
        code_lines_by_source=[{"source": r["source"] or "(unknown)", "lines": r["lines"]} for r in sources],
    )


class MissingTokensDay(TypedDict):
    day: date
    platform: str
    project_key: str
    model: str
    responses: int


def responses_without_tokens_by_day(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> list[MissingTokensDay]:
    """Assistant responses per local day (start..end inclusive, zone `tz`), platform, project and model whose tokens the
    assistant did not record (Cursor's), from the usage rollup, in day order: shown as missing tokens,
    never as zero tokens."""
    zone = ZoneInfo(tz)
    lo, hi = days_hours(start, end, zone)
    qs = rollup_filter(
        UsageHour.objects.filter(hour__gte=lo, hour__lt=hi, responses_without_tokens__gt=0),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    out: dict[tuple[date, str, str, str], int] = {}
    rows = (
        qs.values("hour", "platform", "project__key", "model")
        .annotate(n=Sum("responses_without_tokens"))
        .order_by()
    )
    for r in rows:
        day = hour_local_day(hour=r["hour"], tz=zone)
        if start <= day <= end:
            key = (day, r["platform"], r["project__key"], r["model"])
            out[key] = out.get(key, 0) + r["n"]
    return [
        MissingTokensDay(day=d, platform=p, project_key=k, model=m, responses=n)
        for (d, p, k, m), n in sorted(out.items())
    ]


def responses_without_tokens_sum(
    rows: list[MissingTokensDay], *, since: date, until: date, by: str = "platform"
) -> dict[str, int]:
    """Per platform (or `by` another key of the rows), the responses without tokens of the days
    since..until among `rows`."""
    out: dict[str, int] = {}
    for r in rows:
        if since <= r["day"] <= until:
            out[r[by]] = out.get(r[by], 0) + r["responses"]
    return out

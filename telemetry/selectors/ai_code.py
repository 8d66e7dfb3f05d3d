"""AI-authored code, from Cursor's own tracking (its ai-code-tracking.db, read by the slow path into
AiCommit and AiCodeLine): per commit, how many lines the AI (Tab completions and the composer) and the
human wrote; and the fragments of code Cursor recorded as AI-generated, by source, model, file
extension or project. Only Cursor keeps these: asked for another platform, the answer is empty.

A commit Cursor scored on two branches is one commit here, counted on the local day it was first
scored, with the figures of that first scoring. `ai_share` is the AI's part of the added lines that are
not blank: (tab + composer) / (tab + composer + human), None when there are none.
"""

from datetime import date
from typing import Literal, TypedDict
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet

from ..models import AiCodeLine, AiCommit
from .spans import days_hours, hour_local_day, people_filter, period_name, period_start, rate

PLATFORM = "cursor"  # the only platform that scores commits and tracks AI lines
PERIODS = ("day", "week", "month")
LINE_GROUPS = ("source", "model", "extension", "project")
# A commit's figures: each summed over commits (a NULL Cursor did not record adds nothing).
COMMIT_SUMS = ("lines_added", "lines_deleted", "tab_lines_added", "tab_lines_deleted", "composer_lines_added",
               "composer_lines_deleted", "human_lines_added", "human_lines_deleted", "blank_lines_added",
               "blank_lines_deleted")  # fmt: skip


class CommitTotals(TypedDict):
    """Scored commits (each once) and their lines: the AI's (tab + composer) and the human's."""

    commits: int
    lines_added: int
    lines_deleted: int
    tab_lines_added: int
    tab_lines_deleted: int
    composer_lines_added: int
    composer_lines_deleted: int
    human_lines_added: int
    human_lines_deleted: int
    blank_lines_added: int
    blank_lines_deleted: int
    ai_lines_added: int  # tab + composer
    ai_lines_deleted: int
    ai_share: float | None  # ai_lines_added / (ai_lines_added + human_lines_added)


class CommitRow(CommitTotals, total=False):
    """The commits first scored in one local day, week (named by its first day) or month (YYYY-MM)."""

    day: date
    week: str
    month: str


class LineRow(TypedDict, total=False):
    """AI-generated fragments of code of one source, model, file extension or project."""

    source: str
    model: str
    extension: str
    project: str | None  # the project's name; None: Cursor recorded no conversation, or none is known
    project_key: str | None
    lines: int
    sessions: int  # distinct sessions (conversations Blueplane knows) they came from


def _commit_totals_empty() -> CommitTotals:
    return CommitTotals(commits=0, **dict.fromkeys(COMMIT_SUMS, 0), ai_lines_added=0, ai_lines_deleted=0,
                        ai_share=None)  # fmt: skip


def _commit_add(total: CommitTotals, commit: dict) -> None:
    total["commits"] += 1
    for name in COMMIT_SUMS:
        total[name] += commit[name] or 0
    total["ai_lines_added"] += (commit["tab_lines_added"] or 0) + (commit["composer_lines_added"] or 0)
    total["ai_lines_deleted"] += (commit["tab_lines_deleted"] or 0) + (commit["composer_lines_deleted"] or 0)


def _commit_share(total: CommitTotals) -> CommitTotals:
    total["ai_share"] = rate(total["ai_lines_added"], total["ai_lines_added"] + total["human_lines_added"])
    return total


def ai_commit_report(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: Literal["day", "week", "month"] = "day",
    week_starts: int = 0,
    platform: str | None = None,
) -> tuple[list[CommitRow], CommitTotals]:
    """Scored commits first scored in the local days start..end (in IANA zone `tz`), per day, week or
    month (oldest first; weeks start on weekday `week_starts`, 0 Monday), and their totals. Each commit
    counts once, however many branches Cursor scored it on. Periods without commits are left out."""
    if by not in PERIODS:
        raise ValueError(f"cannot group commits by {by!r}; choose from {PERIODS}")
    zone = ZoneInfo(tz)
    lo, hi = days_hours(start, end, zone)
    totals = _commit_totals_empty()
    if platform not in (None, PLATFORM):
        return [], totals
    # A commit scored before the span on another branch was counted then, not now.
    earlier = AiCommit.objects.filter(hour__lt=lo).values("commit_hash")
    found = (
        AiCommit.objects.filter(hour__gte=lo, hour__lt=hi)
        .exclude(commit_hash__in=earlier)
        .order_by("scored_at", "id")
        .values("commit_hash", "hour", *COMMIT_SUMS)
    )
    seen: set[str] = set()
    periods: dict[date, CommitRow] = {}
    for commit in found:
        if commit["commit_hash"] in seen:
            continue  # the same commit on another branch
        seen.add(commit["commit_hash"])
        day = hour_local_day(hour=commit["hour"], tz=zone)
        if not start <= day <= end:
            continue
        first = period_start(day, period=by, week_starts=week_starts)
        row = periods.get(first)
        if row is None:
            label = {"day": first} if by == "day" else {by: period_name(first, by)}
            row = periods[first] = CommitRow(**label, **_commit_totals_empty())
        _commit_add(row, commit)
        _commit_add(totals, commit)
    return [_commit_share(periods[k]) for k in sorted(periods)], _commit_share(totals)


_LINE_COLUMNS = {
    "source": ("source",),
    "model": ("model",),
    "extension": ("file_extension",),
    "project": ("session__project__name", "session__project__key"),
}


def ai_lines_by(
    *,
    start: date,
    end: date,
    tz: str = "UTC",
    by: Literal["source", "model", "extension", "project"] = "source",
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> tuple[list[LineRow], int]:
    """AI-generated fragments of code Cursor recorded in the local days start..end, per source
    (composer, tab, ...), model, file extension (".py" and "py" are one) or project (through the
    session of the conversation Cursor recorded; None when it recorded none or the session is unknown),
    most first, and their total; only `project_key`'s, `user`'s and `machine`'s when given (None: any;
    through the session too, so a line of no known session has none of them). Only their counts: never
    a file's name or content."""
    if by not in LINE_GROUPS:
        raise ValueError(f"cannot group AI lines by {by!r}; choose from {LINE_GROUPS}")
    zone = ZoneInfo(tz)
    lo, hi = days_hours(start, end, zone)
    if platform not in (None, PLATFORM):
        return [], 0
    qs: QuerySet = AiCodeLine.objects.filter(hour__gte=lo, hour__lt=hi)
    if project_key:
        qs = qs.filter(session__project__key=project_key)
    qs = people_filter(qs, user=user, machine=machine, prefix="session__")
    columns = _LINE_COLUMNS[by]
    # Hours cut the span at UTC hours; a local day's edge inside an hour is decided per row's hour.
    groups: dict[tuple, dict] = {}
    for r in qs.values("hour", *columns, "session_id").annotate(lines=Count("id")).order_by():
        if not start <= hour_local_day(hour=r["hour"], tz=zone) <= end:
            continue
        key = tuple(r[c] for c in columns)
        if by == "extension":
            key = (("." + key[0].lstrip(".")) if key[0] else "",)
        acc = groups.setdefault(key, {"lines": 0, "sessions": set()})
        acc["lines"] += r["lines"]
        if r["session_id"] is not None:
            acc["sessions"].add(r["session_id"])
    out: list[LineRow] = []
    for key, acc in groups.items():
        label = {"project": key[0], "project_key": key[1]} if by == "project" else {by: key[0] or ""}
        out.append(LineRow(**label, lines=acc["lines"], sessions=len(acc["sessions"])))
    out.sort(key=lambda r: (-r["lines"], str(r.get(by) or "")))
    return out, sum(r["lines"] for r in out)

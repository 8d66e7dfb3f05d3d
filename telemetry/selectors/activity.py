"""Activity totals and the productivity score, from the hourly rollups (docs/metrics.md defines each);
acceptance of AI edits per file extension, from the code changes."""

from datetime import datetime
from typing import TypedDict

from django.db.models import Count, Q, Sum

from ..models import ActivityHour, ChangeStatus, CodeChange, ToolHour, UsageHour
from ..processing import rollups
from .spans import hour_span, people_filter, rate, rollup_filter


class ActivitySummary(TypedDict):
    """Totals over a span (rollups.ACTIVITY_MEASURES but sessions, which hours cannot sum) and rates
    (None without a denominator)."""

    prompts: int
    api_errors: int
    lines_added: int
    lines_removed: int
    edits_accepted: int
    edits_rejected: int
    active_seconds: int
    assistant_messages: int
    tool_calls: int
    tool_failures: int
    tool_interruptions: int
    tool_rejections: int
    tool_error_rate: float | None
    interruption_rate: float | None
    api_error_rate: float | None
    acceptance_rate: float | None
    lines_changed: int


class ProductivityScore(TypedDict):
    """The score (0-100), the points each part contributed, and the inputs it was computed from."""

    score: float
    parts: dict[str, float]
    inputs: dict


def activity_summary(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> ActivitySummary:
    """Totals and rates over the hours overlapping [start, end): prompts, assistant messages, tool
    calls and their failure / interruption rates, API error rate, lines changed, AI edit acceptance
    rate and active time. A rate with no denominator is None."""
    span = hour_span(start, end)
    act = rollup_filter(
        ActivityHour.objects.filter(**span),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    ).aggregate(
        **{
            f: Sum(f)
            for f in rollups.ACTIVITY_MEASURES
            if f != "sessions"  # sessions of different hours may be the same session: not summable
        }
    )
    act = {k: v or 0 for k, v in act.items()}
    tools = rollup_filter(
        ToolHour.objects.filter(**span),
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    ).aggregate(
        calls=Sum("calls"),
        failures=Sum("failures"),
        interruptions=Sum("interruptions"),
        rejections=Sum("rejections"),
    )
    tools = {k: v or 0 for k, v in tools.items()}
    messages = (
        rollup_filter(
            UsageHour.objects.filter(**span),
            platform=platform,
            project_key=project_key,
            user=user,
            machine=machine,
        ).aggregate(n=Sum("messages"))["n"]
        or 0
    )
    edits = act["edits_accepted"] + act["edits_rejected"]
    return ActivitySummary(
        **act,
        assistant_messages=messages,
        tool_calls=tools["calls"],
        tool_failures=tools["failures"],
        tool_interruptions=tools["interruptions"],
        tool_rejections=tools["rejections"],
        tool_error_rate=rate(tools["failures"], tools["calls"]),
        interruption_rate=rate(tools["interruptions"], tools["calls"]),
        api_error_rate=rate(act["api_errors"], messages + act["api_errors"]),
        acceptance_rate=rate(act["edits_accepted"], edits),
        lines_changed=act["lines_added"] + act["lines_removed"],
    )


# Code impact saturates at this many changed lines per active hour (docs/metrics.md).
IMPACT_LINES_PER_ACTIVE_HOUR = 200


def productivity_score(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> ProductivityScore:
    """A 0-100 score and its parts (docs/metrics.md):
        score = clamp(50 + 25*tool_success - 15*error_share + 10*acceptance + 10*impact, 0, 100)
    tool_success = 1 - (failures + interruptions) / tool calls; error_share = (tool failures + API
    errors) / (tool calls + assistant messages + API errors); acceptance = AI edit acceptance rate;
    impact = min(1, lines changed per active hour / 200). A part without data counts 0 and is None."""
    a = activity_summary(
        start=start,
        end=end,
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    )
    calls = a["tool_calls"]
    tool_success = 1 - (a["tool_failures"] + a["tool_interruptions"]) / calls if calls else None
    attempts = calls + a["assistant_messages"] + a["api_errors"]
    error_share = (a["tool_failures"] + a["api_errors"]) / attempts if attempts else None
    acceptance = a["acceptance_rate"]
    active_h = a["active_seconds"] / 3600
    impact = min(1.0, a["lines_changed"] / active_h / IMPACT_LINES_PER_ACTIVE_HOUR) if active_h else None
    parts = {
        "base": 50.0,
        "tool_efficiency": 25 * (tool_success or 0),
        "error_penalty": -15 * (error_share or 0),
        "acceptance": 10 * (acceptance or 0),
        "code_impact": 10 * (impact or 0),
    }
    return ProductivityScore(
        score=round(max(0.0, min(100.0, sum(parts.values()))), 1),
        parts=parts,
        inputs={
            "tool_success": tool_success,
            "error_share": error_share,
            "acceptance": acceptance,
            "impact": impact,
            **a,
        },
    )


class Acceptance(TypedDict):
    """AI edits of one file extension ("" for files without one), or of all (`file_extension` None).
    Rates are shares of all changes (None without any); acceptance_rate is the activity summary's
    (accepted / (accepted + rejected + reverted))."""

    file_extension: str | None
    changes: int
    accepted: int
    rejected: int
    reverted: int
    acceptance_rate: float | None
    rejection_rate: float | None
    reversion_rate: float | None
    lines_added: int
    lines_removed: int


def _acceptance(extension: str | None, n: dict) -> Acceptance:
    return Acceptance(
        file_extension=extension,
        changes=n["changes"],
        accepted=n["accepted"],
        rejected=n["rejected"],
        reverted=n["reverted"],
        acceptance_rate=rate(n["accepted"], n["changes"]),
        rejection_rate=rate(n["rejected"], n["changes"]),
        reversion_rate=rate(n["reverted"], n["changes"]),
        lines_added=n["lines_added"],
        lines_removed=n["lines_removed"],
    )


def acceptance_by_extension(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> tuple[list[Acceptance], Acceptance]:
    """(per file extension, most changes first; all of them) for the AI edits of the hours overlapping
    [start, end): accepted, rejected and reverted counts and rates, lines added and removed. One query
    along the code changes' hour index."""
    qs = CodeChange.objects.filter(**hour_span(start, end))
    if platform:
        qs = qs.filter(session__platform=platform)
    if project_key:
        qs = qs.filter(project__key=project_key)
    qs = people_filter(qs, user=user, machine=machine, prefix="session__")
    rows = (
        qs.values("file_extension")
        .annotate(
            changes=Count("id"),
            accepted=Count("id", filter=Q(status=ChangeStatus.ACCEPTED)),
            rejected=Count("id", filter=Q(status=ChangeStatus.REJECTED)),
            reverted=Count("id", filter=Q(status=ChangeStatus.REVERTED)),
            lines_added=Sum("lines_added"),
            lines_removed=Sum("lines_removed"),
        )
        .order_by()
    )
    measures = ("changes", "accepted", "rejected", "reverted", "lines_added", "lines_removed")
    total = dict.fromkeys(measures, 0)
    out = []
    for r in rows:
        n = {m: r[m] or 0 for m in measures}
        for m in measures:
            total[m] += n[m]
        out.append(_acceptance(r["file_extension"], n))
    out.sort(key=lambda a: (-a["changes"], a["file_extension"]))
    return out, _acceptance(None, total)

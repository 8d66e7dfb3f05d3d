"""The MCP tools. Each answers one question as the REST API answers it (named in its docstring): the
same parameter serializer or FilterSet checks the arguments, the same selector reads, the same serializer
or row builder shapes the JSON. Lists come a page at a time (limit, cursor); no answer is unbounded.

The docstrings are what the model reads when it decides which tool to call."""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from api.v1.reports import serializers as reports_out
from api.v1.reports.ai_code import AiCodeParams, AiCodeReportSerializer, ai_code_answer
from api.v1.reports.base import ReportParams, people_of, span_of
from api.v1.reports.ledger import LedgerParams, LedgerSerializer, ledger_answer
from api.v1.reports.usage import UsageParams, ccusage_report, usage_answer, usage_rows
from api.v1.reports.views import ErrorParams
from api.v1.resources import filters, insights
from api.v1.resources import serializers as resources_out
from telemetry.capture.privacy import Privacy, SaltError, salt_load
from telemetry.capture.runtime import SALT_NAME, home
from telemetry.selectors import activity, derived, errors, provenance, sessions, system, tools

from .answers import filtered, rendered, session_one, validated
from .pages import ordering_keys, queryset_page

Platform = Literal["claude_code", "cursor"]

# The span every report takes, described once.
Since = Annotated[str | None, Field(description="first local day, YYYY-MM-DD (default: `days` before until)")]
Until = Annotated[str | None, Field(description="last local day, YYYY-MM-DD (default: today in tz)")]
Days = Annotated[int, Field(ge=1, le=4_000_000, description="days to cover when since is not given")]
Tz = Annotated[str, Field(description="IANA time zone the days are in, e.g. Europe/Berlin")]
PlatformArg = Annotated[Platform | None, Field(description="only this assistant")]
ProjectArg = Annotated[str | None, Field(description="only this project: its key (see the projects tool)")]
UserArg = Annotated[
    str | None, Field(max_length=150, description="only this user's (a team server's people)")
]
MachineArg = Annotated[str | None, Field(max_length=64, description="only this machine's (a team server's)")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page (same other arguments)")]
SessionId = Annotated[
    str, Field(max_length=300, description="a Claude Code session id or Cursor conversation id")
]

ROWS_MAX = 200  # rows of one answer at most: more would flood the model's context


def bounded(answer: dict, key: str, limit: int = ROWS_MAX) -> dict:
    """`answer` with at most `limit` items under `key`, and `"more": true` when some were left out (the
    API answers them all; an answer within the bound is the API's exactly)."""
    if len(answer[key]) <= limit:
        return answer
    return {**answer, key: answer[key][:limit], "more": True}


def _span(values: dict) -> dict:
    days = values["local_days"]
    return {"start": days.start, "end": days.end, "platform": values.get("platform"),
            "project_key": values.get("project"), **people_of(values)}  # fmt: skip


# --- usage and cost ------------------------------------------------------------------------------


def usage_report(
    group: Annotated[
        Literal[
            "day", "week", "month", "session", "project", "model", "platform", "source", "user", "machine"
        ],
        Field(
            description="what a row is (source: where the numbers came from: transcript, otel, both, conflict; "
            "user, machine: a team server's people and machines, \"\" for the server's own capture)"
        ),
    ] = "day",
    since: Since = None,
    until: Until = None,
    days: Days = 30,
    tz: Tz = "UTC",
    platform: PlatformArg = None,
    project: ProjectArg = None,
    user: UserArg = None,
    machine: MachineArg = None,
    start_of_week: Annotated[
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None,
        Field(description="group=week: the day weeks start on (default monday; sunday with format=ccusage)"),
    ] = None,
    format: Annotated[
        Literal["json", "ccusage"],
        Field(
            description="json: Blueplane's rows; ccusage: the shape of `ccusage daily|weekly|monthly|"
            "session --json` (group day, week, month or session)"
        ),
    ] = "json",
    limit: Annotated[int, Field(ge=1, le=ROWS_MAX, description="rows at most (newest sessions first)")] = 50,
) -> dict[str, Any]:
    """Token use and cost in US dollars over any span of local days in any time zone, one row per day,
    week, month, session, project, model or platform (Claude Code, Cursor), with totals. Use it for "how
    much did I spend/use ...". A day, week or month row has `platforms` (its usage per platform) when
    both were used. When Claude Code's OpenTelemetry export is on, the totals count every API call once
    whoever saw it, and `sources` gives them per source (both: transcript and OTel agree; transcript;
    otel: only OTel saw it, e.g. /compact's call; conflict: their tokens differ, the ledger tool shows
    both readings); `sources` is absent when every call came from transcripts. Cursor does not record every response's tokens: `responses_without_tokens` counts
    those, and tokens and cost are null where none of a row's responses has them: say they are
    missing, never read them as 0 or estimate them.
    Costs come from the same price table as every Blueplane report, so they equal the CLI's
    (`blueplane usage`) and GET /api/v1/usage/. At most `limit` rows; `more` is true when rows were
    left out (the totals still count them)."""
    values = validated(
        UsageParams, group=group, since=since, until=until, days=days, tz=tz, platform=platform,
        project=project, user=user, machine=machine, start_of_week=start_of_week, format=format, limit=limit,
    )  # fmt: skip
    if values["format"] == "ccusage":
        answer = rendered(reports_out.CCUSAGE_SERIALIZERS[values["group"]](ccusage_report(values)).data)
        return bounded(answer, next(k for k in answer if isinstance(answer[k], list)), limit)
    rows = usage_rows(values)
    report = {**usage_answer(values, rows), "rows": rows[: limit + 1]}  # the totals count every row
    return bounded(rendered(reports_out.UsageReportSerializer(report).data), "rows", limit)


def ledger(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC", project: ProjectArg = None,
    user: UserArg = None, machine: MachineArg = None,
) -> dict[str, Any]:  # fmt: skip
    """Where each of Claude Code's usage numbers came from, over a span: usage per model and source
    (both = transcript and OpenTelemetry agree, transcript only, otel only = calls only OTel saw such as
    /compact's, conflict = both saw it with different tokens: the transcript's count), OTel's own
    figures (api_request events with Claude Code's cost, token/cost metrics) beside the ledger's with
    the difference, each conflict with both readings (at most 100), how the join keys matched
    (request_id, tool_use_id, prompt.id), possible OTel loss (sequence gaps), and what only OTel
    measures: Claude Code's active time beside Blueplane's, lines of code both ways, edit decisions,
    API errors and retries, tool decisions by tool and who decided (config, user, hook). Use it for
    "where does this number come from", "do the sources agree", "how often did I reject tools". `otel`
    false: the span holds no OTel data (the export is off); say so rather than reading zeros. The same
    JSON as GET /api/v1/ledger/; a few kilobytes."""
    values = validated(
        LedgerParams, since=since, until=until, days=days, tz=tz, project=project, user=user, machine=machine
    )
    return rendered(LedgerSerializer(ledger_answer(values)).data)


# --- sessions --------------------------------------------------------------------------------------


def sessions_search(
    since: Annotated[str | None, Field(description="active from this date or ISO date-time (in tz)")] = None,
    until: Annotated[
        str | None, Field(description="active through this date, or before this date-time")
    ] = None,
    tz: Tz = "UTC",
    platform: PlatformArg = None,
    project: Annotated[str | None, Field(description="project key or folder name (exact)")] = None,
    user: UserArg = None,
    machine: MachineArg = None,
    branch: Annotated[str | None, Field(description="git branch (exact)")] = None,
    model: Annotated[str | None, Field(description="with a response from this model")] = None,
    tool: Annotated[str | None, Field(description="with a call of this tool, e.g. Bash")] = None,
    status: Annotated[
        Literal["active", "ended", "timed_out"] | None, Field(description="session status")
    ] = None,
    min_cost: Annotated[float | None, Field(description="cost at least this, USD")] = None,
    min_tokens: Annotated[int | None, Field(ge=0, le=2**63 - 1, description="tokens at least this")] = None,
    search: Annotated[str | None, Field(description="a session id, or part of a project name")] = None,
    ordering: Annotated[
        Literal[
            "-last_event_at",
            "last_event_at",
            "-started_at",
            "started_at",
            "-cost_usd",
            "cost_usd",
            "-tokens",
            "tokens",
        ],
        Field(description="order (leading - is descending)"),
    ] = "-last_event_at",
    limit: Annotated[int, Field(ge=1, le=100, description="sessions per page")] = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Find sessions by time, project, branch, model, tool used, status, cost or tokens; most recent
    activity first unless `ordering` says otherwise. Each session: its project, models, prompts, tool
    calls and failures, tokens, cost, lines changed, active time. The rows of GET /api/v1/sessions/.
    Use session_summary for one session's detail, current_session for the one being worked in."""
    queryset = filtered(
        filters.SessionFilter, sessions.sessions_with_tokens(sessions.session_list()), since=since,
        until=until, tz=tz, platform=platform, project=project, user=user, machine=machine, branch=branch, model=model, tool=tool,
        status=status, min_cost=min_cost, min_tokens=min_tokens, search=search,
    )  # fmt: skip
    keys = ordering_keys(sessions.SESSION_ORDERINGS, ordering)
    rows, next_cursor = queryset_page("sessions", queryset, ordering, keys, limit, cursor)
    return {"results": rendered([resources_out.session_data(s) for s in rows]), "next_cursor": next_cursor}


def current_session(
    session_id: Annotated[str | None, Field(max_length=300, description="the session's id, if known")] = None,
    cwd: Annotated[
        str | None, Field(max_length=4096, description="the working directory (absolute path)")
    ] = None,
    project: Annotated[str | None, Field(description="project key or folder name")] = None,
    platform: PlatformArg = None,
) -> dict[str, Any]:
    """The figures of the session being worked in: tokens, cost, prompts, tool calls and failures, lines
    changed, models, times. Give session_id when you know it; else the latest session of the project of
    `cwd` (the current working directory) or of `project`; with neither, the latest session of all. The
    same JSON as GET /api/v1/sessions/{id}/."""
    if session_id is not None:
        return rendered(resources_out.session_detail_data(session_one(session_id, platform)))
    queryset = sessions.session_list(platform=platform)
    if cwd is not None:
        queryset = queryset.filter(project__key=_project_key_of(cwd))
    elif project is not None:
        queryset = filtered(filters.SessionFilter, queryset, project=project)
    latest = queryset.first()
    if latest is None:
        where = f" in {cwd!r}" if cwd else f" of project {project!r}" if project else ""
        raise ToolError(f"no session{where} yet")
    return rendered(resources_out.session_detail_data(session_one(latest.session_id, latest.platform)))


def _project_key_of(cwd: str) -> str:
    """The key capture gives the project of `cwd`: its git root's hash with this install's salt."""
    if not cwd.startswith("/") or "\x00" in cwd:
        raise ToolError("cwd: give the working directory as an absolute path")
    try:
        salt = salt_load(str(home() / SALT_NAME), create=False)
    except SaltError:
        raise ToolError("nothing was captured on this install yet (it has no salt)") from None
    return Privacy(salt).project(cwd)["hash"]


def session_summary(session_id: SessionId, platform: PlatformArg = None) -> dict[str, Any]:
    """One session in full: its totals (tokens, cost, prompts, tool calls, lines, times; with Claude
    Code's OpenTelemetry export, API retries and OTel's active time, lines and edit decisions beside
    Blueplane's), its tool calls by tool and outcome, its code changes by file extension, its turns by
    kind, and for Claude Code `provenance`: API calls per source, conflicts with both readings, API
    errors with status and attempts, tool decisions by who decided. Use it to look at one
    session found with sessions_search or similar_sessions. The same JSON as GET
    /api/v1/sessions/{id}/summary/."""
    return rendered(insights.summary_data(session_one(session_id, platform)))


def similar_sessions(
    session_id: SessionId,
    platform: PlatformArg = None,
    limit: Annotated[int, Field(ge=1, le=insights.SIMILAR_MAX, description="sessions at most")] = 10,
) -> dict[str, Any]:
    """Past sessions like this one: the same project, the same tools called, the same files changed
    (compared by salted hash, never by name). Score 0..1 = 0.4 same project + 0.3 tool overlap + 0.3
    file overlap (Jaccard). Use it to find earlier work on the same thing, or how a similar task went
    (its cost, failures, lines changed). The same JSON as GET /api/v1/sessions/{id}/similar/."""
    return rendered(insights.similar_data(session_one(session_id, platform), limit=limit))


def projects(
    search: Annotated[
        str | None, Field(description="part of the project's name (any case), or its key")
    ] = None,
    platform: PlatformArg = None,
    user: UserArg = None,
    machine: MachineArg = None,
    limit: Annotated[int, Field(ge=1, le=100, description="projects per page")] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Projects (by folder name) with their key, session count, first and last activity and usage
    totals: the rows of GET /api/v1/projects/. Use it to find the `project` key other tools take."""
    people = {"user": user or None, "machine": machine or None}  # as the API: empty is any
    queryset = filtered(
        filters.ProjectFilter, derived.project_list_with_totals(platform=platform, **people), search=search
    )
    keys = ordering_keys(derived.PROJECT_ORDERINGS, "name")
    rows, next_cursor = queryset_page("projects", queryset, "name", keys, limit, cursor)
    data = resources_out.ProjectSerializer(rows, many=True).data
    return {"results": rendered(data), "next_cursor": next_cursor}


# --- tools, errors, edits ------------------------------------------------------------------------------


def tool_performance(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC",
    platform: PlatformArg = None, project: ProjectArg = None, user: UserArg = None, machine: MachineArg = None,
) -> dict[str, Any]:  # fmt: skip
    """How each tool the assistant called performed over a span: calls, failures, rejections,
    interruptions and their rates, and latency percentiles (p50/p95), and Claude Code's tool decisions
    (accept/reject, by who decided: config, user, hook; from its OpenTelemetry export, empty without
    it). Use it to see which tools fail, are slow or get rejected. The same JSON as GET /api/v1/tools/."""
    values = validated(
        ReportParams, since=since, until=until, days=days, tz=tz, platform=platform, project=project,
        user=user, machine=machine,
    )  # fmt: skip
    report = {"span": span_of(values), "tools": tools.tool_stats(**_span(values)),
              "decisions": provenance.tool_decisions(**_span(values))}  # fmt: skip
    return bounded(rendered(reports_out.ToolReportSerializer(report).data), "tools")


def tool_failures(
    tool_name: Annotated[str | None, Field(description="only this tool, e.g. Bash or Edit")] = None,
    project: Annotated[str | None, Field(description="project key or folder name (exact)")] = None,
    user: UserArg = None,
    machine: MachineArg = None,
    session_id: Annotated[str | None, Field(description="only this session")] = None,
    status: Annotated[
        Literal["failure", "rejected", "interrupted"],
        Field(description="failure: the tool failed; rejected: the user said no; interrupted: stopped"),
    ] = "failure",
    error_type: Annotated[str | None, Field(description="only this error type, e.g. tool_use_error")] = None,
    since: Annotated[str | None, Field(description="from this date or ISO date-time (in tz)")] = None,
    until: Annotated[str | None, Field(description="through this date, or before this date-time")] = None,
    tz: Tz = "UTC",
    platform: PlatformArg = None,
    limit: Annotated[int, Field(ge=1, le=100, description="calls per page")] = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Recent failed (or rejected, or interrupted) tool calls, newest first, for a tool, a project or a
    session: tool, error type, when, how long, which session. Error texts are not stored unless the
    user opted in. The rows of GET /api/v1/tool-calls/?status=... ."""
    queryset = filtered(
        filters.ToolCallFilter, derived.tool_call_rows(), tool_name=tool_name, project=project,
        user=user, machine=machine, session=session_id, status=status, error_type=error_type, since=since, until=until, tz=tz,
        platform=platform,
    )  # fmt: skip
    keys = ordering_keys(derived.time_orderings("at"), "-timestamp")
    rows, next_cursor = queryset_page("tool-calls", queryset, "-timestamp", keys, limit, cursor)
    data = resources_out.ToolCallSerializer(rows, many=True).data
    return {"results": rendered(data), "next_cursor": next_cursor}


def errors_report(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC",
    platform: PlatformArg = None, project: ProjectArg = None, user: UserArg = None, machine: MachineArg = None,
    tool: Annotated[str | None, Field(description="only this tool")] = None,
    error_type: Annotated[
        str | None,
        Field(description="only this type: user_rejected, permission_denied, interrupted, tool_use_error, error"),
    ] = None,
    min_count: Annotated[int, Field(ge=1, le=2**31 - 1, description="leave out groups seen fewer times")] = 1,
    limit: Annotated[int, Field(ge=1, le=ROWS_MAX, description="groups at most")] = 50,
) -> dict[str, Any]:  # fmt: skip
    """Errors of tool calls grouped by tool, error type and message (equal texts share a hash): how
    often, in how many sessions, first and last seen. Use it to find recurring problems. The same JSON
    as GET /api/v1/errors/."""
    values = validated(
        ErrorParams, since=since, until=until, days=days, tz=tz, platform=platform, project=project,
        user=user, machine=machine, tool=tool, error_type=error_type, min_count=min_count, limit=limit,
    )  # fmt: skip
    groups = errors.error_groups(
        **_span(values), tool_name=values.get("tool"), error_type=values.get("error_type"),
        min_count=values["min_count"], limit=limit + 1,
    )  # fmt: skip
    report = {"span": span_of(values), "groups": groups[:limit], "more": len(groups) > limit}
    return rendered(reports_out.ErrorReportSerializer(report).data)


def edit_acceptance(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC",
    platform: PlatformArg = None, project: ProjectArg = None, user: UserArg = None, machine: MachineArg = None,
) -> dict[str, Any]:  # fmt: skip
    """How many of the assistant's file edits were accepted, rejected or later reverted, by file
    extension and in total, with lines added and removed. The same JSON as GET /api/v1/acceptance/."""
    values = validated(
        ReportParams, since=since, until=until, days=days, tz=tz, platform=platform, project=project,
        user=user, machine=machine,
    )  # fmt: skip
    extensions, total = activity.acceptance_by_extension(**_span(values))
    report = {"span": span_of(values), "extensions": extensions[: ROWS_MAX + 1], "total": total}
    return bounded(rendered(reports_out.AcceptanceReportSerializer(report).data), "extensions")


def ai_code(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC",
    platform: PlatformArg = None,
    project: Annotated[str | None, Field(description="only AI lines of this project: its key")] = None,
    user: Annotated[
        str | None, Field(max_length=150, description="only AI lines of this user's sessions")
    ] = None,
    machine: Annotated[
        str | None, Field(max_length=64, description="only AI lines of this machine's sessions")
    ] = None,
    group: Annotated[Literal["day", "week", "month"], Field(description="commits: what a row is")] = "day",
    lines_by: Annotated[
        Literal["source", "model", "extension", "project"], Field(description="AI lines: what a row is")
    ] = "source",
    start_of_week: Annotated[
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
        Field(description="group=week: the day weeks start on"),
    ] = "monday",
) -> dict[str, Any]:  # fmt: skip
    """How much of the committed code the AI wrote, as Cursor tracks it (Claude Code does not: its
    answer is empty). Commits: per day, week or month, the commits Cursor scored (each once, whatever
    the branches), lines added and deleted by the AI (Tab completions + composer) and by the human, and
    the AI's share of the added lines. Lines: the fragments of code Cursor recorded as AI-generated, by
    source (composer, tab), model, file extension or project. Counts only, never code. The same JSON as
    GET /api/v1/ai-code/; one row per period or group (a few dozen at most for a month)."""
    values = validated(
        AiCodeParams, since=since, until=until, days=days, tz=tz, platform=platform, project=project,
        user=user, machine=machine, group=group, lines_by=lines_by, start_of_week=start_of_week,
    )  # fmt: skip
    answer = rendered(AiCodeReportSerializer(ai_code_answer(values)).data)
    for part in ("commits", "lines"):
        answer[part] = bounded(answer[part], "rows")
    return answer


# --- productivity and health ---------------------------------------------------------------------------


def productivity(
    since: Since = None, until: Until = None, days: Days = 30, tz: Tz = "UTC",
    platform: PlatformArg = None, project: ProjectArg = None, user: UserArg = None, machine: MachineArg = None,
) -> dict[str, Any]:  # fmt: skip
    """The productivity score (0-100) over a span, the points each part adds (tool success, error share,
    edit acceptance, impact in lines per active hour) and the activity it is computed from (prompts,
    messages, tool calls, errors, lines, active time). The same JSON as GET /api/v1/productivity/."""
    values = validated(
        ReportParams, since=since, until=until, days=days, tz=tz, platform=platform, project=project,
        user=user, machine=machine,
    )  # fmt: skip
    report = {"span": span_of(values), **activity.productivity_score(**_span(values))}
    return rendered(reports_out.ProductivitySerializer(report).data)


def pipeline_health() -> dict[str, Any]:
    """Whether Blueplane itself is healthy: the database, Redis, the event stream's backlog, the slow
    path's lag, sessions that fail to process, free disk space, and warnings saying what needs
    attention. Use it when numbers look stale or missing. The same JSON as GET /api/v1/pipeline/."""
    return rendered(reports_out.PipelineSerializer(system.pipeline_state()).data)


TOOLS = [
    usage_report,
    ledger,
    current_session,
    sessions_search,
    session_summary,
    similar_sessions,
    projects,
    tool_performance,
    tool_failures,
    errors_report,
    edit_acceptance,
    ai_code,
    productivity,
    pipeline_health,
]

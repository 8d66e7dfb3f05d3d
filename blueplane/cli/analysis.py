"""`sessions`, `analyze SESSION`, `tools`, `errors`, `projects`: the API's lists and reports in a terminal.

Each command asks the question the API answers, through the same code: `sessions` and `projects` filter
with the API's FilterSets and build their rows with the API's row builders, so `--json` prints the
records /api/v1/sessions/ and /api/v1/projects/ return; `tools` and `errors` call the selectors the
API's reports call (errors rendered by the report's serializer).
"""

import argparse

from .options import (
    CommandError,
    database_require,
    local_zone,
    people,
    people_options,
    platform_option,
    positive,
    span_options,
    zone_checked,
)
from .output import bar, cell, json_print, report_head, table

SESSION_ORDERS = ("-last_event_at", "last_event_at", "-started_at", "started_at", "-cost_usd", "cost_usd",
                  "-tokens", "tokens")  # fmt: skip
TIMELINE_MAX = 1000  # the API's page size limit: past it, read /api/v1/sessions/ID/timeline/ page by page
LIMIT_MAX = 10_000  # a terminal's worth many times over; --json callers page by narrowing the span


def limit(text: str) -> int:
    value = positive(text)
    if value > LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {LIMIT_MAX}: {text!r}")
    return value


def timeline_limit(text: str) -> int:
    value = positive(text)
    if value > TIMELINE_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {TIMELINE_MAX}: {text!r}")
    return value


def _filter_errors(errors: dict) -> CommandError:
    """The first of a FilterSet's or serializer's errors as one line naming the option."""
    name, messages = next(iter(errors.items()))
    message = messages[0] if isinstance(messages, list) else messages
    option = "" if name == "__all__" or name == "non_field_errors" else f"--{name.replace('_', '-')}: "
    return CommandError(f"{option}{message}", exit_code=2)


def project_key(project: str | None, *, unique: bool = True) -> str | None:
    """The key of the project named by its key or (folder) name; an unknown one is a mistake worth
    saying (the API answers it with nothing), and so is a name several projects share when `unique`."""
    if project is None:
        return None
    from telemetry.selectors.sessions import project_keys_named

    found = project_keys_named(project=project)
    if not found:
        raise CommandError(f"unknown project {project[:80]!r} (`blueplane projects` lists them)", exit_code=2)
    if unique and len(found) > 1:
        raise CommandError(
            f"more than one project is named {project!r}: give its key (`blueplane projects`)", exit_code=2
        )
    return found[0]


# --- sessions ----------------------------------------------------------------------------------------

_SESSION_FILTERS = ("platform", "project", "user", "machine", "branch", "model", "tool", "status", "since", "until", "tz",
                    "min_cost", "min_tokens", "search")  # fmt: skip


def cmd_sessions(args: argparse.Namespace) -> int:
    database_require()
    from django.http import QueryDict

    from api.v1.resources.filters import SessionFilter
    from api.v1.resources.serializers import session_data
    from telemetry.selectors import keyset, sessions

    params = QueryDict(mutable=True)
    for name in _SESSION_FILTERS:
        value = getattr(args, name)
        if value is not None:
            params[name] = str(value)
    found = SessionFilter(data=params, queryset=sessions.sessions_with_tokens(sessions.session_list()))
    if not found.is_valid():
        raise _filter_errors(found.errors)
    project_key(args.project, unique=False)  # sessions take every project of that name, as the API does
    page = keyset.keyset_page(found.qs, keys=sessions.SESSION_ORDERINGS[args.order], limit=args.limit)
    rows = [session_data(s) for s in page.rows]
    if args.json:
        json_print(rows)
        return 0
    if not rows:
        print("no sessions match")
        return 0
    from telemetry.selectors.spans import zone_named

    zone = zone_named(args.tz)
    shown = [
        {**r, "models": ", ".join(r["models"] or []),
         **({"tokens": "missing", "cost_usd": "missing"} if r["tokens"] is None else {}),
         "started": s.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if s.started_at else None}
        for r, s in zip(rows, page.rows, strict=True)
    ]  # fmt: skip
    table(shown, [("session_id", "session", "text"), ("project", "project", "text"),
                  *[(k, k, "text") for k in ("user", "machine") if any(r[k] for r in rows)],
                  ("git_branch", "branch", "text"), ("started", f"started ({args.tz})", "text"),
                  ("status", "status", "text"), ("models", "models", "text"), ("prompts", "prompts", "int"),
                  ("assistant_messages", "messages", "int"), ("tool_calls", "tools", "int"),
                  ("tool_failures", "failed", "int"), ("tokens", "tokens", "int"),
                  ("cost_usd", "cost USD", "usd")])  # fmt: skip
    if page.more:
        print(f"more sessions match: raise --limit (now {args.limit}) or narrow the filters")
    return 0


# --- analyze SESSION ----------------------------------------------------------------------------------


def session_pick(*, prefix: str, platform: str | None):
    """The one session with this id or id prefix, else a one-line error (exit 2)."""
    from telemetry.selectors.session_analysis import sessions_by_prefix

    found = sessions_by_prefix(prefix=prefix, platform=platform)
    shown = repr(prefix[:80])
    if not found:
        raise CommandError(f"unknown session {shown} (`blueplane sessions` lists them)", exit_code=2)
    if len(found) > 1:
        both = " and ".join(f"{s.session_id} ({s.platform})" for s in found[:2])
        raise CommandError(
            f"session {shown} is ambiguous: {both}; give more of the id or --platform", exit_code=2
        )
    return found[0]


def cmd_analyze(args: argparse.Namespace) -> int:
    database_require()
    zone = _zone(args.tz)
    from api.v1.resources.serializers import session_detail_data, timeline_data
    from telemetry.selectors.session_analysis import LIST_MAX, session_analysis
    from telemetry.selectors.session_provenance import session_provenance
    from telemetry.selectors.timeline import timeline_page

    session = session_pick(prefix=args.session, platform=args.platform)
    found = session_analysis(session=session, turns_limit=args.turns)
    if session.platform == "claude_code":
        found["provenance"] = session_provenance(session=session)
    items, more = timeline_page(session=session, limit=args.timeline)
    timeline = timeline_data(items)
    if args.json:
        json_print({
            "session": session_detail_data(session), **found, "timeline": timeline, "timeline_more": more,
            "limits": {"turns": args.turns, "timeline": args.timeline, "more": (
                f"turns and timeline are cut at --turns and --timeline (up to {TIMELINE_MAX}), tool errors, "
                f"API errors and sub-agents at {LIST_MAX} (the *_total fields count them all); the whole "
                f"timeline is at /api/v1/sessions/{session.session_id}/timeline/, page by page")},
        })  # fmt: skip
        return 0
    _analysis_print(session_detail_data(session), found, timeline, more, zone=zone, args=args)
    return 0


def _when(value: object, zone: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str | None:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(zone).strftime(fmt) if value else None


def _analysis_print(s: dict, found: dict, timeline: list, more: bool, *, zone: object, args) -> None:
    print(f"Session {s['session_id']} ({s['platform']}), project {s['project'] or '-'}"
          f"{', branch ' + s['git_branch'] if s['git_branch'] else ''}")  # fmt: skip
    print(
        f"  {_when(s['started_at'], zone) or '?'} .. {_when(s['last_event_at'], zone) or '?'} ({args.tz}), "
        f"{s['status']}{', ' + s['end_reason'] if s['end_reason'] else ''}; models: {', '.join(s['models']) or '-'}"
    )
    print(
        f"  {s['prompts']} prompts, {s['assistant_messages']} responses, {s['tool_calls']} tool calls "
        f"({s['tool_failures']} failed, {s['tool_rejections']} rejected), {s['subagent_runs']} sub-agent runs, "
        f"{s['compactions']} compactions, {s['api_errors']} API errors"
    )
    if s["tokens"] is None:  # the session's tokens were never recorded (Cursor): missing, not 0
        used = "tokens missing (not recorded)"
    else:
        used = f"{cell(s['tokens'], 'int')} tokens, {cell(s['cost_usd'], 'usd')} USD"
        if s["responses_without_tokens"]:
            used += f" ({s['responses_without_tokens']} responses without token counts)"
    print(f"  {used}, +{s['lines_added']} -{s['lines_removed']} lines")
    _otel_print(s, found.get("provenance"))
    conversations = found["conversations"] if len(found["conversations"]) > 1 else []  # one: the session
    sections = [
        ("Conversations", [{**c, "started_at": _when(c["started_at"], zone), "archived": "yes" if c["archived"] else ""}
                           for c in conversations],
         [("conversation_id", "conversation", "text"), ("mode", "mode", "text"), ("started_at", "started", "text"),
          ("prompts", "prompts", "int"), ("responses", "responses", "int"), ("tool_calls", "tools", "int"),
          ("lines_added", "+lines", "int"), ("lines_removed", "-lines", "int"), ("archived", "archived", "text")]),
        ("Turns (a prompt and what answered it)", [
            _missing({**t, "prompt_at": _when(t["prompt_at"], zone, "%H:%M:%S") or "(before)",
                      "models": ", ".join(t["models"]),
                      "tokens": sum(t[k] for k in ("input_tokens", "output_tokens", "cache_write_tokens",
                                                   "cache_read_tokens"))})
            for t in found["turns"]],
         [("index", "#", "int"), ("prompt_at", "at", "text"), ("prompt_chars", "chars", "int"),
          ("responses", "responses", "int"), ("tool_calls", "tools", "int"), ("tool_failures", "failed", "int"),
          ("models", "models", "text"), ("input_tokens", "input", "int"), ("output_tokens", "output", "int"),
          ("tokens", "tokens", "int"), ("cost_usd", "cost USD", "usd"),
          ("responses_without_tokens", "no tokens", "int")]),
        ("Tools", [{**t, "error_types": ", ".join(f"{k} {v}" for k, v in t["error_types"].items())} for t in found["tools"]],
         [("tool_name", "tool", "text"), ("calls", "calls", "int"), ("failures", "failed", "int"),
          ("rejections", "rejected", "int"), ("interruptions", "interrupted", "int"), ("mean_ms", "mean ms", "int"),
          ("max_ms", "max ms", "int"), ("error_types", "errors", "text")]),
        ("Files touched, by extension", [{**f, "file_extension": f["file_extension"] or "(none)"} for f in found["files"]],
         [("file_extension", "extension", "text"), ("files", "files", "int"), ("changes", "changes", "int"),
          ("lines_added", "+lines", "int"), ("lines_removed", "-lines", "int"), ("accepted", "accepted", "int"),
          ("rejected", "rejected", "int"), ("reverted", "reverted", "int")]),
        ("Tool errors", [{**e, "error_hash": e["error_hash"][:12] or "-", "last_seen": _when(e["last_seen"], zone)}
                         for e in found["tool_errors"]],
         [("tool_name", "tool", "text"), ("error_type", "type", "text"), ("error_hash", "message hash", "text"),
          ("count", "count", "int"), ("last_seen", "last seen", "text")]),
        ("API errors", [{**e, "at": _when(e["at"], zone)} for e in found["api_errors"]],
         [("at", "at", "text"), ("model", "model", "text"), ("agent_id", "agent", "text"),
          ("request_id", "request", "text"), ("status_code", "status", "int"), ("attempts", "attempts", "int")]),
        ("Tool decisions (OpenTelemetry)", (found.get("provenance") or {}).get("tool_decisions", []),
         [("tool_name", "tool", "text"), ("decision", "decision", "text"),
          ("decision_source", "decided by", "text"), ("calls", "calls", "int")]),
        ("Conflicts: transcript and OTel tokens differ (the transcript's count)",
         [r for c in (found.get("provenance") or {}).get("conflicts", []) for r in (
             {"request_id": c["request_id"], "reading": "transcript", **c["transcript"]},
             {"request_id": "", "reading": "OTel", **c["otel"]})],
         [("request_id", "request", "text"), ("reading", "reading", "text"), ("input_tokens", "input", "int"),
          ("output_tokens", "output", "int"), ("cache_write_tokens", "cache write", "int"),
          ("cache_read_tokens", "cache read", "int")]),
        ("Sub-agents", [{**a, "started_at": _when(a["started_at"], zone)} for a in found["subagents"]],
         [("agent_id", "agent", "text"), ("agent_type", "type", "text"), ("status", "status", "text"),
          ("started_at", "started", "text"), ("duration_ms", "ms", "int"), ("responses", "responses", "int"),
          ("tool_calls", "tools", "int"), ("output_tokens", "output", "int"), ("cost_usd", "cost USD", "usd")]),
        ("Timeline", [_timeline_row(i, zone) for i in timeline],
         [("at", "at", "text"), ("type", "what", "text"), ("name", "name", "text"), ("detail", "detail", "text")]),
    ]  # fmt: skip
    for title, rows, columns in sections:
        if rows:
            print()
            table(rows, columns, title=title)
    if found["turns_total"] > len(found["turns"]):
        print(f"turns: the first {len(found['turns'])} of {found['turns_total']} (--turns shows more)")
    if more:
        print(
            f"timeline: the first {len(timeline)} items (--timeline shows up to {TIMELINE_MAX}; --json for all fields)"
        )


_SOURCE_NAMES = {"both": "both (agree)", "transcript": "transcript only", "otel": "OTel only",
                 "conflict": "conflict"}  # fmt: skip


def _otel_print(s: dict, provenance: dict | None) -> None:
    """The session's OpenTelemetry figures beside Blueplane's, and where its API calls came from."""
    if provenance and provenance["api_calls"]:
        print("  API calls by source: " + ", ".join(
            f"{_SOURCE_NAMES.get(k, k)} {n:,}" for k, n in provenance["api_calls"].items()))  # fmt: skip
    if s["api_retries"]:
        print(f"  {s['api_retries']:,} API retries (attempts after the first)")
    if s["otel_active_seconds"] is not None:
        print(f"  OpenTelemetry: active {s['otel_active_seconds']:,.1f} s (Blueplane {s['active_seconds']:,} s), "
              f"lines +{s['otel_lines_added'] or 0:,} -{s['otel_lines_removed'] or 0:,} (Blueplane "
              f"+{s['lines_added']:,} -{s['lines_removed']:,}), edits {s['otel_edit_accepts'] or 0:,} accepted "
              f"{s['otel_edit_rejects'] or 0:,} rejected")  # fmt: skip
    if s["otel_gaps"]:
        print(f"  possible loss: {s['otel_gaps']:,} OpenTelemetry records missing (event.sequence gaps)")


def _missing(turn: dict) -> dict:
    """A turn whose responses all lack recorded tokens (Cursor) says so in place of its sums (never 0)."""
    from telemetry.selectors.usage import tokens_missing

    if tokens_missing(messages=turn["responses"], without_tokens=turn["responses_without_tokens"]):
        kinds = (
            "input_tokens",
            "output_tokens",
            "cache_write_tokens",
            "cache_read_tokens",
            "tokens",
            "cost_usd",
        )
        return {**turn, **dict.fromkeys(kinds, "missing")}
    return turn


def _timeline_row(item: dict, zone: object) -> dict:
    at = _when(item["at"], zone, "%H:%M:%S.%f")[:-3] if item["at"] else "?"
    if item["type"] == "turn":
        detail = ""
        if item["kind"] == "assistant_response" and not item["tokens_known"]:
            detail = "tokens not recorded"
        elif item["kind"] == "assistant_response":
            kinds = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
            detail = f"{sum(item[k] for k in kinds):,} tokens, {item['cost_usd'] or 0:.4f} USD"
            if item.get("source"):
                detail += f", {_SOURCE_NAMES.get(item['source'], item['source'])}"
        name = item["model"] or ""
        if item["kind"] == "user_prompt":
            detail = f"{item['chars'] or 0} chars"
        what = item["kind"] + (" (sub-agent)" if item["agent_id"] else "")
        if item["kind"] == "subagent_run":
            what, name = "sub-agent run", item["agent_id"]
    elif item["type"] == "tool_call":
        what, name = "tool call" + (" (sub-agent)" if item["agent_id"] else ""), item["tool_name"]
        detail = item["status"] + (f" ({item['error_type']})" if item["error_type"] else "")
        detail += f", {item['duration_ms']} ms" if item["duration_ms"] is not None else ""
        if item.get("decision"):
            detail += f", {item['decision']} by {item['decision_source'] or '?'}"
    else:
        what, name = (
            "code change",
            f".{item['file_extension']}" if item["file_extension"] else "(no extension)",
        )
        detail = f"+{item['lines_added']} -{item['lines_removed']} {item['status']}"
    return {"at": at, "type": what, "name": name, "detail": detail}


# --- tools, errors, projects -------------------------------------------------------------------------


def _span_filters(args: argparse.Namespace) -> tuple:
    from .options import Span

    _zone(args.tz)  # an unknown zone is a bad argument (exit 2), as in sessions
    span = Span(args)
    return span, {"start": span.start, "end": span.end, "platform": args.platform,
                  "project_key": project_key(args.project), **people(args)}  # fmt: skip


def cmd_tools(args: argparse.Namespace) -> int:
    database_require()
    from telemetry.selectors import provenance, tools

    span, filters = _span_filters(args)
    rows = tools.tool_stats(**filters)
    if not report_head(rows=rows, as_json=args.json, heading=f"Tool calls {span}", what="tool calls"):
        return 0
    decisions = provenance.tool_decisions(**filters)
    top = max((r["failure_rate"] or 0 for r in rows), default=0)
    shown = [{**r, "failure_pct": None if r["failure_rate"] is None else f"{100 * r['failure_rate']:.1f}%",
              "bar": bar(r["failure_rate"] or 0, top, width=16)} for r in rows]  # fmt: skip
    table(shown, [("tool_name", "tool", "text"), ("calls", "calls", "int"), ("failures", "failed", "int"),
                  ("failure_pct", "failed %", "text"), ("bar", "failures", "text"),
                  ("rejections", "rejected", "int"), ("interruptions", "interrupted", "int"),
                  ("p50_ms", "p50 ms", "int"), ("p95_ms", "p95 ms", "int"), ("p99_ms", "p99 ms", "int")])  # fmt: skip
    if decisions:  # Claude Code's OpenTelemetry export says who accepted or rejected each call
        table(decisions, [("tool_name", "tool", "text"), ("decision", "decision", "text"),
                          ("decision_source", "decided by", "text"), ("calls", "calls", "int")],
              title="Tool decisions (OpenTelemetry), by who decided")  # fmt: skip
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    database_require()
    from telemetry.selectors import errors

    span, filters = _span_filters(args)
    groups = errors.error_groups(**filters, tool_name=args.tool, error_type=args.type, limit=args.limit + 1)
    more, groups = len(groups) > args.limit, groups[: args.limit]
    if args.json:
        from api.v1.reports.serializers import ErrorReportSerializer

        report = {"span": {"since": span.since, "until": span.until, "tz": span.tz}, "groups": groups,
                  "more": more}  # fmt: skip
        json_print(ErrorReportSerializer(report).data)  # the API's errors report, as it renders it
        return 0
    if not report_head(rows=groups, as_json=False, heading=f"Tool errors {span}", what="tool errors"):
        return 0
    zone = span.zone
    shown = [{**g, "error_hash": g["error_hash"][:12] or "-",
              "first_seen": g["first_seen"] and g["first_seen"].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
              "last_seen": g["last_seen"] and g["last_seen"].astimezone(zone).strftime("%Y-%m-%d %H:%M")}
             for g in groups]  # fmt: skip
    table(shown, [("tool_name", "tool", "text"), ("error_type", "type", "text"), ("error_hash", "message hash", "text"),
                  ("count", "count", "int"), ("sessions", "sessions", "int"), ("first_seen", "first seen", "text"),
                  ("last_seen", "last seen", "text")])  # fmt: skip
    if more:
        print(f"more groups: raise --limit (now {args.limit})")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    database_require()
    zone = _zone(args.tz)
    from django.http import QueryDict

    from api.v1.resources.filters import ProjectFilter
    from api.v1.resources.serializers import ProjectSerializer
    from telemetry.selectors import derived, keyset

    params = QueryDict(mutable=True)
    if args.search is not None:
        params["search"] = args.search
    found = ProjectFilter(data=params, queryset=derived.project_list_with_totals(platform=args.platform,
                                                                                 **people(args)))  # fmt: skip
    if not found.is_valid():
        raise _filter_errors(found.errors)
    page = keyset.keyset_page(found.qs, keys=derived.PROJECT_ORDERINGS[args.order], limit=args.limit)
    rows = ProjectSerializer(page.rows, many=True).data
    if args.json:
        json_print(rows)
        return 0
    if not rows:
        print("no projects match")
        return 0
    shown = [{**r, "cost_usd": "missing" if r["cost_usd"] is None else float(r["cost_usd"]), "key": r["key"][:12],
              "tokens": "missing" if r["input_tokens"] is None else
              sum(r[k] for k in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")),
              "last_seen": p.last_seen and p.last_seen.astimezone(zone).strftime("%Y-%m-%d %H:%M")}
             for r, p in zip(rows, page.rows, strict=True)]  # fmt: skip
    table(shown, [("name", "project", "text"), ("key", "key", "text"), ("sessions", "sessions", "int"),
                  ("last_seen", f"last active ({args.tz})", "text"), ("messages", "messages", "int"),
                  ("tokens", "tokens", "int"), ("cost_usd", "cost USD", "usd")])  # fmt: skip
    if page.more:
        print(f"more projects: raise --limit (now {args.limit})")
    return 0


def _zone(tz: str):
    return zone_checked(tz)


# --- registration ------------------------------------------------------------------------------------


def _platform_project(p: argparse.ArgumentParser) -> None:
    platform_option(p)
    p.add_argument("--project", help="only this project: its key, or its (folder) name")
    people_options(p)


def register(sub: argparse._SubParsersAction) -> None:
    help = "sessions, filtered as the API's list filters them, most recent first"
    p = sub.add_parser("sessions", help=help, description=help)
    _platform_project(p)
    p.add_argument("--branch", help="git branch (exact)")
    p.add_argument("--model", help="sessions with a response from this model")
    p.add_argument("--tool", help="sessions with a call of this tool")
    p.add_argument("--status", help="active, ended or timed_out")
    p.add_argument("--since", help="active from this date (a local day in --tz) or date-time (ISO 8601)")
    p.add_argument("--until", help="active through this date, or before this date-time")
    p.add_argument("--tz", default=local_zone(), help="IANA time zone of the dates (default: this machine's)")
    p.add_argument("--min-cost", help="cost at least this much (USD)")
    p.add_argument("--min-tokens", help="at least this many tokens (input + output + cache)")
    p.add_argument("--search", help="a session id (exact) or part of a project name")
    p.add_argument("--order", choices=SESSION_ORDERS, default="-last_event_at",
                   help="sort by (a leading - is newest or largest first; default -last_event_at)")  # fmt: skip
    p.add_argument(
        "--limit", type=limit, default=50, help=f"sessions at most (default 50, up to {LIMIT_MAX})"
    )
    p.add_argument("--json", action="store_true", help="print the API's session records as a JSON array")
    p.set_defaults(handler=cmd_sessions)

    help = "one session taken apart: timeline, turns, tools, files, errors, sub-agents"
    p = sub.add_parser("analyze", help=help, description=help)
    p.add_argument("session", help="the session's id, or a prefix of it that only it has")
    platform_option(p, help="when two platforms used the same id")
    p.add_argument("--turns", type=limit, default=100, help="turns to show at most (default 100)")
    p.add_argument("--timeline", type=timeline_limit, default=50,
                   help=f"timeline items to show at most (default 50, up to {TIMELINE_MAX})")  # fmt: skip
    p.add_argument("--tz", default=local_zone(), help="IANA time zone of the times shown")
    p.add_argument("--json", action="store_true", help="print it all as one JSON document")
    p.set_defaults(handler=cmd_analyze)

    help = "tool calls, failure rate, rejections and latency percentiles per tool"
    p = sub.add_parser("tools", help=help, description=help)
    _platform_project(p)
    span_options(p)
    p.set_defaults(handler=cmd_tools)

    help = "failed, rejected and interrupted tool calls by tool, error type and message hash"
    p = sub.add_parser("errors", help=help, description=help)
    _platform_project(p)
    p.add_argument("--tool", help="only this tool")
    p.add_argument("--type", help="only this error type: user_rejected, permission_denied, interrupted, "
                   "tool_use_error or error")  # fmt: skip
    p.add_argument("--limit", type=limit, default=100, help="groups at most (default 100)")
    span_options(p)
    p.set_defaults(handler=cmd_errors)

    help = "projects with their sessions and usage totals"
    p = sub.add_parser("projects", help=help, description=help)
    platform_option(p, help="only sessions and usage on this platform")
    people_options(p)
    p.add_argument("--search", help="part of the project name (any case), or its key")
    p.add_argument("--order", choices=("name", "-name", "-cost_usd", "-session_count", "-last_seen"),
                   default="name", help="sort by (default name)")  # fmt: skip
    p.add_argument("--limit", type=limit, default=100, help="projects at most (default 100)")
    p.add_argument("--tz", default=local_zone(), help="IANA time zone of the times shown")
    p.add_argument("--json", action="store_true", help="print the API's project records as a JSON array")
    p.set_defaults(handler=cmd_projects)

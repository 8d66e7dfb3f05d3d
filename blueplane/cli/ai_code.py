"""`report ai`: how much of the code the AI wrote, as Cursor tracks it: scored commits per day, week or
month (each commit once, AI lines vs the human's, the AI's share) and the AI-generated fragments of code
by source, model, file extension or project. The question GET /api/v1/ai-code/ answers, checked by its
parameters and answered by the same code, so `--json` prints the API's JSON."""

import argparse
from datetime import date

from .options import CommandError, ccusage_day, local_zone, people, platform_option, zone_checked

PERIODS = {"daily": "day", "weekly": "week", "monthly": "month"}
LINES_BY = ("source", "model", "extension", "project")


def cmd_ai(args: argparse.Namespace) -> int:
    from .options import database_require

    database_require()
    from api.v1.reports.ai_code import AiCodeParams, AiCodeReportSerializer, ai_code_answer

    from .analysis import _filter_errors, project_key

    tz = args.timezone or local_zone()
    zone_checked(tz)
    since, until = args.since or date.min, args.until or date.max
    if since > until:
        raise CommandError(f"--since {since} is after --until {until}")
    params = {"since": since.isoformat(), "until": until.isoformat(), "tz": tz, "group": PERIODS[args.period], "lines_by": args.lines_by,
              "start_of_week": args.start_of_week}  # fmt: skip
    if args.platform:
        params["platform"] = args.platform
    if args.project:
        params["project"] = project_key(args.project)
    found = AiCodeParams(data=params)
    if not found.is_valid():
        raise _filter_errors(found.errors)
    # Beside the checked parameters: the API refuses a blank user, which here is this install's own.
    report = AiCodeReportSerializer(ai_code_answer({**found.validated_data, **people(args)})).data
    if args.json:
        from .output import json_print

        json_print(report)
        return 0
    _print(report, args)
    return 0


def _print(report: dict, args: argparse.Namespace) -> None:
    from .output import table

    span = report["span"]
    days = "everything" if not (args.since or args.until) else f"{span['since']} .. {span['until']}"
    print(f"AI-authored code (Cursor's tracking), {days} ({span['tz']})")
    commits, lines = report["commits"], report["lines"]
    if not commits["rows"] and not lines["rows"]:
        print("no AI-authored code recorded in this period (only Cursor records it)")
        return
    group = commits["group"]
    shown = [{**r, "period": r[group], "share": _share(r["ai_share"])} for r in commits["rows"]]
    if shown:
        print()
        table(
            shown,
            [
                ("period", group, "text"),
                ("commits", "commits", "int"),
                ("lines_added", "+lines", "int"),
                ("lines_deleted", "-lines", "int"),
                ("tab_lines_added", "+tab", "int"),
                ("composer_lines_added", "+composer", "int"),
                ("human_lines_added", "+human", "int"),
                ("share", "AI share", "text"),
            ],
            title="Scored commits (each once, whatever the branches)",
            total={**commits["totals"], "period": "total", "share": _share(commits["totals"]["ai_share"])},
        )
    if lines["rows"]:
        by = lines["group"]
        rows = [{**r, by: (r.get(by) or "(unknown)") if by != "extension" else (r[by] or "(none)")}
                for r in lines["rows"]]  # fmt: skip
        print()
        table(
            rows,
            [(by, by, "text"), ("lines", "AI lines", "int"), ("sessions", "sessions", "int")],
            title=f"AI-generated code Cursor recorded, by {by}",
            total={by: "total", "lines": lines["total"]},
        )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def register(reports: argparse._SubParsersAction) -> None:
    help = "AI-authored code (Cursor): scored commits, AI vs human lines, AI lines by source"
    p = reports.add_parser("ai", help=help, description=help)
    p.add_argument(
        "-s", "--since", type=ccusage_day, help="first day, YYYYMMDD or YYYY-MM-DD (default: the first)"
    )
    p.add_argument("-u", "--until", type=ccusage_day, help="last day, inclusive (default: the last)")
    p.add_argument("-z", "--timezone", help="IANA time zone of the days (default: this machine's)")
    p.add_argument("--period", choices=tuple(PERIODS), default="daily", help="commits per day, week or month")
    p.add_argument("-w", "--start-of-week", default="monday",
                   choices=("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                   help="--period weekly: the day weeks start on (default: monday)")  # fmt: skip
    p.add_argument("--lines-by", choices=LINES_BY, default="source", help="AI lines per (default: source)")
    p.add_argument("--project", help="only AI lines of this project: its key or (folder) name")
    # Commits have no session, so neither user nor machine: these filter the lines, as --project does.
    p.add_argument("--user", help="only AI lines of this user's sessions (exact)")
    p.add_argument("--machine", help="only AI lines of this machine's sessions (exact)")
    platform_option(p, help="only this platform (only cursor tracks AI lines)")
    p.add_argument("-j", "--json", action="store_true", help="print the API's JSON (GET /api/v1/ai-code/)")
    p.set_defaults(handler=cmd_ai)

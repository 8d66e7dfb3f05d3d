"""`report daily|weekly|monthly|session|blocks`: ccusage's reports, with its options and its --json shapes
(blocks in blocks.py).

On a SQLite store (the default) a report reads the rollups with the standard library's sqlite3
(telemetry/selectors/ccusage_readonly.py): no Django, no Celery, so it answers before Django could have
started. A PostgreSQL store (BLUEPLANE_DATABASE_URL=postgres://...) is read through the ORM's selectors
(ccusage.py); both build the answer with ccusage_shapes.py, so they cannot disagree.
"""

import argparse
import os
import re
from contextlib import closing
from datetime import date

from . import ai_code, blocks, ledger
from .options import (
    CommandError,
    ccusage_day,
    local_zone,
    people,
    people_options,
    platform_option,
    zone_checked,
)

PERIODS = {"daily": "day", "weekly": "week", "monthly": "month", "session": "session"}
# As spans.WEEKDAYS, which argparse needs before anything but the standard library is imported.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# ccusage flags that scripts pass and that mean nothing here: (flags, takes a value).
IGNORED = [(("-O", "--offline"), False), (("--no-offline",), False), (("--compact",), False),
           (("--all",), False), (("--single-thread",), False), (("--debug",), False),
           (("--mode",), True), (("--debug-samples",), True), (("--config",), True)]  # fmt: skip


def ccusage_options(p: argparse.ArgumentParser) -> None:
    """The options every ccusage report takes, as ccusage spells them."""
    p.add_argument(
        "-s", "--since", type=ccusage_day, help="first day, YYYYMMDD or YYYY-MM-DD (default: the first)"
    )
    p.add_argument("-u", "--until", type=ccusage_day, help="last day, inclusive (default: the last)")
    p.add_argument("-z", "--timezone", help="IANA time zone of the days (default: this machine's)")
    p.add_argument("--project", help="only this project: its key or its (folder) name")
    platform_option(p, help="only this platform (ccusage reads claude-code alone)")
    people_options(p)
    p.add_argument("-b", "--breakdown", action="store_true", help="a row per model under each row")
    p.add_argument(
        "-o",
        "--order",
        choices=("asc", "desc"),
        help="asc: oldest first (sessions: cheapest); desc: newest (sessions: dearest)",
    )
    p.add_argument("-j", "--json", action="store_true", help="print ccusage's JSON instead of a table")
    p.add_argument("--color", action="store_true", help="accepted for ccusage's sake (colour is automatic)")
    p.add_argument("--no-color", action="store_true", help="no colour (as NO_COLOR=1)")
    for flags, takes_value in IGNORED:
        p.add_argument(*flags, action="store" if takes_value else "store_true", help=argparse.SUPPRESS)


def cmd_report(args: argparse.Namespace) -> int:
    from telemetry.selectors.ccusage_shapes import DEFAULT_ORDER
    from telemetry.selectors.spans import LocalDays

    period = PERIODS[args.report]
    tz = args.timezone or local_zone()
    zone_checked(tz)
    days = LocalDays(args.since or date.min, args.until or date.max, tz)
    if days.since > days.until:
        raise CommandError(f"--since {days.since} is after --until {days.until}")
    query = {"platform": args.platform, "project": args.project, **people(args),
             "order": args.order or DEFAULT_ORDER[period]}  # fmt: skip
    if period == "session":
        query.update(start=days.start, end=days.end, limit=None)
    else:
        query.update(start=days.since, end=days.until, tz=tz, period=period,
                     week_starts=WEEKDAYS.index(args.start_of_week))  # fmt: skip
    report = _read(period, query)
    if args.json:
        from .output import json_print

        json_print(report)
        return 0
    if args.no_color:
        os.environ["NO_COLOR"] = "1"
    span = _span(args.since, args.until) + (f" on {args.platform}" if args.platform else "")
    _print(report, period=period, span=span, tz=tz, breakdown=args.breakdown)
    return 0


def _read(period: str, query: dict) -> dict:
    """The report from the store: read-only with sqlite3 when it is SQLite, else through Django."""
    import sqlite3

    from telemetry.selectors import readonly
    from telemetry.selectors.readonly import StoreUnavailable, connect, database_path

    try:
        database_path()
    except StoreUnavailable:
        return _read_orm(period, query)  # PostgreSQL
    from telemetry.selectors import ccusage_readonly

    try:
        db = connect(table="rollup_usage_hour")
    except StoreUnavailable as exc:
        raise CommandError(str(exc)) from None
    with closing(db):
        try:
            if query["project"] and not readonly.project_known(db, query["project"]):
                raise CommandError(_unknown_project(query["project"]), exit_code=2)
            if period == "session":
                return ccusage_readonly.ccusage_sessions(db, **query)
            return ccusage_readonly.ccusage_periods(db, **query)
        except sqlite3.Error as exc:  # locked past the wait, or a store of another version
            raise CommandError(f"the database cannot be read: {exc}") from None


def _read_orm(period: str, query: dict) -> dict:
    from .options import database_require

    database_require()
    from telemetry.selectors import ccusage
    from telemetry.selectors.sessions import projects_named

    if query["project"] and not projects_named(query["project"]).exists():
        raise CommandError(_unknown_project(query["project"]), exit_code=2)
    if period == "session":
        return ccusage.ccusage_sessions(**query)
    return ccusage.ccusage_periods(**query)


_HEADINGS = {"day": "Date", "week": "Week", "month": "Month", "session": "Session"}
_NUMBERS = [("inputTokens", "Input", "int"), ("outputTokens", "Output", "int"),
            ("cacheCreationTokens", "Cache create", "int"), ("cacheReadTokens", "Cache read", "int"),
            ("totalTokens", "Total tokens", "int"), ("totalCost", "Cost (USD)", "usd")]  # fmt: skip


def _span(since: date | None, until: date | None) -> str:
    if since and until:
        return f"{since} .. {until}"
    return f"from {since}" if since else f"until {until}" if until else "everything"


def _print(report: dict, *, period: str, span: str, breakdown: bool, tz: str) -> None:
    """The report as a table with a totals row; a daily one with a bar of each day's cost. With more than
    one platform, a row per platform under each period and in the totals; with responses whose tokens
    Cursor did not record, a column counting them, and "missing" for sums no response recorded."""
    from .output import bar, table

    rows = report[next(iter(report))]
    what = {"day": "Daily", "week": "Weekly", "month": "Monthly", "session": "Session"}[period]
    print(f"{what} usage, {span} ({tz})")
    if not rows:
        print("no usage recorded in this period")
        return
    columns = [("period", _HEADINGS[period], "text"), ("models", "Models", "text"), *_NUMBERS]
    totals = report["totals"]
    if "responsesWithoutTokens" in totals:
        columns.append(("responsesWithoutTokens", "No tokens", "int"))
    if period == "session":
        columns.append(("last", "Last activity", "text"))
    top = max(row["totalCost"] or 0 for row in rows)
    if period == "day":
        columns.append(("chart", "", "text"))
    shown = []
    for row in rows:
        last = (row["metadata"].get("lastActivity") or "")[:16].replace("T", " ")
        models = ", ".join(map(_model_short, row["modelsUsed"]))
        if period == "session" and row["agent"] != "claude":
            models = f"[{row['agent']}] {models}"
        shown.append({**_missing(row), "models": models, "last": last,
                      "chart": bar(float(row["totalCost"] or 0), float(top))})  # fmt: skip
        shown.extend(_platform_rows(row))
        if breakdown:
            shown.extend(map(_model_row, row["modelBreakdowns"]))
    total = {**_missing(totals), "period": "Total", "models": "", "last": "", "chart": ""}
    table(shown, columns, total=total)
    if period == "session" and "platforms" in totals:
        table(_platform_rows(totals), columns, title="Total per platform")
    if totals.get("responsesWithoutTokens"):
        print(
            f"{totals['responsesWithoutTokens']:,} responses without token counts (Cursor did not record "
            "them): not in the sums; 'missing' where no response of a row has them"
        )
    if note := _sources_note(report.get("sources")):
        print(note)


def _sources_note(sources: dict | None) -> str | None:
    """The line saying the report holds calls only OpenTelemetry saw, or calls whose readings disagree."""
    from telemetry.selectors.ccusage_shapes import sources_note

    if not sources:
        return None
    otel, conflict = sources.get("otel", {}), sources.get("conflict", {})
    return sources_note(otel_calls=otel.get("messages", 0), otel_cost=otel.get("totalCost") or 0,
                        conflicts=conflict.get("messages", 0))  # fmt: skip


def _missing(row: dict) -> dict:
    """A row whose sums no response recorded says "missing" in their place (never 0)."""
    return {**row, **{k: "missing" for k, v in row.items() if v is None and k != "metadata"}}


def _platform_rows(row: dict) -> list[dict]:
    """Rows of a period's (or the totals') usage per platform, when there is more than one."""
    return [
        {**_missing(sums), "period": "", "models": f"└ {name}", "last": "", "chart": ""}
        for name, sums in row.get("platforms", {}).items()
    ]


def _model_row(m: dict) -> dict:
    """A row of --breakdown: one model's share of the row above."""
    kinds = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
    tokens = None if m["inputTokens"] is None else sum(m[k] for k in kinds)
    return {**_missing({**m, "totalCost": m["cost"], "totalTokens": tokens}), "period": "",
            "models": f"└ {_model_short(m['modelName'])}", "last": "", "chart": ""}  # fmt: skip


def _model_short(name: str) -> str:
    """claude-sonnet-4-5-20250929 as ccusage shows it: sonnet-4-5."""
    name = name.removeprefix("claude-")
    return re.sub(r"-\d{8}$", "", name)


def _unknown_project(project: str) -> str:
    return f"no project {project[:80]!r} (`blueplane projects` lists them; a key or a folder name)"


def register(sub: argparse._SubParsersAction) -> None:
    help = "usage reports as ccusage makes them (daily, weekly, monthly, session, blocks), and ai"
    p = sub.add_parser("report", help=help, description=help)
    reports = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    for name, what in (("daily", "day"), ("weekly", "week"), ("monthly", "month"), ("session", "session")):
        help = f"tokens and cost per {what}, as `ccusage {name}`"
        r = reports.add_parser(name, help=help, description=help)
        ccusage_options(r)
        if name == "weekly":
            r.add_argument("-w", "--start-of-week", choices=WEEKDAYS, default="monday",
                           help="the day weeks start on (default: monday, as ccusage 20's weekly)")  # fmt: skip
        else:
            r.set_defaults(start_of_week="monday")
        r.set_defaults(handler=cmd_report)
    blocks.register(reports)
    ai_code.register(reports)
    ledger.register(reports)

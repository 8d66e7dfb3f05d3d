"""Reports: `usage` (tokens and cost per model, project, day or session); `tools` is in analysis.py."""

import argparse

from .options import Span, database_require, positive, rows_wanted, span_options
from .output import report_head, table

_USAGE_COLUMNS = [
    ("messages", "messages", "int"),
    ("input_tokens", "input", "int"),
    ("output_tokens", "output", "int"),
    ("cache_write_tokens", "cache write", "int"),
    ("cache_read_tokens", "cache read", "int"),
    ("cost_usd", "cost USD", "usd"),
]


def cmd_usage(args: argparse.Namespace) -> int:
    database_require()
    from telemetry.processing.pricing import price_table_load
    from telemetry.selectors import sessions, usage

    span = Span(args)
    if args.by == "session":
        rows = sessions.session_usage_list(start=span.start, end=span.end, limit=rows_wanted(args.limit))
        columns = [("session_id", "session", "text"), ("project", "project", "text"),
                   ("started", "started", "text"), *_USAGE_COLUMNS]  # fmt: skip
        shown = [
            {**r, "started": r["started_at"].astimezone(span.zone).strftime("%Y-%m-%d %H:%M")}
            if r["started_at"]
            else r
            for r in rows
        ]
    else:
        rows = usage.usage_report(start=span.since, end=span.until, tz=span.tz, by=args.by)
        columns = [(args.by, args.by, "text"), *_USAGE_COLUMNS]
        shown = _names_unique(rows) if args.by == "project" else rows
    if not report_head(rows=rows, as_json=args.json, heading=f"Usage {span}, by {args.by}", what="usage"):
        return 0
    total = usage.usage_totals_empty()
    for row in rows:
        usage.usage_totals_add(total, row)
    table(shown, columns, total={columns[0][0]: "total", **total})
    print(f"prices: {price_table_load().version}")
    return 0


def _names_unique(rows: list[dict]) -> list[dict]:
    """Project rows for a table: two projects with the same folder name get their key's start added."""
    seen: dict[str, int] = {}
    for row in rows:
        seen[row["project"]] = seen.get(row["project"], 0) + 1
    return [
        {**r, "project": f"{r['project']} ({r['project_key'][:8]})"} if seen[r["project"]] > 1 else r
        for r in rows
    ]


def register(sub: argparse._SubParsersAction) -> None:
    help = "tokens and cost per model, project, day or session"
    p = sub.add_parser("usage", help=help, description=help)
    p.add_argument(
        "--by",
        choices=("model", "project", "day", "session"),
        default="model",
        help="how to group (default: model)",
    )
    p.add_argument("--limit", type=positive, default=50, help="sessions to list with --by session")
    span_options(p)
    p.set_defaults(handler=cmd_usage)

"""Reports: `usage` (tokens and cost per model, project, platform, source, day or session); `tools` is in
analysis.py. A table whose span holds API calls only OpenTelemetry saw, or calls whose transcript and OTel
readings disagree, says so in a line under it (`report ledger` has the details)."""

import argparse

from .options import (
    Span,
    database_require,
    people,
    people_options,
    platform_option,
    positive,
    rows_wanted,
    span_options,
)
from .output import report_head, table

_USAGE_COLUMNS = [
    ("messages", "messages", "int"),
    ("input_tokens", "input", "int"),
    ("output_tokens", "output", "int"),
    ("cache_write_tokens", "cache write", "int"),
    ("cache_read_tokens", "cache read", "int"),
    ("cost_usd", "cost USD", "usd"),
]
_WITHOUT = ("responses_without_tokens", "no tokens", "int")
_TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")


def tokens_shown(row: dict) -> dict:
    """A usage row for a table: tokens and cost the assistant did not record say so (never 0)."""
    return {**row, **{k: "missing" for k in _TOKENS if k in row and row[k] is None}}


def cmd_usage(args: argparse.Namespace) -> int:
    database_require()
    from telemetry.processing.pricing import price_table_load
    from telemetry.selectors import provenance, sessions, usage
    from telemetry.selectors.ccusage_shapes import sources_note

    span = Span(args)
    where = {"platform": args.platform, **people(args)}
    if args.by == "session":
        rows = sessions.session_usage_list(
            start=span.start, end=span.end, limit=rows_wanted(args.limit), **where
        )
        columns = [("session_id", "session", "text"), ("platform", "platform", "text"),
                   ("project", "project", "text"), *_people_columns(rows), ("started", "started", "text"),
                   *_USAGE_COLUMNS]  # fmt: skip
        shown = [
            {**r, "started": r["started_at"].astimezone(span.zone).strftime("%Y-%m-%d %H:%M")}
            if r["started_at"]
            else r
            for r in rows
        ]
    else:
        rows = usage.usage_report(start=span.since, end=span.until, tz=span.tz, by=args.by, **where)
        columns = [(args.by, args.by, "text"), *_USAGE_COLUMNS]
        shown = _names_unique(rows) if args.by == "project" else rows
        if args.by in ("user", "machine"):  # "": events captured here, not forwarded (docs/team.md)
            shown = [{**r, args.by: r[args.by] or "(this install)"} for r in shown]
        if any("platforms" in r for r in rows):  # more than one platform: a row per platform under a day
            shown = [s for r in shown for s in (r, *_platform_rows(r, args.by))]
    on = f" on {args.platform}" if args.platform else ""
    heading = f"Usage {span}{on}, by {args.by}"
    if not report_head(rows=rows, as_json=args.json, heading=heading, what="usage"):
        return 0
    total = usage.usage_totals(rows)
    if total["responses_without_tokens"]:
        columns.append(_WITHOUT)
    table(map(tokens_shown, shown), columns, total=tokens_shown({columns[0][0]: "total", **total}))
    if total["responses_without_tokens"]:
        print(
            f"{total['responses_without_tokens']:,} responses without token counts (Cursor did not record "
            "them): not in the sums; 'missing' where no response of a row has them"
        )
    if args.by != "session" and (sources := provenance.span_sources(start=span.start, end=span.end, **where)):
        otel, conflict = sources.get("otel", {}), sources.get("conflict", {})
        note = sources_note(otel_calls=otel.get("messages", 0), otel_cost=otel.get("cost_usd") or 0,
                            conflicts=conflict.get("messages", 0))  # fmt: skip
        if note:
            print(note)
    print(f"prices: {price_table_load().version}")
    return 0


def _people_columns(rows: list[dict]) -> list[tuple[str, str, str]]:
    """The user and machine columns, when any row has one (a one-person install shows none)."""
    return [(k, k, "text") for k in ("user", "machine") if any(r.get(k) for r in rows)]


def _platform_rows(row: dict, by: str) -> list[dict]:
    return [{**totals, by: f"  └ {name}"} for name, totals in row["platforms"].items()]


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
    help = "tokens and cost per model, project, platform, source (transcript, OTel, both, conflict), day or session"
    p = sub.add_parser("usage", help=help, description=help)
    p.add_argument(
        "--by",
        choices=("model", "project", "platform", "source", "user", "machine", "day", "session"),
        default="model",
        help="how to group (default: model)",
    )
    platform_option(p)
    people_options(p)
    p.add_argument("--limit", type=positive, default=50, help="sessions to list with --by session")
    span_options(p)
    p.set_defaults(handler=cmd_usage)

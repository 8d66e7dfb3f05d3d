"""`report ledger`: Claude Code's usage with the provenance of every number (transcript, OpenTelemetry,
both agreeing, or a conflict), OTel's own figures beside the ledger's, the conflicts with both readings,
how the sources' join keys matched, the figures only OTel has, and possible loss. The same selector as
GET /api/v1/ledger/ and the MCP tool `ledger`; `--json` prints the API's answer."""

import argparse

from .options import database_require, people, people_options, span_options

NO_OTEL = (
    "no OpenTelemetry data in this period: every number comes from transcripts and hooks "
    "(`blueplane install claude-code --otel` turns Claude Code's export on)"
)
_TOKENS = [("input_tokens", "input", "int"), ("output_tokens", "output", "int"),
           ("cache_write_tokens", "cache write", "int"), ("cache_read_tokens", "cache read", "int"),
           ("cost_usd", "cost USD", "usd")]  # fmt: skip
_SOURCE_NAMES = {"both": "both (agree)", "transcript": "transcript only", "otel": "OTel only",
                 "conflict": "conflict"}  # fmt: skip


def cmd_ledger(args: argparse.Namespace) -> int:
    database_require()
    from api.v1.reports.ledger import LedgerSerializer, ledger_answer
    from telemetry.selectors.spans import LocalDays

    from .analysis import project_key
    from .options import Span
    from .output import json_print

    span = Span(args)
    key = project_key(args.project)
    values = {"local_days": LocalDays(span.since, span.until, span.tz), "project": key, **people(args)}
    answer = ledger_answer(values)
    if args.json:
        json_print(LedgerSerializer(answer).data)
        return 0
    shown = {"project": args.project, **people(args)}  # a user or machine "" is this install's own
    on = "".join(f", {k} {v or '(this install)'}" for k, v in shown.items() if v is not None)
    print(f"Ledger of Claude Code's usage {span}{on}")
    if not answer["otel"]:
        print(NO_OTEL)
        return 0
    _print(answer, span=span)
    return 0


def _print(a: dict, *, span) -> None:
    from .output import table

    usage = [{**r, "source": _SOURCE_NAMES.get(r["source"], r["source"])} for r in a["usage"]]
    total = {"model": "total", "source": "", "messages": 0, **dict.fromkeys([k for k, _, _ in _TOKENS], 0)}
    for r in a["usage"]:
        for k in ("messages", *(k for k, _, _ in _TOKENS)):
            total[k] += r[k]
    table(usage, [("model", "model", "text"), ("source", "source", "text"), ("messages", "calls", "int"), *_TOKENS],
          title="Usage by model and source (each API call counted once)", total=total)  # fmt: skip
    sources = [{"source": _SOURCE_NAMES.get(s, s), **t} for s, t in a["sources"].items()]
    table(sources, [("source", "source", "text"), ("messages", "calls", "int"), *_TOKENS], title="By source")
    compared = []
    for c in a["compared"]:
        for name, figures in (("ledger (calls OTel saw)", c["ledger"]), ("OTel api_request events", c["events"]),
                              ("  difference", c["events_difference"]), ("OTel token/cost metrics", c["metrics"]),
                              ("  difference", c["metrics_difference"])):  # fmt: skip
            if figures is not None:  # six places: Claude Code's price and ours differ in the last ones
                compared.append(
                    {"model": c["model"], "what": name, **figures, "cost_usd": f"{figures['cost_usd']:,.6f}"}
                )
    if compared:
        table(compared, [("model", "model", "text"), ("what", "reading", "text"), ("calls", "calls", "int"),
                         *_TOKENS], title="OpenTelemetry's own figures beside the ledger's")  # fmt: skip
    if a["conflicts"]:
        rows = []
        for c in a["conflicts"]:
            at = c["timestamp"].astimezone(span.zone).strftime("%Y-%m-%d %H:%M:%S")
            rows.append({"request_id": c["request_id"], "at": at, "model": c["model"], "reading": "transcript",
                         **c["transcript"]})  # fmt: skip
            rows.append({"request_id": "", "at": "", "model": "", "reading": "OTel", **c["otel"]})
        table(rows, [("request_id", "request", "text"), ("at", "at", "text"), ("model", "model", "text"),
                     ("reading", "reading", "text"), *_TOKENS[:4], ("cost_usd", "OTel cost USD", "usd")],
              title=f"Conflicts: {a['conflicts_total']:,} calls whose tokens disagree (the transcript's count)")  # fmt: skip
    j = a["joins"]
    calls, prompts = j["tool_calls"], j["prompts"]
    print()
    print("Join coverage")
    print(
        "  API calls (request_id): "
        + ", ".join(f"{_SOURCE_NAMES[s]} {n:,}" for s, n in j["requests"].items())
    )
    print(
        f"  tool calls (tool_use_id): {calls['total']:,}; in OTel {calls['in_otel']:,} (with hooks "
        f"{calls['otel_and_hooks']:,}, OTel only {calls['otel_only']:,}), not in OTel {calls['not_in_otel']:,}"
    )
    print(
        f"  prompts (prompt.id): {prompts['total']:,}; in OTel {prompts['in_otel']:,}, in hooks "
        f"{prompts['in_hooks']:,}, in transcripts {prompts['in_transcript']:,}, OTel only {prompts['otel_only']:,}"
    )
    gaps = j["otel_gaps"]
    if gaps["records"]:
        print(
            f"  possible loss: {gaps['records']:,} OTel records missing (event.sequence gaps) in "
            f"{gaps['sessions']:,} sessions"
        )
    else:
        print("  possible loss: none seen (no event.sequence gaps)")
    _activity(a["activity"])


def _activity(act: dict) -> None:
    from .output import cell, table

    print()
    print("What OpenTelemetry measures, beside Blueplane's own")
    if act["otel"]:
        print(
            f"  active time: Claude Code {cell(act['otel_active_seconds'], 'int')} s, Blueplane "
            f"{act['active_seconds']:,} s (gaps under the idle limit)"
        )
        print(
            f"  lines of code: OTel +{act['otel_lines_added']:,} -{act['otel_lines_removed']:,}, Blueplane "
            f"+{act['lines_added']:,} -{act['lines_removed']:,}"
        )
        print(
            f"  edit decisions: OTel {act['otel_edit_accepts']:,} accepted, {act['otel_edit_rejects']:,} "
            f"rejected; Blueplane {act['edits_accepted']:,} accepted, {act['edits_rejected']:,} rejected"
        )
    else:
        print(
            "  no OTel metrics in this period (active time, lines and edit decisions are Blueplane's alone)"
        )
    print(f"  API errors {act['api_errors']:,}, retries {act['api_retries']:,}")
    if act["tool_decisions"]:
        table(act["tool_decisions"], [("tool_name", "tool", "text"), ("decision", "decision", "text"),
                                      ("decision_source", "decided by", "text"), ("calls", "calls", "int")],
              title="Tool decisions")  # fmt: skip


def register(reports: argparse._SubParsersAction) -> None:
    help = "where each usage number came from: transcript, OpenTelemetry, both, or a conflict"
    p = reports.add_parser("ledger", help=help, description=help)
    p.add_argument("--project", help="only this project: its key, or its (folder) name")
    people_options(p)
    span_options(p)
    p.set_defaults(handler=cmd_ledger)

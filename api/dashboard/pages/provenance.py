"""Where the dashboard's numbers come from, for its pages (telemetry.selectors.provenance): the overview's
"Where the numbers come from" and "OpenTelemetry" cards, a session's OTel figures beside Blueplane's, and
the tools page's decisions by tool (docs/metrics.md, "one ledger with provenance").

Each function returns None when there is nothing OpenTelemetry saw to show (or the page is of Cursor
alone, which has no OTel export): a page then hides the card, so a figure only OTel gives is never a 0."""

from decimal import Decimal

from telemetry.selectors import provenance
from telemetry.selectors.session_provenance import session_provenance
from telemetry.selectors.spans import LocalDays

from ..filters import PageFilters
from .usage_charts import TOKEN_KINDS

PLATFORM = provenance.PLATFORM


def _otel_platform(filters: PageFilters) -> bool:
    """Whether the page's platform filter admits Claude Code's OTel (all platforms, or Claude Code)."""
    return filters.platform in ("", PLATFORM)


def _money(value: Decimal | str | None) -> str | None:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # a sum of metric points carries 15 places of zeros
    return None if value is None else str(value)


def _seconds(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _usage(row: dict) -> dict:
    """A ledger's usage sum (messages, tokens by kind, cost) as figures carry it."""
    return {
        "messages": row["messages"],
        **{k: row[k] for k in TOKEN_KINDS},
        "tokens": sum(row[k] for k in TOKEN_KINDS),
        "cost_usd": _money(row["cost_usd"]),
    }


def _count(value: object) -> int | None:
    """A token count as a source gave it; None (shown "—") for one that is not a whole number."""
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError, OverflowError):
        return None


def reading(values: dict | None) -> dict | None:
    """One source's reading of an API call (tokens by kind, their sum, cost when it has one); None when
    the source gave none. A count that is not a number is None, and left out of the sum."""
    if not isinstance(values, dict) or not values:
        return None
    tokens = {k: _count(values.get(k)) for k in TOKEN_KINDS}
    cost = values.get("cost_usd")
    return {
        **tokens,
        "tokens": sum(n for n in tokens.values() if n is not None),
        "cost_usd": None if cost in (None, "") else str(cost)[:40],
    }


def _conflict(c: provenance.Conflict) -> dict:
    return {
        "session_id": c["session_id"],
        "request_id": c["request_id"],
        "model": c["model"],
        "at": c["timestamp"].isoformat() if c["timestamp"] else None,
        "transcript": reading(c["transcript"]),
        "otel": reading(c["otel"]),
    }


def _reported(rows: list[provenance.OtelReported]) -> dict:
    """OTel's own usage figures summed over models, each way it reports them (None: never reported):
    its api_request events (calls, tokens, Claude Code's cost) and its token and cost metrics."""
    out: dict[str, dict | None] = {"events": None, "metrics": None}
    for row in rows:
        for way in out:
            if row[way] is not None:
                acc = out[way] or dict.fromkeys(row[way], 0)
                out[way] = {k: acc[k] + v for k, v in row[way].items()}
    return {
        way: None
        if acc is None
        else {**acc, "tokens": sum(acc[k] for k in TOKEN_KINDS), "cost_usd": _money(acc["cost_usd"])}
        for way, acc in out.items()
    }


def _activity(act: provenance.OtelActivity) -> dict:
    return {
        **{k: v for k, v in act.items() if k not in ("otel_active_seconds", "tool_decisions")},
        "otel_active_seconds": _seconds(act["otel_active_seconds"]),
        "decisions": {
            d: sum(r["calls"] for r in act["tool_decisions"] if r["decision"] == d)
            for d in ("accept", "reject")
        },
    }


def overview_otel(
    filters: PageFilters,
    days: LocalDays,
    project_key: str | None,
    *,
    user: str | None = None,
    machine: str | None = None,
) -> dict | None:
    """The overview's two OTel cards over its days: usage by source with OTel's own figures and the
    conflicts, and the activity only OTel reports beside Blueplane's. None without OTel data in the span,
    or on a page of Cursor alone."""
    if not _otel_platform(filters):
        return None
    where = {
        "start": days.start,
        "end": days.end,
        "project_key": project_key,
        "user": user,
        "machine": machine,
    }
    if not provenance.otel_seen(**where):
        return None
    found = provenance.ledger(**where)
    by_source = provenance.sources_of(found["usage"])
    empty = {"messages": 0, **dict.fromkeys(TOKEN_KINDS, 0), "cost_usd": Decimal(0)}
    total = dict(empty)
    for row in by_source.values():
        total = {k: total[k] + row[k] for k in total}
    return {
        "sources": [{"source": s, **_usage(by_source.get(s, empty))} for s in provenance.SOURCES],
        "total": _usage(total),
        "reported": _reported(found["otel_reported"]),
        "conflicts": [_conflict(c) for c in found["conflicts"]],
        "joins": found["joins"],
        "activity": _activity(found["activity"]),
    }


def session_otel(session: object) -> dict | None:
    """A Claude Code session's OTel figures (Claude Code's own, beside the session's header figures),
    its API calls by source and its disagreeing calls; None when OTel reported nothing of it."""
    if session.platform != PLATFORM:
        return None
    found = session_provenance(session=session)
    if not found["otel"]:
        return None
    return {
        "requests": found["api_calls"],
        "tool_calls_in_otel": found["tool_calls_in_otel"],
        "conflicts": [_conflict(c) for c in found["conflicts"]],
        # None while no OTel metric point named the session: missing, never 0.
        "active_seconds": _seconds(session.otel_active_seconds),
        "lines_added": session.otel_lines_added,
        "lines_removed": session.otel_lines_removed,
        "edit_accepts": session.otel_edit_accepts,
        "edit_rejects": session.otel_edit_rejects,
        "api_retries": session.api_retries,
        "gaps": session.otel_gaps,
    }


def tool_decisions(filters: PageFilters, days: LocalDays, project_key: str | None) -> list[dict] | None:
    """The tools page's decisions by tool, who decided; None when none was reported (or Cursor alone)."""
    if not _otel_platform(filters):
        return None
    found = provenance.tool_decisions(
        start=days.start, end=days.end, project_key=project_key, tool_name=filters.tool or None
    )
    return found or None

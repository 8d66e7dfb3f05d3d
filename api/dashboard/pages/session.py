"""One session's page: its header figures, the newest part of its timeline, tokens and cost per turn,
tools, files touched by extension, errors and sub-agents (telemetry.selectors: sessions, timeline,
session_analysis). Prompt text is never here: derived rows hold a prompt's size only; with content
storage opted in, the text is in the raw event, which only the raw-event view (session_event.py) shows.

The session is named by its id or, as the CLI's `analyze` takes it, a prefix that only it has."""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core import signing

from telemetry.selectors.keyset import value_decode, value_encode
from telemetry.selectors.session_analysis import session_analysis, sessions_by_prefix
from telemetry.selectors.timeline import TIMELINE_KEYS, timeline_page

from ..filters import FilterError, PageFilters
from .provenance import reading, session_otel
from .sessions import session_row

TIMELINE_MAX = 300  # the newest items; earlier ones a page at a time (timeline_earlier)
POSITION_MAX_CHARS = 500  # a real `before` token is under 150
TURNS_MAX = 500  # a chart of more turns than this is unreadable; the totals still count all


def session_resolve(*, session_id: str, platform: str = "") -> object | None:
    """The session with this id, or with this unique prefix (on `platform`, if given); None if there is
    none, or the prefix is ambiguous. A session id two platforms share gives the first by platform."""
    if "\x00" in session_id:
        return None  # no id holds NUL, and PostgreSQL refuses it in a query
    found = sessions_by_prefix(prefix=session_id, platform=platform or None, limit=2)
    if not found or len({s.session_id for s in found}) > 1:
        return None
    return found[0]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _header(s: object) -> dict:
    """The list's row (pages/sessions.py) and what only a session's own page shows."""
    return {
        **session_row(s),
        "parent_session_id": s.parent_session_id,
        "end_reason": s.end_reason,
        "active_seconds": s.active_seconds,
        "responses": s.assistant_messages,
        "tool_failures": s.tool_failures,
        "tool_rejections": s.tool_rejections,
        "tool_interruptions": s.tool_interruptions,
        "api_errors": s.api_errors,
        "compactions": s.compactions,
        "subagent_runs": s.subagent_runs,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cache_write_tokens": s.cache_write_tokens,
        "cache_read_tokens": s.cache_read_tokens,
        "lines_added": s.lines_added,
        "lines_removed": s.lines_removed,
        "data_issues": s.data_issues,
    }


def timeline_item(item: object) -> dict:
    """One timeline row as the page draws it: what it was, its outcome, its numbers (no content)."""
    row = item.row
    out = {"type": item.type, "id": row.pk, "at": _time(item.at)}
    if item.type == "turn":
        out.update(
            kind=row.kind, model=row.model, chars=row.chars, stop_reason=row.stop_reason,
            tokens=row.input_tokens + row.output_tokens + row.cache_write_tokens + row.cache_read_tokens,
            output_tokens=row.output_tokens, cost_usd=_money(row.cost_usd), latency_ms=row.latency_ms,
            agent_id=row.agent_id, tokens_known=row.tokens_known,
            # Where its numbers come from (Claude Code: transcript, otel, both, conflict; "" for Cursor);
            # a conflict carries both readings, the transcript's being the one counted.
            source=row.source,
        )  # fmt: skip
        if row.source == "conflict":
            out["readings"] = {
                "transcript": reading({k: getattr(row, k) for k in ("input_tokens", "output_tokens",
                                      "cache_write_tokens", "cache_read_tokens")}),
                "otel": reading(row.otel_usage),
            }  # fmt: skip
    elif item.type == "tool_call":
        out.update(
            tool_name=row.tool_name, mcp_server=row.mcp_server, status=row.status, error_type=row.error_type,
            duration_ms=row.duration_ms, agent_id=row.agent_id,
            # Claude Code's tool decision (accept/reject), who made it, and its own run time of the call.
            decision=row.decision, decision_source=row.decision_source, otel_duration_ms=row.otel_duration_ms,
        )  # fmt: skip
    else:
        out.update(
            tool_name=row.tool_name, file_extension=row.file_extension, status=row.status,
            lines_added=row.lines_added, lines_removed=row.lines_removed,
        )  # fmt: skip
    return out


def _turn(t: dict) -> dict:
    tokens = t["input_tokens"] + t["output_tokens"] + t["cache_write_tokens"] + t["cache_read_tokens"]
    return {
        "index": t["index"], "prompt_at": _time(t["prompt_at"]), "prompt_chars": t["prompt_chars"],
        "first_at": _time(t["first_at"]), "last_at": _time(t["last_at"]), "responses": t["responses"],
        "tool_calls": t["tool_calls"], "tool_failures": t["tool_failures"], "models": t["models"],
        "input_tokens": t["input_tokens"], "output_tokens": t["output_tokens"],
        "cache_write_tokens": t["cache_write_tokens"], "cache_read_tokens": t["cache_read_tokens"],
        "tokens": tokens, "cost_usd": _money(t["cost_usd"]),
        "responses_without_tokens": t["responses_without_tokens"],
    }  # fmt: skip


def _conversations(rows: list[dict]) -> list[dict]:
    """The session's conversations, oldest first (Cursor's composers; Claude Code's session is one)."""
    return [
        {
            "conversation_id": c["conversation_id"], "title": c["title"], "mode": c["mode"],
            "started_at": _time(c["started_at"]), "last_event_at": _time(c["last_event_at"]),
            "archived": c["archived"], "lines_added": c["lines_added"], "lines_removed": c["lines_removed"],
        }
        for c in rows
    ]  # fmt: skip


def _signer(session: object) -> signing.Signer:
    # Salted with the session: a position is good only for the timeline it came from.
    return signing.Signer(salt=f"dashboard.timeline:{session.platform}:{session.session_id}")


def _position_token(session: object, item: object) -> str:
    return _signer(session).sign_object([value_encode(v) for v in item.position])


def _position_read(session: object, token: str) -> tuple:
    bad = FilterError("before: not a position of this session's timeline (reload the page)")
    if len(token) > POSITION_MAX_CHARS:
        raise bad
    try:
        values = _signer(session).unsign_object(token)
        if not isinstance(values, list) or len(values) != len(TIMELINE_KEYS):
            raise bad
        return tuple(value_decode(k.kind, v) for k, v in zip(TIMELINE_KEYS, values, strict=True))
    except (signing.BadSignature, ValueError, TypeError, OverflowError):
        raise bad from None


def _timeline(session: object, *, before: tuple | None) -> dict:
    """Up to TIMELINE_MAX items before `before` (the newest when None), oldest first, and the token of
    the position before them when there are earlier ones."""
    items, more = timeline_page(session=session, limit=TIMELINE_MAX, after=before, descending=True)
    items = items[::-1]
    return {
        "items": [timeline_item(i) for i in items],
        "before": _position_token(session, items[0]) if more and items else None,
    }


def timeline_earlier(*, session_id: str, platform: str = "", before: str) -> dict | None:
    """The items of the session's timeline before the position `before` (a token a page or an earlier
    call gave), with the token for the ones before those; None for no such session. FilterError for a
    token that is not one."""
    session = session_resolve(session_id=session_id, platform=platform)
    if session is None:
        return None
    return _timeline(session, before=_position_read(session, before))


def figures(filters: PageFilters, *, session_id: str) -> dict | None:
    """The page's figures, or None when no session has this id (or unique prefix)."""
    session = session_resolve(session_id=session_id, platform=filters.platform)
    if session is None:
        return None
    timeline = _timeline(session, before=None)
    analysis = session_analysis(session=session, turns_limit=TURNS_MAX)
    times = lambda rows, *names: [{**r, **{n: _time(r[n]) for n in names}} for r in rows]  # noqa: E731
    return {
        "session_id": session.session_id,
        "session": _header(session),
        "content_stored": settings.CAPTURE_STORE_CONTENT,
        "timeline": timeline["items"],
        "timeline_before": timeline["before"],  # earlier items: timeline_earlier(before=...)
        "conversations": _conversations(analysis["conversations"]),
        "turns": [_turn(t) for t in analysis["turns"]],
        "turns_total": analysis["turns_total"],
        "tools": analysis["tools"],
        "files": analysis["files"],
        "tool_errors": times(analysis["tool_errors"], "first_seen", "last_seen"),
        "tool_errors_total": analysis["tool_errors_total"],
        "api_errors": times(analysis["api_errors"], "at"),
        "api_errors_total": analysis["api_errors_total"],
        "subagents": [
            {**r, "started_at": _time(r["started_at"]), "cost_usd": _money(r["cost_usd"])}
            for r in analysis["subagents"]
        ],
        "subagents_total": analysis["subagents_total"],
        "otel": session_otel(session),  # None: OpenTelemetry reported nothing of this session
    }

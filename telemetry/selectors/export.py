"""Sessions and their derived rows (turns, tool calls, code changes) as flat tables, for export.

Rows come from QuerySet.iterator(chunk_size=...): a database cursor read in chunks, so an export of any
size holds one chunk in memory, never the table. One query per table, its joins included; no raw
event is read. A child row names its session by platform and session id, so the tables join.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from django.db.models import QuerySet

from ..models import CodeChange, ToolCall, Turn
from .sessions import session_list

ColumnKind = Literal["str", "int", "cost", "time", "bool", "json"]

_SESSION = [("platform", "platform", "str"), ("session_id", "session_id", "str")]
_CHILD = [("platform", "session__platform", "str"), ("session_id", "session__session_id", "str")]

# Per table: (column name, ORM path, kind). The order is the order of the columns in every format.
TABLES: dict[str, list[tuple[str, str, ColumnKind]]] = {
    "sessions": [
        *_SESSION,
        ("project", "project__name", "str"), ("project_key", "project__key", "str"),
        # Who and where (docs/team.md): "" for this install's own capture.
        ("user", "user", "str"), ("machine", "machine", "str"),
        ("parent_session_id", "parent_session_id", "str"), ("git_branch", "git_branch", "str"),
        ("models_used", "models_used", "json"), ("status", "status", "str"), ("end_reason", "end_reason", "str"),
        ("started_at", "started_at", "time"), ("last_event_at", "last_event_at", "time"),
        ("ended_at", "ended_at", "time"), ("prompts", "prompts", "int"),
        ("assistant_messages", "assistant_messages", "int"), ("tool_calls", "tool_calls", "int"),
        ("tool_failures", "tool_failures", "int"), ("tool_rejections", "tool_rejections", "int"),
        ("tool_interruptions", "tool_interruptions", "int"), ("api_errors", "api_errors", "int"),
        ("compactions", "compactions", "int"), ("subagent_runs", "subagent_runs", "int"),
        ("input_tokens", "input_tokens", "int"), ("output_tokens", "output_tokens", "int"),
        ("cache_write_tokens", "cache_write_tokens", "int"), ("cache_read_tokens", "cache_read_tokens", "int"),
        ("cost_usd", "cost_usd", "cost"), ("lines_added", "lines_added", "int"),
        ("lines_removed", "lines_removed", "int"), ("active_seconds", "active_seconds", "int"),
        ("data_issues", "data_issues", "int"),
        # Cursor's responses whose tokens it did not record (their tokens are in no sum above).
        ("responses_without_tokens", "responses_without_tokens", "int"),
        # From Claude Code's OpenTelemetry export (docs/metrics.md); the otel_* figures are empty without it,
        # and its active seconds an exact decimal like a cost.
        ("api_retries", "api_retries", "int"), ("otel_gaps", "otel_gaps", "int"),
        ("otel_active_seconds", "otel_active_seconds", "cost"), ("otel_lines_added", "otel_lines_added", "int"),
        ("otel_lines_removed", "otel_lines_removed", "int"), ("otel_edit_accepts", "otel_edit_accepts", "int"),
        ("otel_edit_rejects", "otel_edit_rejects", "int"),
    ],
    "turns": [
        *_CHILD,
        ("conversation_id", "conversation__conversation_id", "str"), ("key", "key", "str"),
        ("kind", "kind", "str"), ("timestamp", "timestamp", "time"), ("model", "model", "str"),
        ("stop_reason", "stop_reason", "str"), ("input_tokens", "input_tokens", "int"),
        ("output_tokens", "output_tokens", "int"), ("cache_write_tokens", "cache_write_tokens", "int"),
        ("cache_write_1h_tokens", "cache_write_1h_tokens", "int"),
        ("cache_read_tokens", "cache_read_tokens", "int"), ("cost_usd", "cost_usd", "cost"),
        ("price_table", "price_table", "str"), ("latency_ms", "latency_ms", "int"), ("chars", "chars", "int"),
        ("lines", "lines", "int"), ("agent_id", "agent_id", "str"), ("detail", "detail", "json"),
        # False: the assistant (Cursor) did not record this response's tokens; its 0s are not counts.
        ("tokens_known", "tokens_known", "bool"),
        # Where the numbers come from (transcript, otel, both, conflict) and OTel's own reading of the call.
        ("request_id", "request_id", "str"), ("source", "source", "str"), ("otel_usage", "otel_usage", "json"),
    ],
    "tool_calls": [
        *_CHILD,
        ("conversation_id", "conversation__conversation_id", "str"), ("tool_use_id", "tool_use_id", "str"),
        ("tool_name", "tool_name", "str"), ("mcp_server", "mcp_server", "str"), ("status", "status", "str"),
        ("error_type", "error_type", "str"), ("error_hash", "error_hash", "str"),
        ("error_text", "error_text", "str"), ("started_at", "started_at", "time"),
        ("finished_at", "finished_at", "time"), ("duration_ms", "duration_ms", "int"),
        ("message_key", "message_key", "str"), ("agent_id", "agent_id", "str"),
        ("seen_in_hooks", "seen_in_hooks", "bool"), ("seen_in_transcript", "seen_in_transcript", "bool"),
        ("seen_in_otel", "seen_in_otel", "bool"), ("decision", "decision", "str"),
        ("decision_source", "decision_source", "str"), ("otel_duration_ms", "otel_duration_ms", "int"),
    ],
    "code_changes": [
        *_CHILD,
        ("key", "key", "str"), ("tool_name", "tool_name", "str"), ("file_extension", "file_extension", "str"),
        ("path_hash", "path_hash", "str"), ("lines_added", "lines_added", "int"),
        ("lines_removed", "lines_removed", "int"), ("status", "status", "str"), ("timestamp", "timestamp", "time"),
    ],
}  # fmt: skip

_MODELS = {"turns": Turn, "tool_calls": ToolCall, "code_changes": CodeChange}
CHUNK_ROWS = 500  # rows a database cursor hands over at a time: ~1 MB of Python objects for turns


def export_sessions(
    *,
    start: datetime,
    end: datetime,
    platform: str | None = None,
    project_key: str | None = None,
    user: str | None = None,
    machine: str | None = None,
) -> QuerySet:
    """The sessions an export over [start, end) holds: those with activity in it (with all their rows,
    also those outside the span)."""
    return session_list(
        start=start,
        end=end,
        platform=platform,
        project_key=project_key,
        user=user,
        machine=machine,
    ).order_by("id")


def export_rows(*, table: str, sessions: QuerySet, chunk_size: int = CHUNK_ROWS) -> Iterator[tuple]:
    """The rows of one table (TABLES[table]'s columns, in order) for the sessions, by primary key, read
    from a cursor chunk_size rows at a time."""
    paths = [path for _, path, _ in TABLES[table]]
    if table == "sessions":
        qs = sessions.values_list(*paths)
    else:
        qs = (
            _MODELS[table]
            .objects.filter(session__in=sessions.values("pk"))
            .order_by("id")
            .values_list(*paths)
        )
    return qs.iterator(chunk_size=chunk_size)

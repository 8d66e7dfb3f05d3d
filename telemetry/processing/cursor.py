"""Cursor events (hook calls and database records, docs/wire-format.md "Cursor events") -> derived facts.

Pure: `cursor_facts` maps one stored envelope to facts (telemetry.processing.facts); nothing here reads
or writes the database. A session is one conversation (composer): the envelope's session_id is its
composerId, which is also a hook's conversation_id. Hooks and database records of the same thing get
the same identity where Cursor gives one, so the merge counts them once:
- a prompt: `prompt:<generation_id>` (beforeSubmitPrompt; a user bubble's request_id; a generation
  record, which gives only the turn's start time and is kind `generation` until its prompt is seen);
  a user bubble without a request id is `bubble:<bubbleId>`;
- an assistant message: each assistant bubble, `bubble:<bubbleId>` (tool-call bubbles count as
  messages, as Cursor's own counts do). The hooks afterAgentResponse and stop name no bubble: they are
  `response:<generation_id>`, and cursor_rows.py joins that row onto the generation's last assistant
  text bubble once the bubble is stored;
- a tool call: its tool_use_id (= the bubble's toolCallId; else `bubble:<bubbleId>`); hooks that carry
  no id (shell, read, MCP, file edit) are `hook:<generation_id>:<target_hash>`, joined by cursor_rows.py
  onto the call of the same generation and target that has an id.

Tokens: a bubble's tokenCount as recorded; a response without one (or {0,0} after Cursor stopped
recording them) has unknown tokens, never zero, unless the generation's stop hook carried tokens. The
bubble keeps its own figures and the stop hook's in `detail`; cursor_rows.py sets the columns from
them, so the join is a function of the stored rows whatever arrived first. Content is never read.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .claude import ts_parse
from .facts import (
    AiCodeFact,
    AiCommitFact,
    ChangeFact,
    ConversationFact,
    Fact,
    IssueFact,
    IssueKind,
    SessionFact,
    ToolFact,
    TurnFact,
)

# Events of Cursor's AI-tracking database that name no conversation use this session id; it is not a
# session, and no Session row is made for it (rows.facts_apply).
AI_TRACKING_SESSION = "cursor-ai-tracking"
# TurnKind.GENERATION: a generation record alone, the start of a turn whose prompt has not been seen
# (yet); no count includes it, and merged with its prompt it becomes a user_prompt (turn_merge keeps the
# larger kind text, and "user_prompt" > "generation").
GENERATION = "generation"

# Hook events that say nothing the derived tables keep (yet); anything else unknown is a DataIssue.
HOOKS_IGNORED = frozenset(
    {
        "afterAgentThought", "subagentStart", "subagentStop", "preCompact", "beforeTabFileRead",
        "afterTabFileEdit", "workspaceOpen",
    }
)  # fmt: skip
# Hooks of one tool call that carry no tool-use id, and the kind of call each reports.
_ID_LESS_HOOKS = {
    "beforeShellExecution": "shell",
    "afterShellExecution": "shell",
    "beforeReadFile": "read",
    "beforeMCPExecution": "mcp",
    "afterMCPExecution": "mcp",
    "afterFileEdit": "edit",
}
# The database's names for calls a hook reports without naming them (so a hooks-only call is counted
# under the same tool as one Cursor recorded).
_KIND_NAMES = {"shell": "run_terminal_cmd", "read": "read_file", "edit": "edit_file", "mcp": "mcp"}
# toolFormerData.status -> ToolCall status; anything else (loading, ...) is still pending.
_DB_STATUS = {"completed": "success", "error": "failure", "cancelled": "interrupted"}
_DURATION_MAX_MS = 365 * 24 * 3600 * 1000
_MS_MIN, _MS_MAX = 0, 253_402_300_799_999  # what datetime can hold


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _ms_time(value: Any) -> datetime | None:
    if type(value) is not int or not _MS_MIN <= value <= _MS_MAX:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _chars(value: Any) -> int | None:
    """Characters of a text as stored: a filtered {chars, ...}, or the text itself (content kept)."""
    if isinstance(value, dict):
        return _int(value.get("chars"))
    if isinstance(value, str):
        return len(value)
    return None


def _project(metadata: Mapping) -> tuple[str, str] | None:
    project = metadata.get("project")
    if isinstance(project, dict) and isinstance(project.get("hash"), str) and project["hash"]:
        return (project["hash"][:64], _str(project.get("name"))[:255] or project["hash"][:16])
    return None


def _duration_ms(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _DURATION_MAX_MS
        else None
    )


def cursor_facts(*, seq: int, event: Mapping[str, Any]) -> list[Fact]:
    """The facts one stored Cursor envelope states. Never raises on bad input: what it cannot read
    becomes an IssueFact. `seq` names the event, the same for every stored copy of it."""
    session = _str(event.get("session_id"))
    ts = ts_parse(event.get("timestamp"))
    payload = event.get("payload")
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    if not session or ts is None or not isinstance(payload, dict):
        return [
            IssueFact(session or "?", seq, IssueKind.BAD_ENVELOPE, "missing session, timestamp or payload")
        ]
    kind = event.get("event_type")
    source = event.get("source")
    if source == "hook":
        facts = _hook_facts(seq, session, ts, kind, payload, metadata)
    elif source == "database":
        facts = _record_facts(seq, session, ts, kind, payload, metadata, _str(event.get("event_id")))
    else:
        return [IssueFact(session, seq, IssueKind.UNKNOWN_SOURCE, _str(source)[:100])]
    if session == AI_TRACKING_SESSION:
        return facts  # not a session: no session facts
    end_reason = next((f.end_reason for f in facts if isinstance(f, SessionFact) and f.end_reason), "")
    times = [f.ts for f in facts if isinstance(f, SessionFact)]
    facts = [f for f in facts if not isinstance(f, SessionFact)]
    project = _project(metadata)
    facts.append(SessionFact(session, ts, project, end_reason=end_reason))
    facts.extend(SessionFact(session, t, project) for t in times if t != ts)
    return facts


# --- hooks ------------------------------------------------------------------------------------------


def _hook_facts(seq: int, session: str, ts: datetime, kind: Any, p: Mapping, metadata: Mapping) -> list[Fact]:
    generation = _str(p.get("generation_id"))
    model = _str(p.get("model"))[:128]
    if kind == "beforeSubmitPrompt":
        if not generation:
            return [
                IssueFact(session, seq, IssueKind.MISSING_FIELD, "beforeSubmitPrompt without generation_id")
            ]
        return [
            TurnFact(session, f"prompt:{generation}", "user_prompt", ts, chars=_chars(p.get("prompt")),
                     detail={"generation": generation, "sources": ["hook"]})
        ]  # fmt: skip
    if kind in ("afterAgentResponse", "stop"):
        if not generation:
            return [IssueFact(session, seq, IssueKind.MISSING_FIELD, f"{kind} without generation_id")]
        detail: dict = {"generation": generation, "sources": ["hook"]}
        if kind == "stop":
            tokens = {
                "stop_input": _int(p.get("input_tokens")),
                "stop_output": _int(p.get("output_tokens")),
                "stop_cache_read": _int(p.get("cache_read_tokens")),
                "stop_cache_write": _int(p.get("cache_write_tokens")),
            }
            if tokens["stop_input"] is not None or tokens["stop_output"] is not None:
                detail.update({k: v or 0 for k, v in tokens.items()})
        return [
            TurnFact(session, f"response:{generation}", "assistant_response", ts, model=model,
                     detail=detail, tokens_known=False)
        ]  # fmt: skip
    if kind in ("preToolUse", "postToolUse", "postToolUseFailure"):
        return _hook_tool_use(seq, session, ts, kind, p, metadata, generation)
    if kind in _ID_LESS_HOOKS:
        return _hook_tool(seq, session, ts, kind, p, metadata, generation)
    if kind == "sessionStart":
        return []  # the envelope's own session fact is all it says
    if kind == "sessionEnd":
        return [SessionFact(session, ts, end_reason=_str(p.get("reason"))[:64] or "other")]
    if kind in HOOKS_IGNORED:
        return []
    return [IssueFact(session, seq, IssueKind.UNKNOWN_HOOK, _str(kind)[:200])]


def _tool_meta(metadata: Mapping) -> Mapping:
    tool = metadata.get("tool")
    return tool if isinstance(tool, dict) else {}


def _hook_tool_use(
    seq: int, session: str, ts: datetime, kind: str, p: Mapping, metadata: Mapping, generation: str
) -> list[Fact]:
    tool = _tool_meta(metadata)
    tool_id = _str(p.get("tool_use_id")) or _str(tool.get("tool_use_id"))
    if not tool_id:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, f"{kind} without tool_use_id")]
    name = _hook_tool_name(tool, p)
    common = {
        "message_key": f"prompt:{generation}" if generation else "",
        "seen_in_hooks": True,
        "target_hash": _str(tool.get("target_hash"))[:64],
        "mcp_server": _str(tool.get("mcp_server"))[:128],
    }
    if kind == "preToolUse":
        return [ToolFact(session, tool_id, name, started_at=ts, **common)]
    duration = _duration_ms(p.get("duration"))
    started = ts - timedelta(milliseconds=duration) if duration is not None else None
    if kind == "postToolUse":
        status, error = "success", ""
    elif p.get("is_interrupt") is True:
        status, error = "interrupted", "interrupted"
    elif p.get("failure_type") == "permission_denied":
        status, error = "rejected", "permission_denied"
    else:
        status, error = "failure", _str(p.get("failure_type"))[:128] or "error"
    return [ToolFact(session, tool_id, name, started_at=started, finished_at=ts, status=status,
                     error_type=error, **common)]  # fmt: skip


def _hook_tool_name(tool: Mapping, p: Mapping) -> str:
    name = _str(tool.get("name")) or _str(p.get("tool_name"))
    if not name:
        name = _KIND_NAMES.get(_str(tool.get("kind")), "")
    return name[:128]


def _hook_tool(
    seq: int, session: str, ts: datetime, kind: str, p: Mapping, metadata: Mapping, generation: str
) -> list[Fact]:
    tool = _tool_meta(metadata)
    target = _str(tool.get("target_hash"))[:64]
    if not generation or not target:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, f"{kind} without generation_id or target")]
    call_kind = _ID_LESS_HOOKS[kind]
    mcp_server = _str(tool.get("mcp_server"))[:128]
    # Named as Cursor's database names the call (the hook's "Shell", "Read", "Edit" are not), so a call
    # only the hooks saw counts under the same tool; an MCP call as `mcp_<server>_<tool>`.
    name = _KIND_NAMES[call_kind]
    if call_kind == "mcp":
        tool_name = _str(tool.get("name")) or _str(p.get("tool_name"))
        name = "_".join(part for part in ("mcp", mcp_server, tool_name) if part)[:128]
    key = f"hook:{generation}:{target}"
    common = {
        "message_key": f"prompt:{generation}",
        "seen_in_hooks": True,
        "target_hash": target,
        "mcp_server": mcp_server,
    }
    if kind.startswith("before"):
        return [ToolFact(session, key, name, started_at=ts, **common)]
    duration = _duration_ms(p.get("duration"))
    started = ts - timedelta(milliseconds=duration) if duration is not None else None
    facts: list[Fact] = [ToolFact(session, key, name, started_at=started, finished_at=ts, status="success",
                                  **common)]  # fmt: skip
    if kind == "afterFileEdit":
        added = _int(metadata.get("lines_added"))
        removed = _int(metadata.get("lines_removed"))
        if added is None:
            added = _int(tool.get("lines_added"))
        if removed is None:
            removed = _int(tool.get("lines_removed"))
        facts.append(_change(session, key, ts, name, tool, added, removed))
    return facts


def _change(
    session: str, key: str, ts: datetime, name: str, tool: Mapping, added: int | None, removed: int | None
) -> ChangeFact:
    extension = _str(tool.get("file_extension")).lstrip(".").lower()[:32]
    path_hash = _str(tool.get("path_hash"))
    if path_hash.startswith(
        "path:"
    ):  # Privacy.path's `path:<hash><.ext>`: kept as the bare hash, as Claude's
        path_hash = path_hash[5:].split(".", 1)[0]
    return ChangeFact(session, key, ts, name, extension, path_hash[:64], added or 0, removed or 0)


# --- database records -------------------------------------------------------------------------------


def _record_facts(
    seq: int, session: str, ts: datetime, kind: Any, p: Mapping, metadata: Mapping, event_id: str
) -> list[Fact]:
    if kind == "composer":
        return _composer_facts(session, ts, p, event_id, seq)
    if kind == "bubble":
        return _bubble_facts(seq, session, ts, p)
    if kind == "generation":
        generation = _str(p.get("generation_id"))
        if not generation:
            return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "generation without generation_id")]
        return [TurnFact(session, f"prompt:{generation}", GENERATION, ts, detail={"generation": generation})]
    if kind == "scored_commit":
        return _commit_facts(seq, session, ts, p)
    if kind == "ai_code":
        code_hash = _str(p.get("hash"))
        if not code_hash:
            return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "ai_code without hash")]
        owner = "" if session == AI_TRACKING_SESSION else session
        extension = _str(p.get("file_extension")).lstrip(".").lower()[:32]
        return [
            AiCodeFact(code_hash, owner, ts, _str(p.get("source"))[:32], _str(p.get("model"))[:128], extension,
                       _str(p.get("request_id"))[:128])
        ]  # fmt: skip
    return [IssueFact(session, seq, IssueKind.UNKNOWN_RECORD, _str(kind)[:200] or type(kind).__name__)]


def _composer_facts(session: str, ts: datetime, p: Mapping, event_id: str, seq: int) -> list[Fact]:
    updated_ms = _int(p.get("last_updated_at_ms"))
    updated = _ms_time(updated_ms) or ts
    # The revision id is the last part of the event id (cu:db:composer:<id>:<revision>).
    revision_id = event_id.rsplit(":", 1)[-1] if event_id.count(":") >= 4 else str(seq)
    revision = f"{max(updated_ms or 0, 0):015d}:{revision_id}"
    name = p.get("name")
    facts: list[Fact] = [
        ConversationFact(
            session, revision[:64], updated, archived=p.get("archived") is True, mode=_str(p.get("mode"))[:32],
            title=name[:255] if isinstance(name, str) else "", lines_added=_int(p.get("lines_added")),
            lines_removed=_int(p.get("lines_removed")),
        )
    ]  # fmt: skip
    if updated != ts:
        facts.append(SessionFact(session, updated))
    return facts


def _bubble_facts(seq: int, session: str, ts: datetime, p: Mapping) -> list[Fact]:
    bubble = _str(p.get("bubbleId"))
    role = p.get("role")
    if not bubble or role not in ("user", "assistant"):
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "bubble without bubbleId or role")]
    generation = _str(p.get("request_id"))
    detail: dict = {"sources": ["database"]}
    if generation:
        detail["generation"] = generation
    position = _int(p.get("position"))
    if position is not None:
        detail["position"] = position
    if role == "user":
        key = f"prompt:{generation}" if generation else f"bubble:{bubble}"
        return [TurnFact(session, key, "user_prompt", ts, chars=_chars(p.get("text")), detail=detail)]
    tool = p.get("tool") if isinstance(p.get("tool"), dict) else None
    tokens = p.get("tokens")
    known = isinstance(tokens, dict) and p.get("tokens_zero_cutover") is not True
    input_tokens = _int(tokens.get("input")) if known else None
    output_tokens = _int(tokens.get("output")) if known else None
    detail["text"] = 1 if tool is None and (_chars(p.get("text")) or 0) > 0 else 0
    detail["own_tokens"] = 1 if known else 0
    if known:
        detail["own_input"], detail["own_output"] = input_tokens or 0, output_tokens or 0
    key = f"bubble:{bubble}"
    facts: list[Fact] = [
        TurnFact(session, key, "assistant_response", ts, model=_str(p.get("model"))[:128],
                 input_tokens=input_tokens or 0, output_tokens=output_tokens or 0, detail=detail,
                 tokens_known=known)
    ]  # fmt: skip
    if tool is not None:
        facts.extend(_bubble_tool(session, ts, tool, key, generation))
    return facts


def _bubble_tool(session: str, ts: datetime, tool: Mapping, bubble_key: str, generation: str) -> list[Fact]:
    tool_id = _str(tool.get("tool_use_id")) or bubble_key
    name = _str(tool.get("name"))[:128]
    status = _DB_STATUS.get(_str(tool.get("status")), "pending")
    facts: list[Fact] = [
        ToolFact(session, tool_id, name, started_at=ts, status=status,
                 error_type="error" if status == "failure" else "",
                 message_key=f"prompt:{generation}" if generation else "", seen_in_transcript=True,
                 target_hash=_str(tool.get("target_hash"))[:64], mcp_server=_str(tool.get("mcp_server"))[:128])
    ]  # fmt: skip
    if tool.get("kind") == "edit":
        facts.append(
            _change(
                session,
                tool_id,
                ts,
                name,
                tool,
                _int(tool.get("lines_added")),
                _int(tool.get("lines_removed")),
            )
        )
    return facts


def _commit_facts(seq: int, session: str, ts: datetime, p: Mapping) -> list[Fact]:
    commit, branch = _str(p.get("commitHash")), _str(p.get("branchName"))
    if not commit:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "scored_commit without commitHash")]
    names = ("linesAdded", "linesDeleted", "tabLinesAdded", "tabLinesDeleted", "composerLinesAdded",
             "composerLinesDeleted", "humanLinesAdded", "humanLinesDeleted", "blankLinesAdded",
             "blankLinesDeleted")  # fmt: skip
    return [
        AiCommitFact(
            commit[:64], branch[:255], ts, commit_date=_commit_date(p.get("commitDate")),
            counts=tuple(_int(p.get(n)) for n in names), v1_ai_percentage=_percent(p.get("v1AiPercentage")),
            v2_ai_percentage=_percent(p.get("v2AiPercentage")),
        )
    ]  # fmt: skip


def _commit_date(value: Any) -> datetime | None:
    if type(value) is int:
        return _ms_time(value)
    return ts_parse(value)


def _percent(value: Any) -> Decimal | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number.quantize(Decimal("0.01")) if number.is_finite() and 0 <= number <= 1000 else None

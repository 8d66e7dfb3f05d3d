"""Claude Code events (hook calls and transcript records, privacy-filtered) -> derived facts.

Pure: `claude_facts` maps one stored envelope to facts (telemetry.processing.facts); nothing here reads
or writes the database. Hook events and transcript records of the same thing are given the same
identity, so the merge counts them once:
- a prompt: `UserPromptSubmit.prompt_id` = the transcript user record's `promptId`;
- a tool call: `tool_use_id` of Pre/PostToolUse(Failure) = the tool_use block's `id` = the tool_result
  block's `tool_use_id`;
- a compaction: `PreCompact`/`PostCompact.prompt_id` = the compact-summary record's `promptId`;
- a sub-agent run: `SubagentStart/Stop.agent_id` = the Task result's `agentId` = sidechain `agentId`;
- an API call: `:<request id>` (api_call_key; an OTel `api_request` has the same), its lines ranked by
  (has stop_reason, token total, position in file), the order usage.py's dedup keeps.

A fork copies its origin's records into its own file; the copied assistant lines carry
`requestSessionId`, and they (with their tool calls) are attributed to that session, which is also
recorded as the fork's parent. Content is never read: only ids, types, sizes, flags and timestamps.

What the slow path needs from inside tool inputs and results (an edited file's hashed path and line
counts, a sub-agent run's figures, a failed call's verdict) capture reads before filtering and puts
in `metadata` (docs/privacy.md): `file_change`, `edit_paths`, `agent_run`, `tool_outcomes`, marked by
`metadata.facts` = 2. Events stored before that (no `facts`) kept the shape of tool inputs and results
in the payload; claude_legacy.py reads the same facts from there, so both give the same rows.

Events arrive decoded by orjson, so objects are plain dicts: type checks use `dict`, not the Mapping
ABC, whose isinstance costs several times more (a sixth of this module's time, measured).
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import Any

import orjson

from . import claude_legacy as legacy
from .claude_otel import otel_facts
from .facts import ERROR_TEXT_MAX, ChangeFact, Fact, IssueFact, IssueKind, SessionFact, ToolFact, TurnFact
from .pricing import price_table_load
from .usage import SYNTHETIC_MODEL, usage_cost, usage_from_record, usage_key

EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
FACTS_VERSION = 2  # metadata.facts of events whose facts capture put in metadata
SUBAGENT_TOOLS = frozenset({"Task", "Agent"})

# Hook events that say nothing the derived tables keep (yet); anything else unknown is a DataIssue.
HOOKS_IGNORED = frozenset(
    {
        "SessionStart", "Stop", "SubagentStop", "PostToolBatch", "MessageDisplay", "Notification",
        "PermissionRequest", "StopFailure", "InstructionsLoaded", "ConfigChange", "CwdChanged",
        "TaskCreated", "TaskCompleted", "FileChanged", "Setup", "PreModelSwitch", "PostModelSwitch",
        "UserPromptExpansion", "PostCompact", "SubagentStart",
    }
)  # fmt: skip
# Transcript record types that carry nothing derived (yet). Unknown ones are recorded, never fatal.
RECORDS_IGNORED = frozenset(
    {
        "system", "summary", "attachment", "queue-operation", "file-history-snapshot", "file-history-delta",
        "progress", "mode", "permission-mode", "last-prompt", "ai-title", "custom-title", "cost-state",
        "atis-latch", "tools-used", "api-request", "api-request-blob", "api-request-shape", "agent-name",
        "pr-link", "tag",
    }
)  # fmt: skip

# Capture reads a failed tool result's text before the privacy filter drops it and records its
# verdict in `metadata.tool_outcomes` (tool_use_id -> error type); the status each error type means:
_OUTCOME_STATUS = {
    "user_rejected": "rejected",
    "permission_denied": "rejected",
    "interrupted": "interrupted",
    "tool_use_error": "failure",
    "error": "failure",
}


_DURATION_MAX_MS = 365 * 24 * 3600 * 1000


def ts_parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def mcp_server(tool_name: str) -> str:
    """`mcp__<server>__<tool>` -> server; "" for built-in tools."""
    if not tool_name.startswith("mcp__"):
        return ""
    server, _, _tool = tool_name[5:].partition("__")
    return server


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text_size(value: Any) -> tuple[int | None, int | None]:
    """(chars, lines) of a text as stored: a filtered {chars, lines, hash}, or the text itself."""
    if isinstance(value, dict):
        chars, lines = value.get("chars"), value.get("lines")
        return (chars if isinstance(chars, int) else None, lines if isinstance(lines, int) else None)
    if isinstance(value, str):
        return len(value), value.count("\n") + (1 if value and not value.endswith("\n") else 0)
    return None, None


def _prompt_size(content: Any) -> tuple[int | None, int | None]:
    if isinstance(content, list):
        chars = lines = 0
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                c, n = _text_size(block.get("text"))
                chars += c or 0
                lines += n or 0
        return chars, lines
    return _text_size(content)


def _extension(path: Any) -> str:
    """The extension of a path, hashed (`path:<hash>.py`) or not."""
    if not isinstance(path, str):
        return ""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot + 1 :][:32].lower() if 0 < dot < len(base) - 1 else ""


def _path_hash(path: Any) -> str:
    if isinstance(path, str) and path.startswith("path:"):
        return path[5:].split(".", 1)[0][:64]
    return ""


def tool_result_outcome(*, is_error: bool, result: Any, marked: str = "") -> tuple[str, str]:
    """(status, error_type) of a finished tool call: capture's verdict when it gave one, else what the
    structured result says."""
    if marked in _OUTCOME_STATUS:
        return _OUTCOME_STATUS[marked], marked
    if isinstance(result, dict) and result.get("interrupted") is True:
        return "interrupted", "interrupted"
    if not is_error:
        return "success", ""
    return "failure", "error"


_CAPTURE_HASH = re.compile(r"[0-9a-f]{16}")


def error_digest(value: Any) -> tuple[str, str]:
    """(hash, text) of a failed tool call's error as it was stored (a hook's `error`, a tool_result
    block's `content`), so equal errors group together without their text being kept.

    Filtered by capture (the default), the error is {chars, lines, hash} or {bytes, items, hash}: its
    hash is capture's salted one and there is no text. Kept whole (the user opted in to content), the
    hash is an unsalted BLAKE2b-64 of the text (nothing is hidden that the store does not hold anyway)
    and the text's first ERROR_TEXT_MAX characters are kept. ("", "") when there is no error text."""
    if isinstance(value, dict):
        digest = value.get("hash")
        if isinstance(digest, str) and _CAPTURE_HASH.fullmatch(digest):
            return digest, ""
        if "hash" in value:  # a summary whose hash is not capture's: say nothing rather than guess
            return "", ""
        return _digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)), ""
    if isinstance(value, list):  # content blocks, kept: their texts
        texts = [b.get("text") for b in value if isinstance(b, dict) and isinstance(b.get("text"), str)]
        value = "\n".join(texts) if texts else None
    if isinstance(value, str) and value:
        return _digest(value.encode(errors="replace")), value[:ERROR_TEXT_MAX]
    return "", ""


def api_call_key(*, message_id: Any, request_id: Any, record_uuid: Any) -> str | None:
    """The turn key of an API call: `:<request id>` whenever the request id is known, which is what
    every source knows (a transcript line's `requestId`, an OTel `api_request`'s `request_id`), so one
    call seen by several is one row; else usage.usage_key (`<message id>:`, `uuid:<uuid>`). usage.py
    keeps ccusage's own key (message id + request id) for its re-implementation of ccusage."""
    if isinstance(request_id, str) and request_id:
        return f":{request_id}"
    return usage_key(
        message_id=message_id if isinstance(message_id, str) else None, request_id=None,
        record_uuid=record_uuid if isinstance(record_uuid, str) else None,
    )  # fmt: skip


def _digest(data: bytes) -> str:
    return blake2b(data, digest_size=8).hexdigest()


def claude_facts(*, seq: int, event: Mapping[str, Any]) -> list[Fact]:
    """The facts one stored Claude Code envelope states. Never raises on bad input: what it cannot
    read becomes an IssueFact. `seq` names the event, the same for every stored copy of it (the
    catch-up passes a digest of its event id), so the keys made from it never count a copy twice."""
    session = _str(event.get("session_id"))
    ts = ts_parse(event.get("timestamp"))
    payload = event.get("payload")
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    if not session or ts is None or not isinstance(payload, dict):
        return [
            IssueFact(session or "?", seq, IssueKind.BAD_ENVELOPE, "missing session, timestamp or payload")
        ]
    if metadata.get("timestamp_from") == "none":
        # A transcript with no time in any line (capture stamps it with the epoch, the same on every
        # read): its facts would count in 1970. Recorded, not derived.
        return [IssueFact(session, seq, IssueKind.TIME_UNKNOWN, _str(payload.get("type"))[:100])]
    project = metadata.get("project")
    project_key = None
    if isinstance(project, dict) and isinstance(project.get("hash"), str):
        project_key = (project["hash"][:64], _str(project.get("name"))[:255] or project["hash"][:16])
    if event.get("source") == "otel":
        # OTel facts carry their own session fact, or none: records that make no rows make no session.
        event_id = event.get("event_id")
        return otel_facts(seq=seq, session=session, ts=ts, payload=payload,
                          event_id=event_id if isinstance(event_id, str) and event_id else f"seq:{seq}")  # fmt: skip
    branch = _str(payload.get("gitBranch"))[:255] if event.get("source") == "transcript" else ""
    facts: list[Fact] = []
    if event.get("source") == "hook":
        facts.extend(_hook_facts(seq, session, ts, event.get("event_type"), payload, metadata))
    elif event.get("source") == "transcript":
        facts.extend(_record_facts(seq, session, ts, payload, metadata))
    else:
        facts.append(IssueFact(session, seq, IssueKind.UNKNOWN_SOURCE, _str(event.get("source"))[:100]))
    end_reason = ""
    parent = ""
    for fact in facts:
        if isinstance(fact, SessionFact):
            end_reason = end_reason or fact.end_reason
            parent = parent or fact.parent_session_id
    facts = [f for f in facts if not isinstance(f, SessionFact)]
    facts.append(
        SessionFact(session, ts, project_key, branch, end_reason=end_reason, parent_session_id=parent)
    )
    return facts


def _hook_facts(seq: int, session: str, ts: datetime, kind: Any, p: Mapping, metadata: Mapping) -> list[Fact]:
    agent = _str(p.get("agent_id"))
    if kind == "UserPromptSubmit":
        prompt_id = _str(p.get("prompt_id"))
        if not prompt_id:
            return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "UserPromptSubmit without prompt_id")]
        chars, lines = _text_size(p.get("prompt"))
        return [
            TurnFact(session, f"prompt:{prompt_id}", "user_prompt", ts, chars=chars, lines=lines,
                     detail={"sources": ["hook"]})
        ]  # fmt: skip
    if kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        tool_id, name = _str(p.get("tool_use_id")), _str(p.get("tool_name"))
        if not tool_id:
            return [IssueFact(session, seq, IssueKind.MISSING_FIELD, f"{kind} without tool_use_id")]
        if kind == "PreToolUse":
            return [ToolFact(session, tool_id, name, started_at=ts, agent_id=agent, seen_in_hooks=True)]
        duration = p.get("duration_ms")
        # A duration no call can have (negative, NaN, past a year: 1e300 would overflow) says nothing.
        timed = isinstance(duration, int | float) and 0 <= duration <= _DURATION_MAX_MS
        started = ts - timedelta(milliseconds=duration) if timed else None
        if kind == "PostToolUse":
            status, error = "success", ""
        elif p.get("is_interrupt") is True:
            status, error = "interrupted", "interrupted"
        else:
            outcomes = metadata.get("tool_outcomes")
            marked = _str(outcomes.get(tool_id)) if isinstance(outcomes, dict) else ""
            status, error = tool_result_outcome(is_error=True, result=None, marked=marked)
        digest, text = error_digest(p.get("error")) if kind == "PostToolUseFailure" else ("", "")
        facts: list[Fact] = [
            ToolFact(session, tool_id, name, started_at=started, finished_at=ts, status=status,
                     error_type=error, agent_id=agent, seen_in_hooks=True, error_hash=digest,
                     error_text=text)
        ]  # fmt: skip
        if kind == "PostToolUse" and name in EDIT_TOOLS:
            change = metadata.get("file_change") if _captured(metadata) else legacy.hook_file_change(p)
            facts.extend(_change_facts(session, tool_id, name, ts, change))
        return facts
    if kind == "PreCompact":
        prompt_id = _str(p.get("prompt_id"))
        key = f"compact:{prompt_id}" if prompt_id else f"compact:seq:{seq}"
        return [TurnFact(session, key, "compaction", ts, detail={"trigger": _str(p.get("trigger"))})]
    if kind in ("SubagentStart", "SubagentStop") and agent:
        agent_type = _str(p.get("agent_type"))
        if kind == "SubagentStop" and not agent_type:
            return []  # the compaction's internal agent reports a stop with no type
        detail = {"agent_type": agent_type} if agent_type else {}
        if kind == "SubagentStop":
            detail["finished_at"] = ts.isoformat()
        return [TurnFact(session, f"agent:{agent}", "subagent_run", ts, agent_id=agent, detail=detail)]
    if kind == "SessionEnd":
        return [SessionFact(session, ts, end_reason=_str(p.get("reason"))[:64] or "other")]
    if kind == "StatusLine":
        return _rate_limit_facts(seq, session, ts, p)
    if kind in HOOKS_IGNORED:
        return []
    return [IssueFact(session, seq, IssueKind.UNKNOWN_HOOK, _str(kind)[:200])]


# The official rate-limit windows a status line passes on (blueplane/statusline.py), as they are kept in
# a turn's detail: integers only (bounds.py keeps no floats in detail), the used share in hundredths of
# a percent and the reset in Unix seconds.
RATE_LIMIT_WINDOWS = ("five_hour", "seven_day")
_EPOCH_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z


def _rate_limit_facts(seq: int, session: str, ts: datetime, p: Mapping) -> list[Fact]:
    """One observation of the official rate limits: a `rate_limits` turn keyed by its figures, so the
    same figures seen again are one row."""
    limits = p.get("rate_limits")
    detail = {}
    for name in RATE_LIMIT_WINDOWS:
        window = limits.get(name) if isinstance(limits, dict) else None
        if not isinstance(window, dict):
            continue
        percent, resets = window.get("used_percentage"), window.get("resets_at")
        if (
            isinstance(percent, int | float) and not isinstance(percent, bool) and 0 <= percent <= 1000
            and isinstance(resets, int | float) and not isinstance(resets, bool) and 0 <= resets <= _EPOCH_MAX
        ):  # fmt: skip
            detail[f"{name}_used_bp"] = round(percent * 100)
            detail[f"{name}_resets_at"] = int(resets)
    if not detail:
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "StatusLine without rate limits")]
    key = "rate_limits:" + ";".join(f"{k}={v}" for k, v in sorted(detail.items()))
    return [TurnFact(session, key, "rate_limits", ts, detail=detail)]


def _record_facts(seq: int, session: str, ts: datetime, r: Mapping, metadata: Mapping) -> list[Fact]:
    kind = r.get("type")
    agent = _str(r.get("agentId")) or _str(metadata.get("agent_id"))
    facts: list[Fact] = []
    if agent and r.get("isSidechain") and not agent.startswith("acompact"):
        facts.append(TurnFact(session, f"agent:{agent}", "subagent_run", ts, agent_id=agent,
                              detail={"finished_at": ts.isoformat()}))  # fmt: skip
    if kind == "assistant":
        facts.extend(_assistant_facts(seq, session, ts, r, metadata, agent))
    elif kind == "user":
        facts.extend(_user_facts(seq, session, ts, r, metadata, agent))
    elif kind not in RECORDS_IGNORED:
        facts.append(
            IssueFact(session, seq, IssueKind.UNKNOWN_RECORD, _str(kind)[:200] or type(kind).__name__)
        )
    return facts


def _assistant_facts(
    seq: int, session: str, ts: datetime, r: Mapping, metadata: Mapping, agent: str
) -> list[Fact]:
    message = r.get("message")
    if not isinstance(message, dict):
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "assistant record without message")]
    facts: list[Fact] = []
    requested_by = _str(r.get("requestSessionId"))
    owner = requested_by or session
    if requested_by and requested_by != session:
        facts.append(SessionFact(session, ts, parent_session_id=requested_by))
    model = _str(message.get("model"))
    request = _str(r.get("requestId"))
    key = (
        api_call_key(message_id=message.get("id"), request_id=request, record_uuid=r.get("uuid"))
        or f"seq:{seq}"
    )
    if model == SYNTHETIC_MODEL:
        if r.get("isApiErrorMessage") or r.get("error") or r.get("apiError"):
            error = _str(r.get("error")) or _str(r.get("apiErrorType")) or "api_error"
            facts.append(TurnFact(owner, f"api_error:{key}", "api_error", ts, agent_id=agent,
                                  request_id=request, detail={"error": error[:100], "sources": ["transcript"]}))  # fmt: skip
    else:
        usage = usage_from_record(record={**r, "timestamp": ts.isoformat()}, parent_session_id=None)
        if usage is None:
            facts.append(IssueFact(session, seq, IssueKind.MISSING_FIELD, "assistant message without usage"))
        else:
            table = price_table_load()
            rank = (
                int(usage.has_stop_reason),
                usage.total_tokens,
                -1 if not isinstance(metadata.get("offset"), int) else metadata["offset"],
                _str(metadata.get("file")),
            )
            facts.append(
                TurnFact(
                    owner, key, "assistant_response", ts, model=model, request_id=request,
                    stop_reason=_str(message.get("stop_reason"))[:64],
                    input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                    cache_write_tokens=usage.cache_write_tokens,
                    cache_write_1h_tokens=usage.cache_write_1h_tokens,
                    cache_read_tokens=usage.cache_read_tokens,
                    cost_usd=usage_cost(message=usage, table=table), price_table=table.version,
                    agent_id=agent, rank=rank,
                )
            )  # fmt: skip
    content = message.get("content")
    captured = _captured(metadata)
    paths = metadata.get("edit_paths") if captured and isinstance(metadata.get("edit_paths"), dict) else {}
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict) or block.get("type") not in ("tool_use", "server_tool_use"):
            continue
        tool_id, name = _str(block.get("id")), _str(block.get("name"))
        if not tool_id:
            facts.append(IssueFact(session, seq, IssueKind.MISSING_FIELD, "tool_use without id"))
            continue
        facts.append(ToolFact(owner, tool_id, name, started_at=ts, message_key=key, agent_id=agent,
                              seen_in_transcript=True))  # fmt: skip
        if name not in EDIT_TOOLS:
            continue
        edit, path = (tool_id in paths, paths.get(tool_id)) if captured else legacy.block_edit_path(block)
        if edit:
            facts.append(ChangeFact(owner, tool_id, ts, name, _extension(path), _path_hash(path)))
    return facts


def _user_facts(
    seq: int, session: str, ts: datetime, r: Mapping, metadata: Mapping, agent: str
) -> list[Fact]:
    message = r.get("message")
    if not isinstance(message, dict):
        return [IssueFact(session, seq, IssueKind.MISSING_FIELD, "user record without message")]
    content = message.get("content")
    results = (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(content, list)
        else []
    )
    prompt_id = _str(r.get("promptId"))
    if r.get("isCompactSummary"):
        key = f"compact:{prompt_id}" if prompt_id else f"compact:{_str(r.get('uuid')) or seq}"
        return [TurnFact(session, key, "compaction", ts, detail={"sources": ["transcript"]})]
    if not results:
        if r.get("isMeta") or r.get("isSidechain") or r.get("isVisibleInTranscriptOnly"):
            return []
        if not _typed_prompt(r, content):
            return []
        chars, lines = _prompt_size(content)
        key = f"prompt:{prompt_id}" if prompt_id else f"prompt:uuid:{_str(r.get('uuid')) or seq}"
        return [TurnFact(session, key, "user_prompt", ts, chars=chars, lines=lines,
                         detail={"sources": ["transcript"]})]  # fmt: skip
    facts: list[Fact] = []
    captured = _captured(metadata)
    # toolUseResult describes a record's only result; capture read its facts into metadata.
    own = r.get("toolUseResult") if len(results) == 1 and not captured else None
    outcomes = metadata.get("tool_outcomes") if isinstance(metadata.get("tool_outcomes"), dict) else {}
    for block in results:
        tool_id = _str(block.get("tool_use_id"))
        if not tool_id:
            facts.append(IssueFact(session, seq, IssueKind.MISSING_FIELD, "tool_result without tool_use_id"))
            continue
        status, error = tool_result_outcome(
            is_error=block.get("is_error") is True, result=own, marked=_str(outcomes.get(tool_id))
        )
        digest, text = error_digest(block.get("content")) if status != "success" else ("", "")
        facts.append(ToolFact(session, tool_id, finished_at=ts, status=status, error_type=error,
                              agent_id=agent, seen_in_transcript=True, error_hash=digest,
                              error_text=text))  # fmt: skip
        if len(results) != 1:
            continue
        if captured:
            change, run = metadata.get("file_change"), metadata.get("agent_run")
        elif isinstance(own, dict):
            change = legacy.result_file_change(own, path=own.get("filePath") or None, metadata=metadata)
            run = legacy.result_agent_run(own)
        else:
            continue
        facts.extend(_change_facts(session, tool_id, "", ts, change))
        sub = _str(run.get("agent_id")) if isinstance(run, dict) else ""
        if sub:
            detail: dict = {"finished_at": ts.isoformat()}
            for name in ("agent_type", "status"):
                if isinstance(run.get(name), str) and run[name]:
                    detail[name] = run[name]
            for name in ("duration_ms", "total_tokens", "tool_uses"):
                if isinstance(run.get(name), int):
                    detail[name] = run[name]
            facts.append(TurnFact(session, f"agent:{sub}", "subagent_run", ts, agent_id=sub, detail=detail))
    return facts


# Text of user records that are not prompts: local slash commands (/compact, /model) and their output,
# and the note left when the user interrupts. Readable only when content is kept.
_NOT_PROMPT_PREFIXES = ("<command-name>/", "<local-command-", "[Request interrupted")


def _typed_prompt(r: Mapping, content: Any) -> bool:
    """Whether a user text record is a prompt sent to the model. Claude Code >= 2.1 marks those with
    `turnPosition` (local commands and interruption notes lack it); older versions are judged by the
    text when it is kept, else counted."""
    if "turnPosition" in r or "promptSource" in r:
        return True
    if _version(r.get("version")) >= (2, 1):
        return False
    text = content if isinstance(content, str) else None
    if isinstance(content, list):
        text = next((b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"), None)
    return not (isinstance(text, str) and text.lstrip().startswith(_NOT_PROMPT_PREFIXES))


def _version(value: Any) -> tuple[int, ...]:
    parts = []
    for part in _str(value).split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _captured(metadata: Mapping) -> bool:
    return metadata.get("facts") == FACTS_VERSION


def _change_facts(session: str, tool_id: str, name: str, ts: datetime, change: Any) -> list[Fact]:
    """The code change a `file_change` ({path, lines_added, lines_removed}) states; none without one."""
    if not isinstance(change, dict):
        return []
    path = change.get("path")
    added, removed = change.get("lines_added"), change.get("lines_removed")
    added, removed = (added if isinstance(added, int) else 0), (removed if isinstance(removed, int) else 0)
    return [ChangeFact(session, tool_id, ts, name, _extension(path), _path_hash(path), added, removed)]

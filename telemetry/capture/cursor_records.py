"""Wire envelopes (docs/wire-format.md, "Cursor events", source `database`) for what Cursor's databases
hold: conversations (`composer`), messages (`bubble`), `generation`s, `scored_commit`s and `ai_code` rows.

Deterministic: the same record in the same state always gives the same `event_id` and `timestamp`, so a
re-poll, a restart or an import stores it once, and a changed record (same Cursor id, new content) gets a
new revision in its id. The revision hashes the filtered payload and the timestamp together, so one id
never comes with two timestamps. Timestamps come only from Cursor's data (docs: cursor-formats §3.9):
a bubble's `createdAt`, else its `timingInfo` epoch times, else interpolated by position between the
nearest earlier and later messages that have one (the composer's `createdAt` and `lastUpdatedAt` at the
ends); never the time of reading.

Privacy: message text, titles and commit messages become {chars, lines, hash} unless the user opted in
to keep content; commands and paths become salted hashes (the hook hashes the same strings, so both
views of one tool call carry the same `target_hash`).
"""

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from .cursor_paths import Workspace, path_join
from .privacy import Privacy, identifier

PLATFORM = "cursor"
SOURCE = "database"
AI_TRACKING_SESSION = "cursor-ai-tracking"  # scored commits and code rows without a conversation
UNKNOWN_MODEL = "unknown"
# From this day on Cursor stores tokenCount {0,0} on every new bubble: zero means "not recorded".
TOKENS_CUTOVER_MS = 1_770_336_000_000  # 2026-02-06T00:00:00Z
EPOCH_MS_MIN = 1_000_000_000_000  # timingInfo values below this are performance.now() offsets

SHELL_TOOLS = frozenset({"run_terminal_cmd", "run_terminal_command", "run_terminal_command_v2", "shell"})
READ_TOOLS = frozenset({"read_file", "read_file_v2"})
EDIT_TOOLS = frozenset(
    {"edit_file", "edit_file_v2", "search_replace", "write", "delete_file", "multi_edit", "apply_patch"}
)
SEARCH_TOOLS = frozenset(
    {"codebase_search", "grep_search", "grep", "file_search", "glob_file_search", "list_dir", "web_search"}
)
PATH_PARAMS = ("target_file", "file_path", "path", "relative_workspace_path")


@dataclass(frozen=True)
class Record:
    """One envelope to send, and what the monitor remembers of it: `key` names the Cursor record
    (`bubble:<composer>:<bubble>`), `revision` its content."""

    key: str
    revision: str
    envelope: dict


@dataclass
class Memo:
    """What is remembered of a bubble already sent, so that its neighbours can be built without it."""

    revision: str
    position: int
    own_ms: int | None  # its timestamp from Cursor's data; None when it was interpolated
    user_model: str | None  # a user bubble's selected model (modelInfo.modelName)


@dataclass
class Conversation:
    """One conversation as read: the composer's data, its ordered message ids, where it belongs."""

    composer_id: str
    era: str  # v0, v1, v2, tab
    data: dict
    headers: list[tuple[str, str]]  # (bubbleId, role) in order
    inline: dict[str, dict] = field(default_factory=dict)  # bubbles stored in the composer itself
    workspace: Workspace | None = None
    head: dict | None = None  # the workspace's head entry for it


# --- helpers -------------------------------------------------------------------------------------------


def iso_ms(ms: int) -> str:
    seconds, rest = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:03d}Z"


def ms_of(value: object) -> int | None:
    """Epoch ms from an int/float epoch ms or an ISO 8601 string; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > EPOCH_MS_MIN:
        return int(value)
    if isinstance(value, str) and len(value) >= 19:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None  # a time without a zone says nothing exact
        return int(parsed.timestamp() * 1000)
    return None


def revision_of(payload: dict, timestamp: str) -> str:
    body = orjson.dumps({"payload": payload, "timestamp": timestamp}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:16]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _ident(value: object) -> str | None:
    return value if identifier(value) and value else None


def line_count(text: object) -> int:
    if not isinstance(text, str):
        return 0
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _text(value: object, privacy: Privacy) -> object:
    text = value if isinstance(value, str) else ""
    return text if privacy.store_content else privacy.text(text)


def _json_object(value: object) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str | bytes):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def envelope(
    *, event_type: str, event_id: str, session_id: str, ts_ms: int, payload: dict, metadata: dict
) -> dict:
    return {
        "event_id": event_id,
        "platform": PLATFORM,
        "source": SOURCE,
        "event_type": event_type,
        "session_id": session_id,
        "timestamp": iso_ms(ts_ms),
        "payload": payload,
        "metadata": {"capture": SOURCE, "capture_ts": iso_ms(time.time() * 1000), **metadata},
    }


def place_metadata(workspace: Workspace | None, privacy: Privacy) -> dict:
    """`project` (of the workspace's first root, as Claude Code's) and `workspace` (its storage id)."""
    if workspace is None:
        return {}
    out: dict = {"workspace": workspace.id}
    project = privacy.project(workspace.roots[0]) if workspace.roots else None
    if project:
        out["project"] = project
    return out


# --- tool calls ----------------------------------------------------------------------------------------


def tool_kind(name: str) -> str:
    if name in SHELL_TOOLS:
        return "shell"
    if name in READ_TOOLS:
        return "read"
    if name in EDIT_TOOLS:
        return "edit"
    if name.startswith(("mcp_", "mcp:", "MCP:")):
        return "mcp"
    if name in SEARCH_TOOLS:
        return "search"
    return "other"


def tool_facts(former: dict, *, root: str | None, privacy: Privacy) -> dict:
    """`metadata.tool` of a bubble's toolFormerData: {kind, name, target_hash, tool_use_id?,
    file_extension?, path_hash?, lines_added?, lines_removed?, mcp_server?}."""
    name = _ident(former.get("name")) or "unknown"
    kind = tool_kind(name)
    params = _json_object(former.get("params")) or _json_object(former.get("rawArgs"))
    facts: dict = {"kind": kind, "name": name, "target_hash": None}
    if _ident(former.get("toolCallId")):
        facts["tool_use_id"] = former["toolCallId"]
    if kind == "shell" and isinstance(params.get("command"), str):
        facts["target_hash"] = privacy.digest(params["command"])
    elif kind in ("read", "edit"):
        path = next((params[k] for k in PATH_PARAMS if isinstance(params.get(k), str) and params[k]), None)
        if path is not None:
            # Relative paths are relative to the workspace's first root: the hook sends that absolute path.
            absolute = path_join(root, path) if root else path
            facts["target_hash"] = privacy.digest(absolute)
            facts["path_hash"] = privacy.path(absolute)
            facts["file_extension"] = facts["path_hash"][len("path:") + 16 :] or None
        if kind == "edit":
            added, removed = edit_lines(former, params)
            facts["lines_added"], facts["lines_removed"] = added, removed
    elif kind == "mcp":
        server, tool = mcp_parts(name, params)
        facts["mcp_server"] = server
        facts["target_hash"] = privacy.digest(f"{server}/{tool}")
    return facts


def edit_lines(former: dict, params: dict) -> tuple[int | None, int | None]:
    """(added, removed) of an edit: the result's diff, else the lines of new_string / old_string."""
    diff = _json_object(former.get("result")).get("diff")
    if isinstance(diff, dict) and (_int(diff.get("linesAdded")) is not None):
        return _int(diff.get("linesAdded")), _int(diff.get("linesRemoved")) or 0
    if isinstance(params.get("new_string"), str) or isinstance(params.get("old_string"), str):
        return line_count(params.get("new_string")), line_count(params.get("old_string"))
    return None, None


def mcp_parts(name: str, params: dict) -> tuple[str, str]:
    """(server, tool) of an MCP call named `mcp_<server>_<tool>`; the tool's own name in the params
    (`tools[0].name`) tells where the server's name ends, since both may hold underscores."""
    rest = name[4:]
    tools = params.get("tools")
    tool = tools[0].get("name") if isinstance(tools, list) and tools and isinstance(tools[0], dict) else None
    if isinstance(tool, str) and tool and rest.endswith("_" + tool):
        return rest[: -len(tool) - 1], tool
    server, _, tool = rest.partition("_")
    return server, tool


# --- conversations and bubbles ------------------------------------------------------------------------


def bubble_own_ms(bubble: dict) -> int | None:
    """A bubble's time from its own data: createdAt, else timingInfo's epoch times."""
    created = ms_of(bubble.get("createdAt"))
    if created is not None:
        return created
    timing = bubble.get("timingInfo")
    if isinstance(timing, dict):
        for key in ("clientRpcSendTime", "clientSettleTime", "clientEndTime"):
            value = ms_of(timing.get(key))
            if value is not None:
                return value
    return None


def bubble_user_model(bubble: dict) -> str | None:
    info = bubble.get("modelInfo")
    model = info.get("modelName") if isinstance(info, dict) else None
    return _ident(model) or _ident(bubble.get("modelType"))  # modelType: a legacy chat tab's


def _interpolate(known: list[tuple[int, int | None]], start: int | None, end: int | None) -> list[int | None]:
    """Times by position: a known one as it is; an unknown one on the line between the nearest known
    earlier (else `start` before the first) and later (else `end` at the last position)."""
    n = len(known)
    out: list[int | None] = [ms for _, ms in known]
    for i, (_, ms) in enumerate(known):
        if ms is not None:
            continue
        p0, t0 = next(((j, out[j]) for j in range(i - 1, -1, -1) if known[j][1] is not None), (-1, start))
        p1, t1 = next(((j, known[j][1]) for j in range(i + 1, n) if known[j][1] is not None), (n - 1, end))
        if t0 is None or t1 is None or p1 == p0:
            out[i] = t0 if t0 is not None else t1
        else:
            out[i] = t0 + round((max(t1, t0) - t0) * (i - p0) / (p1 - p0))
    return out


def conversation_records(
    conv: Conversation,
    *,
    bubbles: dict[str, dict],
    memos: dict[str, Memo],
    privacy: Privacy,
) -> tuple[Record | None, list[Record], dict[str, Memo]]:
    """The composer record of a conversation, and the records of the bubbles given in `bubbles` (parsed
    values by bubbleId); the others it references are known from `memos`. Returns (composer record or
    None when Cursor's data holds no time for it, bubble records, memos of the bubbles built)."""
    data = conv.data
    composer_model = None
    if isinstance(data.get("modelConfig"), dict):
        composer_model = _ident(data["modelConfig"].get("modelName"))
    created, last = ms_of(data.get("createdAt")), ms_of(data.get("lastUpdatedAt"))
    # Per position: (bubbleId, role, own time, selected model), for the messages that exist.
    present: list[tuple[int, str, str, int | None, str | None]] = []
    for position, (bubble_id, role) in enumerate(conv.headers):
        value = bubbles.get(bubble_id)
        if value is not None:
            present.append((position, bubble_id, role, bubble_own_ms(value), bubble_user_model(value)))
        elif bubble_id in memos:
            memo = memos[bubble_id]
            present.append((position, bubble_id, role, memo.own_ms, memo.user_model))
    times = _interpolate([(p[0], p[3]) for p in present], created, last)
    place = place_metadata(conv.workspace, privacy)
    root = conv.workspace.roots[0] if conv.workspace and conv.workspace.roots else None
    records, built = [], {}
    turn_model: str | None = None
    for (position, bubble_id, role, own_ms, user_model), ts in zip(present, times, strict=True):
        if role == "user":
            turn_model = user_model or composer_model or UNKNOWN_MODEL
        model = turn_model or composer_model or UNKNOWN_MODEL
        if conv.era == "tab" and role == "assistant":
            model = user_model or model  # a tab's answer names its own model
        value = bubbles.get(bubble_id)
        if value is None or ts is None:
            continue
        payload, tool = bubble_payload(
            conv, value, bubble_id=bubble_id, role=role, position=position, model=model, ts_ms=ts,
            from_own=own_ms is not None, root=root, privacy=privacy,
        )  # fmt: skip
        metadata = dict(place)
        if tool:
            metadata["tool"] = tool
        timestamp = iso_ms(ts)
        revision = revision_of(payload, timestamp)
        records.append(
            Record(
                key=f"bubble:{conv.composer_id}:{bubble_id}",
                revision=revision,
                envelope=envelope(
                    event_type="bubble",
                    event_id=f"cu:db:bubble:{conv.composer_id}:{bubble_id}:{revision}",
                    session_id=conv.composer_id,
                    ts_ms=ts,
                    payload=payload,
                    metadata=metadata,
                ),
            )
        )
        built[bubble_id] = Memo(revision, position, own_ms, user_model if role == "user" else None)
    first_ms = next((t for t in times if t is not None), None)
    composer = composer_record(conv, messages=len(present), first_ms=first_ms, place=place, privacy=privacy)
    return composer, records, built


def bubble_payload(
    conv: Conversation,
    bubble: dict,
    *,
    bubble_id: str,
    role: str,
    position: int,
    model: str,
    ts_ms: int,
    from_own: bool,
    root: str | None,
    privacy: Privacy,
) -> tuple[dict, dict | None]:
    """(payload, metadata.tool or None) of one message."""
    tokens = None
    count = bubble.get("tokenCount")
    usage = bubble.get("usage")
    if isinstance(count, dict):
        tokens = {
            "input": _int(count.get("inputTokens")) or 0,
            "output": _int(count.get("outputTokens")) or 0,
        }
    elif isinstance(usage, dict):  # a rare snake_case variant
        tokens = {
            "input": _int(usage.get("input_tokens")) or 0,
            "output": _int(usage.get("output_tokens")) or 0,
        }
    timing = bubble.get("timingInfo")
    timing_out = None
    if isinstance(timing, dict):
        timing_out = {
            "rpc_send_ms": ms_of(timing.get("clientRpcSendTime")),
            "settle_ms": ms_of(timing.get("clientSettleTime")),
            "end_ms": ms_of(timing.get("clientEndTime")),
        }
    thinking = bubble.get("thinking")
    thinking_text = thinking.get("text") if isinstance(thinking, dict) else None
    text = next((bubble[k] for k in ("text", "rawText") if isinstance(bubble.get(k), str) and bubble[k]), "")
    tool = None
    former = bubble.get("toolFormerData")
    if isinstance(former, dict):
        tool = tool_facts(former, root=root, privacy=privacy)
    payload = {
        "composerId": conv.composer_id,
        "bubbleId": bubble_id,
        "role": role,
        "request_id": _ident(bubble.get("requestId")),
        "position": position,
        "model": model,
        "tokens": tokens,
        "tokens_zero_cutover": tokens == {"input": 0, "output": 0} and ts_ms >= TOKENS_CUTOVER_MS,
        "text": _text(text, privacy),
        "thinking_chars": len(thinking_text) if isinstance(thinking_text, str) else 0,
        "timing": timing_out,
        "tool": None if tool is None else {**tool, "status": _ident(former.get("status"))},
        "era": conv.era,
        "timestamp_from": "bubble" if from_own else "interpolated",
    }
    return payload, tool


def composer_record(
    conv: Conversation, *, messages: int, first_ms: int | None, place: dict, privacy: Privacy
) -> Record | None:
    data, head = conv.data, conv.head or {}
    created, last = ms_of(data.get("createdAt")), ms_of(data.get("lastUpdatedAt"))
    ts = created or first_ms or last
    if ts is None:
        return None

    def total(key: str) -> int | None:
        # The global row is the freshest; v1 rows have none, and the workspace head's may lag.
        return _int(data.get(key)) if _int(data.get(key)) is not None else _int(head.get(key))

    model_config = data.get("modelConfig")
    name = _str(data.get("name"))
    payload = {
        "composerId": conv.composer_id,
        "era": conv.era,
        "created_at_ms": created,
        "last_updated_at_ms": last,
        "status": _ident(data.get("status")),
        "mode": _ident(data.get("unifiedMode")) or _ident(data.get("forceMode")),
        "archived": bool(data.get("isArchived") or head.get("isArchived")),
        "model": _ident(model_config.get("modelName")) if isinstance(model_config, dict) else None,
        "lines_added": total("totalLinesAdded"),
        "lines_removed": total("totalLinesRemoved"),
        "messages": messages,
        "name": None if name is None else _text(name, privacy),
        "workspace": conv.workspace.id if conv.workspace else None,
    }
    timestamp = iso_ms(ts)
    revision = revision_of(payload, timestamp)
    return Record(
        key=f"composer:{conv.composer_id}",
        revision=revision,
        envelope=envelope(
            event_type="composer",
            event_id=f"cu:db:composer:{conv.composer_id}:{revision}",
            session_id=conv.composer_id,
            ts_ms=ts,
            payload=payload,
            metadata=place,
        ),
    )

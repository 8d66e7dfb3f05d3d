"""Wire envelopes (docs/wire-format.md) for Claude Code: one per hook call, one per transcript line.

Deterministic: the same source event always gives the same `event_id` and `timestamp`, so a re-read
file, a replayed spool or a second import is stored once. Content is privacy-filtered here, before
anything reaches Redis or the spool. The few facts the slow path needs from inside tool inputs and
results are read here first, from the shapes of Claude Code's built-in tools only, into typed fields
of `metadata` (listed in docs/privacy.md); `metadata.facts` = FACTS_VERSION says they are there.
Stdlib only and cheap to import: the hook imports this module.
"""

import time

try:
    from .jsonlite import loads
    from .privacy import Privacy, identifier
except ImportError:  # the hook runs this file's folder as top-level modules (python -I -S hook.py)
    from jsonlite import loads
    from privacy import Privacy, identifier

try:
    from _sha256 import sha256
except ImportError:  # Python 3.12+ renamed the builtin module
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

PLATFORM = "claude_code"
UNKNOWN = "unknown"
MAX_TYPE_CHARS = 128
MAX_ID_CHARS = 256
# Version of the facts capture puts in `metadata`. Events without it were captured by a filter that
# kept the shape of tool inputs and results; the slow path reads their facts from the payload.
FACTS_VERSION = 2
# Claude Code's built-in tools whose input names the file they change.
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})


def iso_from_ns(ns: int) -> str:
    """UTC ISO 8601 with microseconds and `Z`, without importing datetime."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def timestamp_valid(value: object) -> bool:
    """A cheap check that a record's timestamp is ISO 8601 with a zone (what the store accepts)."""
    return (
        isinstance(value, str)
        and 19 < len(value) < 40
        and value[:4].isdigit()
        and value[4] == "-"
        and value[7] == "-"
        and value[10] == "T"
        and (value[-1] == "Z" or value[-6] in "+-")
    )


def _name(value: object, limit: int) -> str:
    return value if identifier(value) and 0 < len(value) <= limit else UNKNOWN


def hook_payload_read(raw: bytes, *, privacy: Privacy) -> tuple[dict, dict]:
    """(the payload to store, the parsed object to read fields from) of a hook's stdin. Stored, not
    dropped: an empty or unparsable stdin still says a hook fired, as `{"unparsed": ...}` (its size and
    hash unless content is kept), and then there are no fields to read."""
    try:
        payload = loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return payload, payload
    text = raw.decode("utf-8", "replace")
    return {"unparsed": text if privacy.store_content else privacy.text(text)}, {}


def hook_digest(raw: bytes, *, capture_ns: int, privacy: Privacy) -> str:
    """A hook call's id: the payload hashed with the capture time, so two identical calls stay two
    events, and the spool replays the envelope as built."""
    return sha256(privacy._key + b"\0" + raw + b"\0" + str(capture_ns).encode()).hexdigest()


def hook_envelope(raw: bytes, *, capture_ns: int, privacy: Privacy) -> dict:
    """The envelope of one hook call: `raw` is exactly what the hook read on stdin.

    The id hashes the payload with the capture time, so two identical payloads (two ConfigChange
    calls do happen) stay two events, and the spool replays the envelope as built here.
    """
    timestamp = iso_from_ns(capture_ns)
    payload, source_payload = hook_payload_read(raw, privacy=privacy)
    event_type = _name(source_payload.get("hook_event_name"), MAX_TYPE_CHARS)
    digest = hook_digest(raw, capture_ns=capture_ns, privacy=privacy)
    metadata: dict = {
        "capture_ts": timestamp, "capture": "hook", "payload_bytes": len(raw), "facts": FACTS_VERSION,
    }  # fmt: skip
    project = privacy.project(source_payload.get("cwd"))
    if project:
        metadata["project"] = project
    if identifier(source_payload.get("agent_id")):
        metadata["agent_id"] = source_payload["agent_id"]
    tool_id, error = source_payload.get("tool_use_id"), source_payload.get("error")
    if event_type == "PostToolUseFailure" and identifier(tool_id) and isinstance(error, str):
        # The error text is filtered out below; what it says about the call is kept.
        metadata["tool_outcomes"] = {
            tool_id: outcome_of(error, interrupted=source_payload.get("is_interrupt") is True)
        }
    if event_type == "PostToolUse" and source_payload.get("tool_name") in EDIT_TOOLS:
        response, tool_input = source_payload.get("tool_response"), source_payload.get("tool_input")
        if isinstance(response, dict):
            path = response.get("filePath") or (
                tool_input.get("file_path") if isinstance(tool_input, dict) else None
            )
            change = file_change(response, path=path, privacy=privacy)
            if change:
                metadata["file_change"] = change
    return {
        "event_id": f"cc:h:{digest}",
        "platform": PLATFORM,
        "source": "hook",
        "event_type": event_type,
        "hook_type": event_type,
        "session_id": _name(source_payload.get("session_id"), MAX_ID_CHARS),
        "timestamp": timestamp,
        "payload": privacy.hook_filter(payload) if source_payload else payload,
        "metadata": metadata,
    }


def transcript_envelope(
    record: object,
    *,
    file_key: str,
    offset: int,
    session_hint: str,
    timestamp: str,
    timestamp_from: str,
    privacy: Privacy,
    project: dict | None = None,
    agent_id: str | None = None,
) -> dict:
    """The envelope of one transcript line (`record` is its parsed JSON, any type).

    Ids: `cc:t:<sessionId>:<uuid>`; records without a uuid `cc:t:<file_key>:<byte offset>`. The
    caller resolves `timestamp` (the record's own, else the nearest earlier record's, ...) and names
    where it came from in `timestamp_from`.
    """
    if not isinstance(record, dict):
        record = {"unparsed": record}
    session_id = record.get("sessionId")
    if not identifier(session_id) or not 0 < len(session_id) <= 200:
        session_id = session_hint
    uuid = record.get("uuid")
    has_uuid = identifier(uuid) and uuid
    event_id = f"cc:t:{session_id}:{uuid}" if has_uuid else f"cc:t:{file_key}:{offset}"
    metadata: dict = {"capture": "transcript", "file": file_key, "offset": offset, "facts": FACTS_VERSION}
    if timestamp_from != "record":
        metadata["timestamp_from"] = timestamp_from
    if project:
        metadata["project"] = project
    if agent_id:
        metadata["agent_id"] = agent_id
    result = record.get("toolUseResult")
    changed = lines_changed(result)
    if changed is not None:
        # Also the raw index's line columns (telemetry/ingest/envelope.py).
        metadata["lines_added"], metadata["lines_removed"] = changed
    if isinstance(result, dict):
        change = file_change(result, path=result.get("filePath") or None, privacy=privacy)
        if change:
            metadata["file_change"] = change
        run = agent_run(result)
        if run:
            metadata["agent_run"] = run
    outcomes = tool_outcomes(record)
    if outcomes:
        metadata["tool_outcomes"] = outcomes
    paths = edit_paths(record, privacy=privacy)
    if paths:
        metadata["edit_paths"] = paths
    return {
        "event_id": event_id[:MAX_ID_CHARS],
        "platform": PLATFORM,
        "source": "transcript",
        "event_type": _name(record.get("type"), MAX_TYPE_CHARS),
        "session_id": session_id,
        "timestamp": timestamp,
        "payload": privacy.record_filter(record),
        "metadata": metadata,
    }


# --- facts read before filtering, from built-in tool shapes only ------------------------------------


def _line_count(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _hunk_lines(hunk: object) -> tuple[int, int]:
    lines = hunk.get("lines") if isinstance(hunk, dict) else None
    if not isinstance(lines, list):
        return 0, 0
    added = sum(1 for line in lines if isinstance(line, str) and line.startswith("+"))
    removed = sum(1 for line in lines if isinstance(line, str) and line.startswith("-"))
    return added, removed


def lines_changed(result: object) -> tuple[int, int] | None:
    """(added, removed) lines of a Write/Edit tool result, from its unfiltered structuredPatch.

    A file created from nothing counts its content's lines as added. None when the result is not a
    file change. Computed before filtering drops the patch text.
    """
    if not isinstance(result, dict):
        return None
    patch = result.get("structuredPatch")
    if isinstance(patch, list) and patch:
        added = removed = 0
        for hunk in patch:
            a, r = _hunk_lines(hunk)
            added, removed = added + a, removed + r
        return added, removed
    if result.get("type") == "create" and isinstance(result.get("content"), str):
        return _line_count(result["content"]), 0
    if isinstance(patch, list):
        return 0, 0
    return None


def file_change(result: dict, *, path: object, privacy: Privacy) -> dict | None:
    """`metadata.file_change` of a Write/Edit/MultiEdit/NotebookEdit result (one with a
    `structuredPatch` or of `type` "create"): {path: `path:<hash><.ext>` ("" when the path is not
    text), lines_added, lines_removed}. None when the result changed no named file."""
    if path is None or ("structuredPatch" not in result and result.get("type") != "create"):
        return None
    added, removed = lines_changed(result) or (0, 0)
    return {
        "path": privacy.path(path) if isinstance(path, str) else "",
        "lines_added": added,
        "lines_removed": removed,
    }


def _result_name(value: object) -> str | None:
    """An id or enum from inside a tool result, or None: letters, digits and `-_.:` only, so that no
    address, path or sentence passes for one."""
    if value and identifier(value) and all(c.isalnum() or c in "-_.:" for c in value):
        return value
    return None


def agent_run(result: dict) -> dict | None:
    """`metadata.agent_run` of a Task/Agent tool result (one with an `agentId`): {agent_id, and when
    present agent_type, status, duration_ms, total_tokens, tool_uses}."""
    agent = _result_name(result.get("agentId"))
    if agent is None:
        return None
    run: dict = {"agent_id": agent}
    for name, key in (("agent_type", "agentType"), ("status", "status")):
        value = _result_name(result.get(key))
        if value is not None:
            run[name] = value
    for name, key in (("duration_ms", "totalDurationMs"), ("total_tokens", "totalTokens"),
                      ("tool_uses", "totalToolUseCount")):  # fmt: skip
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            run[name] = value
    return run


def edit_paths(record: dict, *, privacy: Privacy) -> dict[str, str]:
    """`metadata.edit_paths` of an assistant record: tool_use id -> `path:<hash><.ext>` of the file each
    built-in edit tool call names in its input (`file_path`, or `notebook_path`); "" when it names none."""
    message = record.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return {}
    paths = {}
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in ("tool_use", "server_tool_use"):
            continue
        tool_id, tool_input = block.get("id"), block.get("input")
        if block.get("name") in EDIT_TOOLS and identifier(tool_id) and isinstance(tool_input, dict):
            path = tool_input.get("file_path") or tool_input.get("notebook_path")
            paths[tool_id] = privacy.path(path) if isinstance(path, str) else ""
    return paths


# What Claude Code writes into a tool result that did not run to its end, by the error type it means.
# Read here, before the filter drops the text; the slow path sees only the verdict.
_OUTCOME_MARKS = (
    ("user_rejected", ("user rejected tool use", "doesn't want to proceed", "tool use was rejected")),
    ("permission_denied", ("needs approval", "permission to use", "requires approval")),
    ("interrupted", ("interrupted by user",)),
    ("tool_use_error", ("<tool_use_error>",)),
)


def _result_text(block: dict) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return " ".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return content if isinstance(content, str) else ""


def outcome_of(text: str, *, interrupted: bool = False) -> str:
    """The error type a failed tool call's text means ("error" when it says nothing more)."""
    lowered = text.lower()
    kind = next((k for k, marks in _OUTCOME_MARKS if any(m in lowered for m in marks)), None)
    return kind or ("interrupted" if interrupted else "error")


def tool_outcomes(record: object) -> dict[str, str]:
    """tool_use_id -> error type (user_rejected, permission_denied, interrupted, tool_use_error, error)
    for each tool result of a user record that did not succeed. Computed before filtering drops the
    result text that says which; successful results are left out."""
    if not isinstance(record, dict):
        return {}
    message = record.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return {}
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    own = record.get("toolUseResult")  # describes the record's result when it has just one
    outcomes = {}
    for block in results:
        tool_id = block.get("tool_use_id")
        if not identifier(tool_id):
            continue
        interrupted = len(results) == 1 and isinstance(own, dict) and own.get("interrupted") is True
        if block.get("is_error") is not True and not interrupted:
            continue
        text = _result_text(block) + " " + (own if len(results) == 1 and isinstance(own, str) else "")
        outcomes[tool_id] = outcome_of(text, interrupted=interrupted)
    return outcomes

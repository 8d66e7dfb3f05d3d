"""Wire envelopes (docs/wire-format.md) for Claude Code: one per hook call, one per transcript line.

Deterministic: the same source event always gives the same `event_id` and `timestamp`, so a re-read
file, a replayed spool or a second import is stored once. Content is privacy-filtered here, before
anything reaches Redis or the spool. Stdlib only and cheap to import: the hook imports this module.
"""

import time

try:
    from .jsonlite import loads
    from .privacy import Privacy, lines_changed, outcome_of, tool_outcomes
except ImportError:  # the hook runs this file's folder as top-level modules (python -I -S hook.py)
    from jsonlite import loads
    from privacy import Privacy, lines_changed, outcome_of, tool_outcomes

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
    return value if isinstance(value, str) and 0 < len(value) <= limit else UNKNOWN


def hook_envelope(raw: bytes, *, capture_ns: int, privacy: Privacy) -> dict:
    """The envelope of one hook call: `raw` is exactly what the hook read on stdin.

    The id hashes the payload with the capture time, so two identical payloads (two ConfigChange
    calls do happen) stay two events, and the spool replays the envelope as built here.
    """
    timestamp = iso_from_ns(capture_ns)
    try:
        payload = loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        # Stored, not dropped: an empty or unparsable stdin still says a hook fired.
        text = raw.decode("utf-8", "replace")
        payload = {"unparsed": text if privacy.store_content else privacy.text(text)}
        source_payload: dict = {}
    else:
        source_payload = payload
    event_type = _name(source_payload.get("hook_event_name"), MAX_TYPE_CHARS)
    digest = sha256(privacy._key + b"\0" + raw + b"\0" + str(capture_ns).encode()).hexdigest()
    metadata: dict = {"capture_ts": timestamp, "capture": "hook", "payload_bytes": len(raw)}
    project = privacy.project(source_payload.get("cwd"))
    if project:
        metadata["project"] = project
    if isinstance(source_payload.get("agent_id"), str):
        metadata["agent_id"] = source_payload["agent_id"]
    tool_id, error = source_payload.get("tool_use_id"), source_payload.get("error")
    if event_type == "PostToolUseFailure" and isinstance(tool_id, str) and isinstance(error, str):
        # The error text is filtered out below; what it says about the call is kept.
        metadata["tool_outcomes"] = {
            tool_id: outcome_of(error, interrupted=source_payload.get("is_interrupt") is True)
        }
    return {
        "event_id": f"cc:h:{digest}",
        "platform": PLATFORM,
        "source": "hook",
        "event_type": event_type,
        "hook_type": event_type,
        "session_id": _name(source_payload.get("session_id"), MAX_ID_CHARS),
        "timestamp": timestamp,
        "payload": privacy.filter(payload) if source_payload else payload,
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
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 200:
        session_id = session_hint
    uuid = record.get("uuid")
    has_uuid = isinstance(uuid, str) and uuid
    event_id = f"cc:t:{session_id}:{uuid}" if has_uuid else f"cc:t:{file_key}:{offset}"
    metadata: dict = {"capture": "transcript", "file": file_key, "offset": offset}
    if timestamp_from != "record":
        metadata["timestamp_from"] = timestamp_from
    if project:
        metadata["project"] = project
    if agent_id:
        metadata["agent_id"] = agent_id
    changed = lines_changed(record.get("toolUseResult"))
    if changed is not None:
        metadata["lines_added"], metadata["lines_removed"] = changed
    outcomes = tool_outcomes(record)
    if outcomes:
        metadata["tool_outcomes"] = outcomes
    return {
        "event_id": event_id[:MAX_ID_CHARS],
        "platform": PLATFORM,
        "source": "transcript",
        "event_type": _name(record.get("type"), MAX_TYPE_CHARS),
        "session_id": session_id,
        "timestamp": timestamp,
        "payload": privacy.filter(record),
        "metadata": metadata,
    }

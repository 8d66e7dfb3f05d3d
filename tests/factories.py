"""Builders of wire-format envelopes and stream entries for tests."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import orjson

_counter = itertools.count()
T0 = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)


def envelope(**overrides) -> dict:
    """A valid Claude Code hook envelope; override any field."""
    n = next(_counter)
    event = {
        "event_id": f"test:{uuid.uuid4()}",
        "platform": "claude_code",
        "source": "hook",
        "event_type": "PreToolUse",
        "hook_type": "PreToolUse",
        "session_id": "session-a",
        "timestamp": (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        "payload": {"tool_name": "Bash", "tool_input": {"command_bytes": 12}},
        "metadata": {"capture_ts": n},
    }
    event.update(overrides)
    return event


def entry(event: dict | bytes | str) -> dict[str, bytes]:
    """The fields of one telemetry:events entry carrying this event."""
    if isinstance(event, dict):
        return {"event": orjson.dumps(event)}
    return {"event": event.encode() if isinstance(event, str) else event}

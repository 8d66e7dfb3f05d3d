"""Builders of hostile (and ordinary) Claude Code envelopes, shared by the bounds tests on SQLite and
PostgreSQL: every kind of value a payload can carry that no derived column takes as it is."""

from datetime import UTC, datetime, timedelta

import orjson

from tests.factories import envelope

T0 = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)
OPUS = "claude-opus-4-1-20250805"
U64_MAX = 2**64 - 1  # the largest integer JSON gives as an int (orjson); larger ones arrive as floats
LONG = "x" * 150  # longer than a tool-use id column (128)
# A duration that puts a call's start (12 s after T0) in the first hours of year 1.
YEAR_ONE_MS = (T0 + timedelta(seconds=12) - datetime(1, 1, 1, 6, tzinfo=UTC)) // timedelta(milliseconds=1)


def ts(i: float) -> str:
    return (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")


def hook(session: str, kind: str, i: float, *, at: str | None = None, **payload) -> dict:
    return envelope(session_id=session, source="hook", event_type=kind, hook_type=kind,
                    timestamp=at or ts(i), payload={"hook_event_name": kind, **payload})  # fmt: skip


def record(session: str, kind: str, i: float, payload: dict, **metadata) -> dict:
    return envelope(session_id=session, source="transcript", event_type=kind, timestamp=ts(i),
                    payload={"type": kind, "uuid": f"{session}-u{i}", **payload},
                    metadata={"offset": int(i), "file": f"{session}.jsonl", **metadata})  # fmt: skip


def assistant(session: str, i: float, message_id: str, usage: dict, **extra) -> dict:
    message = {"id": message_id, "model": OPUS, "role": "assistant", "stop_reason": "end_turn",
               "usage": usage, "content": extra.pop("content", [])}  # fmt: skip
    return record(session, "assistant", i, {"requestId": f"req-{message_id}", "message": message, **extra})


def usage(n: int) -> dict:
    return {"input_tokens": n, "output_tokens": n, "cache_creation_input_tokens": n,
            "cache_read_input_tokens": n}  # fmt: skip


def ordinary(session: str, start: float = 0) -> list[dict]:
    """A prompt, a reply and a tool call."""
    return [
        hook(session, "UserPromptSubmit", start, prompt_id=f"{session}-p", prompt={"chars": 12, "lines": 1}),
        assistant(session, start + 1, f"{session}-m", usage(100)),
        hook(session, "PreToolUse", start + 2, tool_name="Bash", tool_use_id=f"{session}-t"),
        hook(session, "PostToolUse", start + 3, tool_name="Bash", tool_use_id=f"{session}-t"),
    ]


def hostile(session: str) -> list[dict]:
    """Every kind of value out of its column's range, odd types where numbers belong, times at the
    edges of the calendar, huge strings, in one session."""
    edit = {"filePath": "path:abc.py", "structuredPatch": [{"added": 2**63 - 1, "removed": U64_MAX}]}
    odd = {"input_tokens": "12", "output_tokens": 1.5, "cache_read_input_tokens": True,
           "cache_creation_input_tokens": None}  # fmt: skip
    result = {"message": {"content": [{"type": "tool_result", "tool_use_id": "sub1"}]},
              "toolUseResult": {"agentId": "sub", "totalDurationMs": U64_MAX, "totalTokens": True,
                                "agentType": "q" * 900}}  # fmt: skip
    return [
        # Counts beyond 64 bits signed, and two whose sum is (SQLite's SUM raises "integer overflow").
        assistant(session, 1, "m-u64", usage(U64_MAX)),
        assistant(session, 2, "m-big1", usage(2**62)),
        assistant(session, 3, "m-big2", usage(2**62)),
        # Counts that fit 64 bits but whose cost does not fit Decimal(16, 8).
        assistant(session, 4, "m-costly", usage(10**13)),
        # Odd types where numbers belong.
        assistant(session, 5, "m-odd", odd),
        hook(session, "UserPromptSubmit", 6, prompt_id="p-big", prompt={"chars": 2**40, "lines": True}),
        hook(session, "UserPromptSubmit", 7, prompt_id="p-neg", prompt={"chars": -5, "lines": U64_MAX}),
        # Line counts beyond 32 bits, twice (their sum is beyond 64).
        hook(session, "PostToolUse", 8, tool_name="Edit", tool_use_id="e1", tool_response=edit),
        hook(session, "PostToolUse", 9, tool_name="Write", tool_use_id="e2", tool_response=edit),
        # A duration no time can be computed from, and one of the wrong type.
        hook(session, "PostToolUse", 10, tool_name="Bash", tool_use_id="d1", duration_ms=1e300),
        hook(session, "PostToolUse", 11, tool_name="Bash", tool_use_id="d2", duration_ms="soon"),
        hook(session, "PostToolUse", 12, tool_name="Bash", tool_use_id="d3", duration_ms=YEAR_ONE_MS),
        hook(session, "PreToolUse", 13, tool_name=7, tool_use_id=12345),
        # Times at the edges of the calendar (an hour's neighbours do not exist there).
        hook(session, "PreToolUse", 0, tool_name="Bash", tool_use_id="t-first", at="0001-01-01T00:00:00Z"),
        hook(session, "PreToolUse", 0, tool_name="Bash", tool_use_id="t-last", at="9999-12-31T23:59:59Z"),
        hook(
            session, "PreToolUse", 0, tool_name="Bash", tool_use_id="t-over", at="9999-12-31T23:30:00-01:00"
        ),
        # Huge strings: a key longer than its column, texts in `detail`, a fork origin no column holds.
        hook(session, "PreToolUse", 14, tool_name="B" * 5000, tool_use_id=LONG),
        hook(session, "SubagentStart", 15, agent_id="a" * 400, agent_type="T" * 10_000),
        hook(session, "PreCompact", 16, trigger="z" * 10_000),
        assistant(session, 17, "m-fork", usage(5), requestSessionId="f" * 1000),
        record(session, "user", 18, result),
    ]


def encoded(events: list[dict]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]

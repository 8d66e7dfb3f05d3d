"""Cursor envelopes built by hand, exactly as docs/wire-format.md ("Cursor events") says the hook and the
database monitor send them (privacy-filtered: texts as {chars, lines, hash}, paths as hashes), for tests
of the slow path that must not depend on the capture code."""

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

PROJECT = {"hash": "a1b2c3d4e5f60718", "name": "telemetry-api"}


def _digest(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def text(chars: int) -> dict:
    return {"chars": chars, "lines": 1 if chars else 0, "hash": _digest("text", chars)[:16]}


def _metadata(capture: str, extra: dict | None) -> dict:
    return {"capture": capture, "capture_ts": "2030-01-01T00:00:00Z", "project": PROJECT, **(extra or {})}


def hook(
    event: str, conversation: str, generation: str, ms: int, *, tool: dict | None = None, meta: dict | None = None,
    **payload: Any,
) -> dict:  # fmt: skip
    """A hook call as the hook stores it (`timestamp` = capture time)."""
    body = {"conversation_id": conversation, "generation_id": generation, "hook_event_name": event, **payload}
    extra = dict(meta or {})
    if tool is not None:
        extra["tool"] = tool
    return {
        "event_id": f"cu:h:{_digest(body, ms)}",
        "platform": "cursor",
        "source": "hook",
        "event_type": event,
        "hook_type": event,
        "session_id": conversation,
        "timestamp": iso(ms),
        "payload": body,
        "metadata": _metadata("hook", extra),
    }


def _record(kind: str, event_id: str, session: str, ms: int, payload: dict) -> dict:
    return {
        "event_id": event_id,
        "platform": "cursor",
        "source": "database",
        "event_type": kind,
        "session_id": session,
        "timestamp": iso(ms),
        "payload": payload,
        "metadata": _metadata("database", {"workspace": "cd613e30d8f16adf91b7584a2265b1f5"}),
    }


def composer(
    conversation: str, *, created_ms: int, updated_ms: int, archived: bool = False, mode: str = "agent",
    lines_added: int | None = None, lines_removed: int | None = None, messages: int = 0, era: str = "v2",
) -> dict:  # fmt: skip
    payload = {
        "composerId": conversation, "era": era, "created_at_ms": created_ms, "last_updated_at_ms": updated_ms,
        "status": "completed", "mode": mode, "archived": archived, "model": "gpt-4.1",
        "lines_added": lines_added, "lines_removed": lines_removed, "messages": messages, "name": text(30),
    }  # fmt: skip
    revision = _digest(payload)[:16]
    return _record("composer", f"cu:db:composer:{conversation}:{revision}", conversation, created_ms, payload)


def bubble(
    conversation: str, bubble_id: str, *, role: str, ms: int, request_id: str = "", position: int = 0,
    model: str = "gpt-4.1", tokens: dict | None = None, cutover: bool = False, chars: int = 40,
    tool: dict | None = None,
) -> dict:  # fmt: skip
    payload = {
        "composerId": conversation, "bubbleId": bubble_id, "role": role, "request_id": request_id,
        "position": position, "model": model, "tokens": tokens, "tokens_zero_cutover": cutover,
        "text": text(0 if tool else chars), "thinking_chars": 0, "timing": None, "era": "v2",
    }  # fmt: skip
    if tool is not None:
        payload["tool"] = tool
    revision = _digest(payload)[:16]
    return _record("bubble", f"cu:db:bubble:{conversation}:{bubble_id}:{revision}", conversation, ms, payload)


def generation(conversation: str, generation_id: str, ms: int) -> dict:
    payload = {"generation_id": generation_id, "composerId": conversation, "type": "composer"}
    return _record("generation", f"cu:db:generation:{generation_id}", conversation, ms, payload)


def scored_commit(commit: str, branch: str, *, ms: int, **counts: Any) -> dict:
    payload = {"commitHash": commit, "branchName": branch, "scoredAt": ms, "commitDate": iso(ms), **counts}
    revision = _digest(payload)[:16]
    return _record(
        "scored_commit", f"cu:db:commit:{commit}:{branch}:{revision}", "cursor-ai-tracking", ms, payload
    )


def ai_code(
    code_hash: str, *, ms: int, conversation: str | None = None, source: str = "composer", **rest: Any
) -> dict:
    payload = {"hash": code_hash, "source": source, "model": rest.get("model", "gpt-4.1"),
               "file_extension": rest.get("file_extension", ".py"), "request_id": rest.get("request_id", ""),
               "conversation_id": conversation}  # fmt: skip
    return _record("ai_code", f"cu:db:aicode:{code_hash}", conversation or "cursor-ai-tracking", ms, payload)


def shell_tool(
    target: str, *, tool_use_id: str | None = None, name: str = "run_terminal_cmd", **more: Any
) -> dict:
    tool = {"kind": "shell", "name": name, "target_hash": target, **more}
    if tool_use_id:
        tool["tool_use_id"] = tool_use_id
    return tool


def edit_tool(target: str, *, tool_use_id: str | None = None, name: str = "edit_file", added: int = 0,
              removed: int = 0, extension: str = "py", **more: Any) -> dict:  # fmt: skip
    tool = {"kind": "edit", "name": name, "target_hash": target, "file_extension": extension,
            "path_hash": f"path:{target}.{extension.lstrip('.')}", "lines_added": added, "lines_removed": removed, **more}  # fmt: skip
    if tool_use_id:
        tool["tool_use_id"] = tool_use_id
    return tool


# --- one conversation, seen from both sides --------------------------------------------------------

CONV = "7ce42c82-1807-4e8c-b5bf-992dc9e9c616"
GEN1 = "c4647159-c324-4985-9b81-0e766ec9d286"
GEN2 = "e1ea24c4-f934-4c68-966b-aea148beab13"
T0 = 1762249532979  # 2025-11-04T09:45:32.979Z
SHELL = "5a5a5a5a5a5a5a5a"
EDIT = "e0e0e0e0e0e0e0e0"
READ = "d1d1d1d1d1d1d1d1"
MCP_DB = "3c3c3c3c3c3c3c3c"
MCP_HOOK = "4d4d4d4d4d4d4d4d"


def conversation_db() -> list[dict]:
    """What the database monitor sends for a two-turn conversation: the composer (two revisions), the
    generations and the bubbles (turn 1: prompt, a shell call, an edit, a text reply without tokens;
    turn 2: prompt, a read, a failed MCP call, a text reply with tokens)."""
    return [
        composer(CONV, created_ms=T0, updated_ms=T0 + 60_000, lines_added=3, lines_removed=1, messages=4),
        composer(CONV, created_ms=T0, updated_ms=T0 + 300_000, lines_added=9, lines_removed=2, messages=8),
        generation(CONV, GEN1, T0 + 1_000),
        generation(CONV, GEN2, T0 + 200_000),
        bubble(CONV, "b1", role="user", ms=T0 + 1_100, request_id=GEN1, position=0, chars=120),
        bubble(CONV, "b2", role="assistant", ms=T0 + 5_000, request_id=GEN1, position=1,
               tokens={"input": 100, "output": 5},
               tool=shell_tool(SHELL, tool_use_id="toolu_shell", status="completed")),
        bubble(CONV, "b3", role="assistant", ms=T0 + 20_000, request_id=GEN1, position=2,
               tokens={"input": 200, "output": 9},
               tool=edit_tool(EDIT, tool_use_id="toolu_edit", status="completed", added=3, removed=1)),
        bubble(CONV, "b4", role="assistant", ms=T0 + 30_000, request_id=GEN1, position=3, tokens=None),
        bubble(CONV, "b5", role="user", ms=T0 + 200_100, request_id=GEN2, position=4, chars=80),
        bubble(CONV, "b6", role="assistant", ms=T0 + 203_000, request_id=GEN2, position=5,
               tokens={"input": 300, "output": 0}, tool={"kind": "read", "name": "read_file",
               "target_hash": READ, "tool_use_id": "toolu_read", "status": "completed"}),
        bubble(CONV, "b6m", role="assistant", ms=T0 + 205_000, request_id=GEN2, position=6,
               tokens={"input": 0, "output": 0}, tool={"kind": "mcp", "name": "mcp_acme_query",
               "target_hash": MCP_DB, "tool_use_id": "toolu_mcp", "status": "error", "mcp_server": "acme"}),
        bubble(CONV, "b7", role="assistant", ms=T0 + 210_000, request_id=GEN2, position=7,
               tokens={"input": 400, "output": 50}),
    ]  # fmt: skip


def conversation_hooks() -> list[dict]:
    """What the hook sends for the same conversation (Cursor 2.x; the first stop carries tokens)."""
    shell = shell_tool(SHELL, name="Shell")
    # The hook names an MCP server by how it is launched, the record by its name: the targets differ.
    mcp = {"kind": "mcp", "name": "query", "target_hash": MCP_HOOK, "mcp_server": "@acme/mcp-sqlite"}
    return [
        hook("sessionStart", CONV, GEN1, T0 + 900, session_id=CONV, composer_mode="agent"),
        hook("beforeSubmitPrompt", CONV, GEN1, T0 + 1_000, prompt=text(120)),
        hook("preToolUse", CONV, GEN1, T0 + 4_000, tool=shell_tool(SHELL, name="Shell", tool_use_id="toolu_shell"),
             tool_name="Shell", tool_use_id="toolu_shell"),
        hook("beforeShellExecution", CONV, GEN1, T0 + 4_100, tool=shell, command=text(13)),
        hook("afterShellExecution", CONV, GEN1, T0 + 9_100, tool=shell, command=text(13), duration=5_000),
        hook("postToolUse", CONV, GEN1, T0 + 9_200, tool=shell_tool(SHELL, name="Shell", tool_use_id="toolu_shell"),
             tool_name="Shell", tool_use_id="toolu_shell", duration=5_100),
        hook("afterFileEdit", CONV, GEN1, T0 + 21_000, tool=edit_tool(EDIT, added=3, removed=1),
             meta={"lines_added": 3, "lines_removed": 1}, file_path="path:e0e0e0e0e0e0e0e0.py"),
        hook("afterAgentResponse", CONV, GEN1, T0 + 30_500, text=text(300), model="gpt-4.1"),
        hook("stop", CONV, GEN1, T0 + 30_600, status="completed", loop_count=0, model="gpt-4.1",
             input_tokens=1_000, output_tokens=70, cache_read_tokens=10, cache_write_tokens=5),
        hook("beforeSubmitPrompt", CONV, GEN2, T0 + 200_000, prompt=text(80)),
        hook("beforeReadFile", CONV, GEN2, T0 + 202_000, tool={"kind": "read", "name": "Read", "target_hash": READ},
             file_path="path:d1d1d1d1d1d1d1d1.py"),
        hook("beforeMCPExecution", CONV, GEN2, T0 + 204_000, tool=mcp, tool_name="query", tool_input=text(20)),
        hook("afterMCPExecution", CONV, GEN2, T0 + 206_000, tool=mcp, tool_name="query", duration=1_500),
        hook("afterAgentResponse", CONV, GEN2, T0 + 210_500, text=text(100), model="gpt-4.1"),
        hook("stop", CONV, GEN2, T0 + 210_600, status="completed", loop_count=0),
    ]  # fmt: skip

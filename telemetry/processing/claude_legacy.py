"""Facts of Claude Code events stored before capture put them in `metadata` (no `metadata.facts`).

That capture kept the shape of tool inputs and results in the payload (hashed paths, hunk summaries,
sub-agent figures), and these functions read the facts from there in the form capture now writes
them (`file_change`, `agent_run`, an edit call's path), so telemetry.processing.claude derives the
same rows from both. Pure, like claude.py; they also read whole records (events kept with content).
"""

from collections.abc import Mapping
from typing import Any


def hook_file_change(payload: Mapping) -> dict | None:
    """A PostToolUse hook's `file_change` ({path, lines_added, lines_removed}), or None."""
    response, tool_input = payload.get("tool_response"), payload.get("tool_input")
    if not isinstance(response, dict):
        return None
    path = response.get("filePath") or (tool_input.get("file_path") if isinstance(tool_input, dict) else None)
    return result_file_change(response, path=path, metadata=None)


def result_file_change(result: Mapping, *, path: Any, metadata: Mapping | None) -> dict | None:
    """A Write/Edit result's `file_change`: line counts from capture's `lines_added`/`lines_removed`
    when it wrote them, else from the stored patch (hunk summaries, or whole hunks)."""
    if path is None or ("structuredPatch" not in result and result.get("type") != "create"):
        return None
    lines = None
    if metadata and isinstance(metadata.get("lines_added"), int):
        lines = (metadata["lines_added"], metadata.get("lines_removed") or 0)
    lines = lines or _patch_lines(result) or (0, 0)
    return {"path": path, "lines_added": lines[0], "lines_removed": lines[1]}


def result_agent_run(result: Mapping) -> dict:
    """A Task/Agent result's `agent_run` (empty `agent_id` when it is no sub-agent's result)."""
    return {
        "agent_id": result.get("agentId"), "agent_type": result.get("agentType"),
        "status": result.get("status"), "duration_ms": result.get("totalDurationMs"),
        "total_tokens": result.get("totalTokens"), "tool_uses": result.get("totalToolUseCount"),
    }  # fmt: skip


def block_edit_path(block: Mapping) -> tuple[bool, Any]:
    """(is a file edit, the path its input names) of an edit tool's tool_use block."""
    tool_input = block.get("input")
    if not isinstance(tool_input, dict):
        return False, None
    return True, tool_input.get("file_path") or tool_input.get("notebook_path")


def _patch_lines(result: Mapping) -> tuple[int, int] | None:
    patch = result.get("structuredPatch")
    if isinstance(patch, list) and patch:
        added = removed = 0
        for hunk in patch:
            if not isinstance(hunk, dict):
                continue
            if isinstance(hunk.get("added"), int):
                added += hunk["added"]
                removed += hunk.get("removed") or 0
            elif isinstance(hunk.get("lines"), list):
                added += sum(1 for x in hunk["lines"] if isinstance(x, str) and x.startswith("+"))
                removed += sum(1 for x in hunk["lines"] if isinstance(x, str) and x.startswith("-"))
        return added, removed
    if result.get("type") == "create":
        content = result.get("content")  # {chars, lines, hash} as filtered, or the text itself
        if isinstance(content, dict):
            lines = content.get("lines")
            return (lines if isinstance(lines, int) else 0), 0
        if isinstance(content, str):
            return content.count("\n") + (1 if content and not content.endswith("\n") else 0), 0
        return 0, 0
    return (0, 0) if isinstance(patch, list) else None

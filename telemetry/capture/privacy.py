"""Privacy filtering at capture: what leaves this module is what may reach Redis, the spool and the store.

By default, text (prompts, assistant text, thinking, file contents, edit strings, commands, command
output, tool results) is replaced by its size, line count and a salted hash; paths are replaced by a
salted hash that keeps the file extension; identifiers, enum-like fields, numbers, booleans and the
shape of every object are kept. docs/privacy.md lists exactly what is kept. With `store_content`
(opt-in) records are kept whole.

Stdlib only and cheap to import (no `re`, `json` or `hashlib`): the hook imports this on every call.
"""

import os

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter without the builtin module
    from hashlib import blake2b

SALT_BYTES = 32
# Strings under these keys are identifiers or enum-like values, never user content. Longer values than
# SAFE_MAX_CHARS are summarised anyway: a key reused for free text must not leak it.
SAFE_KEYS = frozenset(
    {
        # transcript record envelope and ids
        "type", "subtype", "uuid", "parentUuid", "logicalParentUuid", "leafUuid", "sessionId",
        "requestSessionId", "timestamp", "agentId", "requestId", "version", "gitBranch", "userType",
        "level", "toolUseID", "toolUseId", "tool_use_id", "id", "messageId", "snapshotMessageId",
        "sourceToolAssistantUUID", "sourceToolUseID", "promptId", "entrypoint", "slug", "operation",
        "mode", "permissionMode", "renderedRole", "rowSource", "promptSource", "turnOrigin",
        "backupTime", "createdAt", "updatedAt", "apiErrorType", "hookName", "hookEvent", "decision",
        "reasonType", "status", "agentType", "resolvedModel", "originalModel", "fallbackModel",
        "returnCodeInterpretation", "uuids", "allUuids", "headUuid", "anchorUuid", "tailUuid",
        "tools", "toolsUsed", "updatedFields", "matches", "names", "digests", "harnessSectionHash",
        "hash", "requestShape", "platform", "shell", "from", "to", "taskId",
        # message structure
        "role", "model", "name", "stop_reason", "stop_sequence", "service_tier", "speed",
        "modelId", "marketingName", "knowledgeCutoff",
        # tool input fields that are choices, not content
        "subagent_type", "output_mode", "effort",
        # hook payload fields
        "hook_event_name", "session_id", "prompt_id", "tool_name", "agent_id", "agent_type",
        "permission_mode", "source", "reason", "trigger", "notification_type", "memory_type",
        "load_reason", "expansion_type", "command_source", "command_name", "message_id", "turn_id",
        "from_model", "to_model", "requested_model", "cache_ttl", "pricing", "event", "task_id",
        "destination", "matcher",
    }
)  # fmt: skip
SAFE_MAX_CHARS = 200
# Strings (or lists of strings) under these keys are paths: hashed, extension kept.
PATH_KEYS = frozenset(
    {
        "cwd", "file_path", "filePath", "path", "notebook_path", "transcript_path",
        "agent_transcript_path", "old_cwd", "new_cwd", "workingDirectory", "filename", "filenames",
        "realParentDir", "trackingPath", "backupFileName", "displayPath", "directories",
        "additionalWorkingDirectories", "workspace_roots", "paths",
    }
)  # fmt: skip
# Objects made only of counts and model names: kept whole.
WHOLE_KEYS = frozenset({"usage", "modelUsage", "cache_creation", "server_tool_use"})


class Privacy:
    """The filter one install applies: its salt, and whether the user opted in to keep content."""

    __slots__ = ("_key", "store_content")

    def __init__(self, salt: bytes, *, store_content: bool = False) -> None:
        self._key = salt[:64]  # BLAKE2b keys are at most 64 bytes
        self.store_content = store_content

    def digest(self, data: str | bytes) -> str:
        """Salted 64-bit hash (16 hex): equal inputs compare equal within one install, nothing more."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        return blake2b(data, key=self._key, digest_size=8).hexdigest()

    def path(self, value: str) -> str:
        """A path as `path:<hash><.ext>`; the extension (up to 10 alphanumerics) is kept."""
        base = value.rstrip("/\\").rsplit("/", 1)[-1]
        dot = base.rfind(".")
        ext = base[dot:] if dot > 0 and len(base) - dot <= 11 and base[dot + 1 :].isalnum() else ""
        return f"path:{self.digest(value)}{ext}"

    def text(self, value: str) -> dict:
        """What is kept of a piece of text: its size in characters, its line count and a salted hash."""
        lines = value.count("\n") + (1 if value and not value.endswith("\n") else 0)
        return {"chars": len(value), "lines": lines, "hash": self.digest(value)}

    def project(self, cwd: str | None) -> dict | None:
        """The project of a working directory: its git root's salted hash and folder name.

        The root is the nearest ancestor holding `.git`; a directory that no longer exists (an old
        transcript) or is in no repository stands for itself.
        """
        if not cwd or not isinstance(cwd, str):
            return None
        root = _git_root(cwd) or cwd.rstrip("/") or "/"
        return {"hash": self.digest(root), "name": os.path.basename(root) or root}

    def filter(self, value: object) -> object:
        """A hook payload or a transcript record as it may be stored."""
        if self.store_content:
            return value
        return self._reduce(value, None)

    def _reduce(self, value: object, key: str | None) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            if key in SAFE_KEYS and len(value) <= SAFE_MAX_CHARS and not _looks_like_path(value):
                return value
            if key in PATH_KEYS or (key in SAFE_KEYS and _looks_like_path(value)):
                return self.path(value)
            return self.text(value)
        if isinstance(value, dict):
            return {self._key_name(k): self._reduce_item(k, v) for k, v in value.items()}
        if isinstance(value, list):
            if value and key not in SAFE_KEYS and key not in PATH_KEYS and _all_str(value):
                return {"items": len(value), **self.text("\n".join(value))}
            return [self._reduce(item, key) for item in value]
        return self.text(str(value))

    def _reduce_item(self, key: str, value: object) -> object:
        if key in WHOLE_KEYS and isinstance(value, dict):
            return value
        if key == "structuredPatch" and isinstance(value, list):
            return [_hunk_summary(h) for h in value]
        return self._reduce(value, key)

    def _key_name(self, key: str) -> str:
        # Object keys are usually field names; some objects are keyed by file path.
        return self.path(key) if "/" in key or "\\" in key else key


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", "\\")) or value[1:3] == ":\\"


def _all_str(items: list) -> bool:
    return all(isinstance(item, str) for item in items)


def _git_root(cwd: str) -> str | None:
    path = cwd.rstrip("/") or "/"
    for _ in range(64):
        if os.path.exists(path + "/.git"):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return None


def _hunk_summary(hunk: object) -> object:
    if not isinstance(hunk, dict):
        return None
    lines = hunk.get("lines") if isinstance(hunk.get("lines"), list) else []
    summary = {k: hunk[k] for k in ("oldStart", "oldLines", "newStart", "newLines") if k in hunk}
    summary["added"] = sum(1 for line in lines if isinstance(line, str) and line.startswith("+"))
    summary["removed"] = sum(1 for line in lines if isinstance(line, str) and line.startswith("-"))
    return summary


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
            summary = _hunk_summary(hunk)
            if summary:
                added += summary["added"]
                removed += summary["removed"]
        return added, removed
    if result.get("type") == "create" and isinstance(result.get("content"), str):
        content = result["content"]
        return content.count("\n") + (1 if content and not content.endswith("\n") else 0), 0
    if isinstance(patch, list):
        return 0, 0
    return None


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
        if not isinstance(tool_id, str):
            continue
        interrupted = len(results) == 1 and isinstance(own, dict) and own.get("interrupted") is True
        if block.get("is_error") is not True and not interrupted:
            continue
        text = _result_text(block) + " " + (own if len(results) == 1 and isinstance(own, str) else "")
        outcomes[tool_id] = outcome_of(text, interrupted=interrupted)
    return outcomes


def salt_load(path: str, *, create: bool = True) -> bytes:
    """The per-install salt, created (mode 0600) on first use; b"" only if it can be neither read nor made."""
    try:
        with open(path, "rb") as f:
            salt = f.read()
        if salt:
            return salt
    except FileNotFoundError:
        pass
    if not create:
        return b""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Write aside, then link into place: a reader never sees a half-written salt, and of two processes
    # racing to create it, the second one finds the first one's and uses that.
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(SALT_BYTES))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path, "rb") as f:
        return f.read()

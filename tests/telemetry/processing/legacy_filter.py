"""The privacy filter as it was before positions (commit 93756ab), frozen: what events stored by
earlier versions look like. The slow path must keep deriving the same rows from them.

Copied, not imported: it is a record of a format users have in their databases, not code to change.
"""

from telemetry.capture.privacy import Privacy

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
# Facts that capture put in metadata only from this version on; the old capture wrote the others.
NEW_METADATA = frozenset({"facts", "file_change", "edit_paths", "agent_run"})


class KeyNamePrivacy(Privacy):
    """The old filter: SAFE_KEYS kept verbatim at any depth, the shape of every object kept."""

    __slots__ = ()

    def filter(self, value: object) -> object:
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


def _hunk_summary(hunk: object) -> object:
    if not isinstance(hunk, dict):
        return None
    lines = hunk.get("lines") if isinstance(hunk.get("lines"), list) else []
    summary = {k: hunk[k] for k in ("oldStart", "oldLines", "newStart", "newLines") if k in hunk}
    summary["added"] = sum(1 for line in lines if isinstance(line, str) and line.startswith("+"))
    summary["removed"] = sum(1 for line in lines if isinstance(line, str) and line.startswith("-"))
    return summary


def envelope_legacy(envelope: dict, *, privacy: KeyNamePrivacy) -> dict:
    """The envelope the old capture wrote, from one built with content kept (`store_content`)."""
    metadata = {k: v for k, v in envelope["metadata"].items() if k not in NEW_METADATA}
    payload = envelope["payload"]
    if envelope["source"] == "hook" and set(payload) == {"unparsed"}:
        payload = {"unparsed": privacy.text(payload["unparsed"])}
    else:
        payload = privacy.filter(payload)
    return {**envelope, "payload": payload, "metadata": metadata}

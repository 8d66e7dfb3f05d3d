"""What leaves the machine at each level (docs/team.md, "Levels"). Pure: envelopes in, envelopes out.

- content: the envelope as stored.
- metadata: what Blueplane stores by default. Content the local store holds because the person opted
  in locally (`BLUEPLANE_CAPTURE_STORE_CONTENT`) is removed by applying the capture's default filter
  (privacy.py) again. That filter is made idempotent here (ReFilter): a value it already summarised
  ({chars, lines, hash} or {bytes, items, hash}) or a path it already hashed (`path:...`) stays as it
  is, so an event captured without content passes unchanged. Sources with no such filter (Cursor's
  database, OTel) are forwarded as stored when they hold no content (OTel says so in
  `metadata.content_kept`; Cursor's database records when this install keeps no content), else at
  the counts level.
- counts: numbers, ids, times, types, models and tool names; no hashes, names, paths or content.
"""

from telemetry.capture.privacy import Privacy

ENVELOPE_KEYS = ("event_id", "platform", "source", "event_type", "session_id", "timestamp", "hook_type")
# Strings kept at the counts level, under these keys only, and only when they are identifiers.
COUNT_STRINGS = frozenset(
    {
        "hook_event_name", "hookEventName", "session_id", "sessionId", "prompt_id", "promptId", "tool_use_id",
        "toolUseID", "tool_name", "toolName", "agent_id", "agentId", "agent_type", "permission_mode",
        "permissionMode", "source", "reason", "trigger", "notification_type", "model", "from_model", "to_model",
        "requested_model", "requestedModel", "originalModel", "fallbackModel", "type", "subtype", "timestamp",
        "uuid", "parentUuid", "logicalParentUuid", "requestId", "messageId", "message_id", "turn_id", "id",
        "role", "stop_reason", "stopReason", "version", "conversation_id", "generation_id", "status",
        "final_status", "composer_mode", "capture", "capture_ts", "event", "task_id", "cursor_version",
        "service_tier", "speed", "timestamp_from", "apiErrorType", "subagent_type", "failure_type",
    }
)  # fmt: skip
# A `name` is a tool's in these blocks (a tool_use's name), a person's or a folder's elsewhere.
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
SUMMARY_KEYS = ({"chars", "lines", "hash"}, {"bytes", "items", "hash"})


def envelope_leveled(envelope: dict, level: str, *, privacy: Privacy, local_content: bool = False) -> dict:
    """The envelope to forward at `level`, with neither `user_id` (the server sets it) nor `machine_id`
    (the caller adds it). `privacy` carries the salt that re-filtering hashes with; `local_content`
    says whether this install keeps content (for sources without a filter to apply again)."""
    if level == "content":
        out = dict(envelope)
    elif level == "metadata":
        out = metadata_level(envelope, privacy=privacy, local_content=local_content)
    elif level == "counts":
        out = counts_level(envelope)
    else:
        raise ValueError(f"unknown level {level!r}")
    out.pop("user_id", None)
    out.pop("machine_id", None)
    return out


class ReFilter(Privacy):
    """The default filter, leaving alone what it already filtered (see the module docstring)."""

    __slots__ = ()

    def content(self, value: object) -> object:
        if isinstance(value, dict) and set(value) in SUMMARY_KEYS:
            return value
        return super().content(value)

    def path(self, value: str) -> str:
        return value if value.startswith("path:") else super().path(value)

    def _level(self, obj: dict, *args, **kwargs) -> dict:
        # A key the filter hashed (`field:<hash>`) is not hashed again; its value was summarised too.
        hashed = {k: v for k, v in obj.items() if isinstance(k, str) and k.startswith("field:")}
        if not hashed:
            return super()._level(obj, *args, **kwargs)
        out = super()._level({k: v for k, v in obj.items() if k not in hashed}, *args, **kwargs)
        out.update({k: self.content(v) if isinstance(v, str | list) else v for k, v in hashed.items()})
        return out


def metadata_level(envelope: dict, *, privacy: Privacy, local_content: bool) -> dict:
    out = dict(envelope)
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return out
    source, platform = envelope.get("source"), envelope.get("platform")
    refilter = ReFilter(privacy._key)
    if source == "hook":
        filtered = (refilter.cursor_hook_filter if platform == "cursor" else refilter.hook_filter)(payload)
    elif source == "transcript":
        filtered = refilter.record_filter(payload)
    elif source == "otel":
        metadata = envelope.get("metadata") or {}
        return counts_level(envelope) if metadata.get("content_kept") is not False else out
    else:
        return counts_level(envelope) if local_content else out
    out["payload"] = filtered
    return out


def counts_level(envelope: dict) -> dict:
    out = {k: envelope[k] for k in ENVELOPE_KEYS if k in envelope}
    payload = envelope.get("payload")
    out["payload"] = _counts(payload) if isinstance(payload, dict) else {}
    metadata = envelope.get("metadata")
    if isinstance(metadata, dict):
        out["metadata"] = _counts(metadata)
    return out


def _counts(value: dict) -> dict:
    out: dict = {}
    tool_block = value.get("type") in TOOL_BLOCKS
    for key, item in value.items():
        if not isinstance(key, str) or key.startswith("field:") or key in ("hash", "project", "name"):
            if key == "name" and tool_block and _kept_string(item):
                out[key] = item
            continue
        if item is None or isinstance(item, bool | int | float):
            out[key] = item
        elif isinstance(item, str):
            if key in COUNT_STRINGS and _kept_string(item):
                out[key] = item
        elif isinstance(item, dict):
            out[key] = _counts(item)
        elif isinstance(item, list):
            out[key] = [_counts(v) if isinstance(v, dict) else v for v in item if _list_item_kept(v)]
    return out


def _list_item_kept(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | dict)


def _kept_string(value: object) -> bool:
    """An identifier, not a path or a hashed path, not text (privacy.identifier's rule)."""
    return (
        isinstance(value, str)
        and len(value) <= 200
        and value.isprintable()
        and " " not in value
        and not value.startswith(("path:", "/", "~", "\\"))
    )

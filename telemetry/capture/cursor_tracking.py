"""Envelopes of Cursor's smaller records: `generation` (a workspace's aiService.generations entry, joined
to a conversation), `scored_commit` and `ai_code` (rows of ~/.cursor/ai-tracking/ai-code-tracking.db).

A generation is joined to a conversation through a bubble's `requestId` (= generationUUID); generations
of the eras whose bubbles carry no requestId (v0, v1) are joined by time instead, when exactly one such
conversation of the same workspace was open (between its createdAt and lastUpdatedAt) at the
generation's `unixMs`. Unjoined generations are not sent. The commit message and the file name never
leave as they are: a size and hash, and a path hash.
"""

from .cursor_paths import path_absolute, path_join
from .cursor_records import AI_TRACKING_SESSION, Record, _ident, envelope, ms_of, revision_of
from .privacy import Privacy

TIME_JOIN_ERAS = ("v0", "v1")
SCORED_COMMIT_TEXT = frozenset({"commitHash", "branchName", "commitDate", "v1AiPercentage", "v2AiPercentage"})


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def generation_record(generation: dict, *, composer_id: str, joined: str, place: dict) -> Record | None:
    uuid, ms = generation.get("generationUUID"), ms_of(generation.get("unixMs"))
    if not _ident(uuid) or ms is None:
        return None
    payload = {
        "generation_id": uuid,
        "composerId": composer_id,
        "type": _ident(generation.get("type")),
        "joined": joined,
    }
    return Record(
        key=f"generation:{uuid}",
        revision="",
        envelope=envelope(
            event_type="generation",
            event_id=f"cu:db:generation:{uuid}",
            session_id=composer_id,
            ts_ms=ms,
            payload=payload,
            metadata=place,
        ),
    )


def time_join(ms: int, windows: list[tuple[str, int | None, int | None]]) -> str | None:
    """The one conversation (id, createdAt, lastUpdatedAt) open at `ms`, or None if none or several."""
    open_at = [
        cid for cid, start, end in windows if start is not None and end is not None and start <= ms <= end
    ]
    return open_at[0] if len(open_at) == 1 else None


def ai_code_record(row: dict, *, root: str | None, place: dict, privacy: Privacy) -> Record | None:
    """One ai_code_hashes row. `root` (the conversation's workspace's first root) makes a relative
    fileName absolute, so its hash equals the hook's and the tool call's for the same file."""
    code_hash = row.get("hash")
    ms = ms_of(row.get("createdAt")) or ms_of(row.get("timestamp"))
    if not _ident(code_hash) or ms is None:
        return None
    conversation = _ident(row.get("conversationId"))
    file_name = row.get("fileName")
    path_hash = None
    if isinstance(file_name, str) and file_name:
        absolute = file_name if path_absolute(file_name) or not root else path_join(root, file_name)
        path_hash = privacy.path(absolute)
    extension = row.get("fileExtension")
    if isinstance(extension, str) and extension and not extension.startswith("."):
        extension = "." + extension  # both `.ts` and `ts` occur
    payload = {
        "hash": code_hash,
        "source": _ident(row.get("source")),
        "model": _ident(row.get("model")),
        "file_extension": extension if _ident(extension) else None,
        "path_hash": path_hash,
        "request_id": _ident(row.get("requestId")),
        "conversation_id": conversation,
        "created_at_ms": ms,
    }
    return Record(
        key=f"aicode:{code_hash}",
        revision=revision_of(payload, ""),
        envelope=envelope(
            event_type="ai_code",
            event_id=f"cu:db:aicode:{code_hash}",
            session_id=conversation or AI_TRACKING_SESSION,
            ts_ms=ms,
            payload=payload,
            metadata=place,
        ),
    )


def scored_commit_record(row: dict, *, privacy: Privacy) -> Record | None:
    commit, branch, ms = row.get("commitHash"), row.get("branchName"), ms_of(row.get("scoredAt"))
    if not _ident(commit) or not isinstance(branch, str) or ms is None:
        return None
    payload: dict = {}
    for name, value in row.items():
        if name == "commitMessage":
            if value is not None:
                payload[name] = value if privacy.store_content else privacy.content(value)
        elif _number(value) or (isinstance(value, str) and name in SCORED_COMMIT_TEXT):
            payload[name] = value
    payload.setdefault("branchName", branch)
    revision = revision_of(payload, "")
    return Record(
        key=f"commit:{commit}:{branch}",
        revision=revision,
        envelope=envelope(
            event_type="scored_commit",
            event_id=f"cu:db:commit:{commit}:{branch}:{revision}",
            session_id=AI_TRACKING_SESSION,
            ts_ms=ms,
            payload=payload,
            metadata={},
        ),
    )

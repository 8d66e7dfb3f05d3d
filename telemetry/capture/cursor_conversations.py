"""Cursor's three storage eras, read into one shape (cursor_records.Conversation).

Told apart by shape, not version number (docs: cursor-formats §3.4): a global `composerData` with
`fullConversationHeadersOnly` is v2 (one `bubbleId:` row per message); one with an inline
`conversation[]` is v1; a composer kept whole in a workspace's `composer.composerData` is v0, and a
legacy chat tab (`workbench.panel.aichat.view.aichat.chatdata`) is `tab`. A workspace's `head` entries
link it to its global composers. Messages count only when referenced (headers, inline lists, tab
bubbles): orphan and NULL rows are not messages, and a composer without composerData (deleted) is not a
conversation.
"""

from dataclasses import dataclass, field

from .cursor_db import WORKSPACE_COMPOSERS, WORKSPACE_GENERATIONS, WORKSPACE_TABS, value_json
from .cursor_paths import Workspace
from .cursor_records import Conversation, ms_of

ROLES = {1: "user", 2: "assistant", "user": "user", "ai": "assistant", "assistant": "assistant"}


@dataclass
class WorkspaceData:
    """What one workspace database says: heads of global composers, its own v0 composers and tabs,
    and its recent generations."""

    heads: dict[str, dict] = field(default_factory=dict)
    conversations: list[Conversation] = field(default_factory=list)
    generations: list[dict] = field(default_factory=list)


def _bubble_id(bubble: dict) -> str | None:
    value = bubble.get("bubbleId") or bubble.get("id")
    return value if isinstance(value, str) and value else None


def _inline(conversation: object) -> tuple[list[tuple[str, str]], dict[str, dict]]:
    headers, inline = [], {}
    for bubble in conversation if isinstance(conversation, list) else []:
        if not isinstance(bubble, dict):
            continue
        bubble_id, role = _bubble_id(bubble), ROLES.get(bubble.get("type"))
        if bubble_id and role and bubble_id not in inline:
            headers.append((bubble_id, role))
            inline[bubble_id] = bubble
    return headers, inline


def composer_conversation(
    composer_id: str, data: object, *, workspace: Workspace | None, head: dict | None
) -> Conversation | None:
    """A global composerData row as a conversation (v2 or v1); None when it is not an object."""
    if not isinstance(data, dict):
        return None
    headers_only = data.get("fullConversationHeadersOnly")
    if isinstance(headers_only, list) or not isinstance(data.get("conversation"), list):
        headers = []
        for header in headers_only if isinstance(headers_only, list) else []:
            if isinstance(header, dict):
                bubble_id, role = _bubble_id(header), ROLES.get(header.get("type"))
                if bubble_id and role:
                    headers.append((bubble_id, role))
        return Conversation(composer_id, "v2", data, headers, workspace=workspace, head=head)
    headers, inline = _inline(data["conversation"])
    return Conversation(composer_id, "v1", data, headers, inline, workspace=workspace, head=head)


def workspace_data(workspace: Workspace, values: dict) -> WorkspaceData:
    """The heads, v0 composers, tabs and generations of one workspace's ItemTable values."""
    out = WorkspaceData()
    composers = value_json(values.get(WORKSPACE_COMPOSERS))
    for entry in composers.get("allComposers", []) if isinstance(composers, dict) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("composerId"), str):
            continue
        composer_id = entry["composerId"]
        if isinstance(entry.get("conversation"), list):
            headers, inline = _inline(entry["conversation"])
            out.conversations.append(
                Conversation(composer_id, "v0", entry, headers, inline, workspace=workspace)
            )
        else:
            out.heads[composer_id] = entry
    chat = value_json(values.get(WORKSPACE_TABS))
    for tab in chat.get("tabs", []) if isinstance(chat, dict) else []:
        if not isinstance(tab, dict) or not isinstance(tab.get("tabId"), str):
            continue
        headers, inline = _inline(tab.get("bubbles"))
        # A tab has a title and a last send time only: they stand in for a composer's name and times.
        data = {"name": tab.get("chatTitle"), "lastUpdatedAt": tab.get("lastSendTime")}
        out.conversations.append(
            Conversation(tab["tabId"], "tab", data, headers, inline, workspace=workspace)
        )
    generations = value_json(values.get(WORKSPACE_GENERATIONS))
    for generation in generations if isinstance(generations, list) else []:
        if (
            isinstance(generation, dict)
            and isinstance(generation.get("generationUUID"), str)
            and ms_of(generation.get("unixMs")) is not None
        ):
            out.generations.append(generation)
    return out

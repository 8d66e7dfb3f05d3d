"""Wire envelopes (docs/wire-format.md, "Cursor events") of Cursor's hook calls, and the hook's reply.

One envelope per call: `platform` cursor, `source` hook, `event_type` = `hook_type` = the event name
(`hook_event_name`, or the CLI's `hookEventName`), `session_id` = the conversation. Content is filtered
here (Privacy.cursor_hook_filter), before anything reaches Redis or the spool. What the slow path
needs from inside a tool call is read first into `metadata.tool`, whose hashes are the ones the
database monitor computes for the same thing (Privacy.digest of the command, of the absolute path,
of `<server>/<tool>`), so the two views of one call join.

Tool facts, by hook (`name` is the tool's name as Cursor's own preToolUse calls it):
- beforeShellExecution, afterShellExecution: kind `shell`, name `Shell`, target the command.
- beforeReadFile: kind `read`, name `Read`, target the file's absolute path.
- afterFileEdit: kind `edit`, name `Edit`, target the absolute path; with `lines_added`/`lines_removed`
  from `edits` (a list, or a JSON string holding one), also at the top of `metadata` (the raw index).
- beforeMCPExecution, afterMCPExecution: kind `mcp`, name the MCP tool, target `<server>/<tool>`.
  Cursor does not name the server in the payload, so `mcp_server` is read from how it is reached
  (mcp_server_name): a `url`'s host (`mcp.example.com`, never its path, query or credentials), or the
  package or script a `command` launches (`npx -y @acme/mcp-sqlite` -> `@acme/mcp-sqlite`,
  `python3 /srv/weather.py` -> `weather.py`). Best effort: two servers behind one host are one here.
- preToolUse, postToolUse, postToolUseFailure: kind from `tool_name` (TOOL_KINDS; `MCP:<name>` is
  `mcp` with target `<name>`, as no server is given), `tool_use_id` kept, target from `tool_input`
  (its `command`, or its file path made absolute against the first workspace root).
A relative path is made absolute against the first workspace root (else `cwd`), as the database
monitor does with a bubble's relative path, so both hash the same string.

Stdlib only and cheap to import: the hook imports this module (python -I -S).
"""

import os

try:
    from .claude_events import (
        MAX_ID_CHARS,
        MAX_TYPE_CHARS,
        UNKNOWN,
        hook_digest,
        hook_payload_read,
        iso_from_ns,
    )
    from .jsonlite import loads
    from .privacy import Privacy, identifier
except ImportError:  # the hook runs this file's folder as top-level modules (python -I -S hook.py)
    from claude_events import (
        MAX_ID_CHARS,
        MAX_TYPE_CHARS,
        UNKNOWN,
        hook_digest,
        hook_payload_read,
        iso_from_ns,
    )
    from jsonlite import loads
    from privacy import Privacy, identifier

PLATFORM = "cursor"

# What lets the action proceed unchanged (docs: cursor-formats §2.2). An observer never answers
# `permission: allow`: that would run a command the user meant to confirm.
REPLY_CONTINUE = b'{"continue":true}\n'
REPLY_EMPTY = b"{}\n"
CONTINUE_EVENTS = frozenset({"beforeSubmitPrompt"})

# preToolUse's `tool_name` -> metadata.tool kind (an `MCP:` prefix is mcp; anything else is other).
TOOL_KINDS = {
    "Shell": "shell", "Read": "read", "Write": "edit", "Edit": "edit", "Delete": "edit",
    "Grep": "search", "Glob": "search",
}  # fmt: skip
# The hooks named after one kind of tool: (kind, name).
EVENT_TOOLS = {
    "beforeShellExecution": ("shell", "Shell"),
    "afterShellExecution": ("shell", "Shell"),
    "beforeReadFile": ("read", "Read"),
    "afterFileEdit": ("edit", "Edit"),
    "beforeMCPExecution": ("mcp", None),
    "afterMCPExecution": ("mcp", None),
}
GENERIC_TOOL_EVENTS = frozenset({"preToolUse", "postToolUse", "postToolUseFailure"})
# Launchers whose first non-option argument names the MCP server they start.
LAUNCHERS = frozenset(
    {"npx", "bunx", "pnpx", "uvx", "pipx", "node", "deno", "bun", "python", "python3", "uv", "docker", "podman"}
)  # fmt: skip
# Words that follow a launcher before the server's name (`uv run`, `docker run`, `deno run`, `pnpm dlx`).
LAUNCHER_VERBS = frozenset({"run", "dlx", "exec", "x", "tool"})
MAX_NAME_CHARS = 128


def event_name(payload: object) -> str:
    """The hook's event name (the IDE's `hook_event_name`, the CLI's `hookEventName`), or "unknown"."""
    if not isinstance(payload, dict):
        return UNKNOWN
    name = payload.get("hook_event_name") or payload.get("hookEventName")
    return name if identifier(name) and 0 < len(name) <= MAX_TYPE_CHARS else UNKNOWN


def hook_reply(raw: bytes, *, event: str = "") -> bytes:
    """The one line of JSON the hook prints for this stdin: `{"continue":true}` for beforeSubmitPrompt,
    `{}` for everything else. A stdin that names no event (unparsable, empty) gets the reply of `event`,
    the one the installed line runs the hook for, as the line itself prints when the hook cannot run."""
    try:
        payload = loads(raw)
    except Exception:
        payload = None
    name = event_name(payload)
    name = event if name == UNKNOWN else name
    return REPLY_CONTINUE if name in CONTINUE_EVENTS else REPLY_EMPTY


def hook_envelope(raw: bytes, *, capture_ns: int, privacy: Privacy) -> dict:
    """The envelope of one Cursor hook call: `raw` is exactly what the hook read on stdin.

    The id hashes the payload with the capture time (as Claude Code's), so two identical calls stay
    two events, and the spool replays the envelope as built here.
    """
    timestamp = iso_from_ns(capture_ns)
    payload, source = hook_payload_read(raw, privacy=privacy)
    kind = event_name(source)
    digest = hook_digest(raw, capture_ns=capture_ns, privacy=privacy)
    metadata: dict = {"capture_ts": timestamp, "capture": "hook", "payload_bytes": len(raw)}
    roots = source.get("workspace_roots")
    root = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else None
    project = privacy.project(root)
    if project:
        metadata["project"] = project
    tool = tool_facts(source, event=kind, root=root, privacy=privacy)
    if tool:
        metadata["tool"] = tool
        if "lines_added" in tool:
            metadata["lines_added"], metadata["lines_removed"] = tool["lines_added"], tool["lines_removed"]
    return {
        "event_id": f"cu:h:{digest}",
        "platform": PLATFORM,
        "source": "hook",
        "event_type": kind,
        "hook_type": kind,
        "session_id": _session(source),
        "timestamp": timestamp,
        "payload": privacy.cursor_hook_filter(payload) if source else payload,
        "metadata": metadata,
    }


def _session(payload: dict) -> str:
    for key in ("conversation_id", "session_id"):
        value = payload.get(key)
        if identifier(value) and 0 < len(value) <= MAX_ID_CHARS:
            return value
    return UNKNOWN


# --- tool facts, read before filtering ----------------------------------------------------------------


def lines(text: object) -> int:
    """Lines of an edit string (docs: cursor-formats §2.4): newlines, plus one for an unterminated last line."""
    if not isinstance(text, str):
        return 0
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def edit_lines(edits: object) -> tuple[int, int] | None:
    """(added, removed) of an afterFileEdit's `edits`: `new_string` lines are added, `old_string` lines
    removed. `edits` is a list, or a JSON string holding one (some builds); None when it is neither."""
    if isinstance(edits, str):
        try:
            edits = loads(edits)
        except Exception:
            return None
    if not isinstance(edits, list):
        return None
    added = removed = 0
    for edit in edits:
        if isinstance(edit, dict):
            added += lines(edit.get("new_string"))
            removed += lines(edit.get("old_string"))
    return added, removed


def absolute_path(path: str, *, cwd: object, root: str | None) -> str:
    """`path` as an absolute path string: as it is when absolute, else joined to the first workspace
    root (else `cwd`) and normalised. The string whose hash both capture paths compute."""
    if path.startswith("/") or path[1:3] in (":\\", ":/"):
        return path
    base = root or (cwd if isinstance(cwd, str) and cwd.startswith("/") else None)
    return os.path.normpath(base.rstrip("/") + "/" + path) if base else path


def file_extension(path: str) -> str | None:
    """The extension Privacy.path keeps (`.py`), or None."""
    base = path.rstrip("/\\").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    if dot > 0 and len(base) - dot <= 11 and base[dot + 1 :].isalnum():
        return base[dot:]
    return None


def mcp_server_name(*, url: object = None, command: object = None) -> str | None:
    """The best name Cursor's MCP payload gives for the server: a `url`'s host, or the package or
    script a `command` launches (module docstring). None when neither says; only names made of
    letters, digits and `@._-/:` are returned, so no argument with spaces or secrets passes for one."""
    name = None
    if isinstance(url, str) and "://" in url:
        netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        name = netloc.rpartition("@")[2].lower()  # credentials in a URL are never a name
    elif isinstance(command, str):
        words = [w for w in command.split() if "=" not in w or w.startswith("-")]
        # VAR=value assignments are skipped, and then options (`-y`) and verbs (`uv run`, `docker run`).
        if words and os.path.basename(words[0]) in LAUNCHERS:
            rest = [w for w in words[1:] if not w.startswith("-") and w not in LAUNCHER_VERBS]
            name = rest[0] if rest else os.path.basename(words[0])
        elif words:
            name = words[0]
        if name and not name.startswith("@"):  # a scoped npm package keeps its scope
            name = os.path.basename(name.rstrip("/"))
    if name and len(name) <= MAX_NAME_CHARS and all(c.isalnum() or c in "@._-/:" for c in name):
        return name
    return None


def _input_object(value: object) -> dict:
    """A tool input: an object, or a JSON string holding one (beforeMCPExecution in some builds)."""
    if isinstance(value, str):
        try:
            value = loads(value)
        except Exception:
            return {}
    return value if isinstance(value, dict) else {}


def _path_facts(tool: dict, path: object, *, payload: dict, root: str | None, privacy: Privacy) -> None:
    if not isinstance(path, str) or not path:
        return
    path = absolute_path(path, cwd=payload.get("cwd"), root=root)
    tool["target_hash"] = privacy.digest(path)
    tool["path_hash"] = privacy.path(path)
    extension = file_extension(path)
    if extension:
        tool["file_extension"] = extension


def tool_facts(payload: dict, *, event: str, root: str | None, privacy: Privacy) -> dict | None:
    """`metadata.tool` of a tool-ish hook call (module docstring), None for other events."""
    if event in EVENT_TOOLS:
        kind, name = EVENT_TOOLS[event]
        tool_input: dict = {}
        if kind == "mcp":
            name = payload.get("tool_name") if identifier(payload.get("tool_name")) else UNKNOWN
    elif event in GENERIC_TOOL_EVENTS:
        name = payload.get("tool_name") or payload.get("toolName")
        name = name if identifier(name) and len(name) <= MAX_NAME_CHARS else UNKNOWN
        kind = "mcp" if name.startswith("MCP:") else TOOL_KINDS.get(name, "other")
        tool_input = _input_object(payload.get("tool_input", payload.get("toolInput")))
    else:
        return None
    tool: dict = {"kind": kind, "name": name, "target_hash": None}
    tool_use_id = payload.get("tool_use_id")
    if identifier(tool_use_id) and tool_use_id:
        tool["tool_use_id"] = tool_use_id
    if kind == "shell":
        command = payload.get("command", tool_input.get("command"))
        if isinstance(command, str):
            tool["target_hash"] = privacy.digest(command)
    elif kind in ("read", "edit"):
        path = payload.get("file_path") or tool_input.get("file_path") or tool_input.get("path")
        _path_facts(tool, path, payload=payload, root=root, privacy=privacy)
        if event == "afterFileEdit":
            counted = edit_lines(payload.get("edits"))
            if counted is not None:
                tool["lines_added"], tool["lines_removed"] = counted
    elif kind == "mcp":
        if event in EVENT_TOOLS:
            server = mcp_server_name(url=payload.get("url"), command=payload.get("command"))
            target = f"{server or UNKNOWN}/{name}"
            if server:
                tool["mcp_server"] = server
        else:
            target = name[len("MCP:") :]
        tool["target_hash"] = privacy.digest(target)
    elif kind == "search":
        pattern = tool_input.get("pattern") or tool_input.get("glob_pattern") or tool_input.get("query")
        if isinstance(pattern, str):
            tool["target_hash"] = privacy.digest(pattern)
    return tool

"""Facts of one Cursor tool call (a bubble's `toolFormerData`): what kind of tool, what it acted on
(hashed), and the lines an edit changed (docs: cursor-formats §3.7; wire-format "Cursor events").

`target_hash` is the salted hash of the exact string the hook sees for the same call: the command of a
shell call, the absolute path of a read or an edit (a relative path is taken against the workspace's
first root, as the hook's `file_path` is absolute), `<server>/<tool>` of an MCP call.
"""

import orjson

from .cursor_paths import path_join
from .privacy import Privacy, identifier

SHELL_TOOLS = frozenset({"run_terminal_cmd", "run_terminal_command", "run_terminal_command_v2", "shell"})
READ_TOOLS = frozenset({"read_file", "read_file_v2"})
EDIT_TOOLS = frozenset(
    {"edit_file", "edit_file_v2", "search_replace", "write", "delete_file", "multi_edit", "apply_patch"}
)
SEARCH_TOOLS = frozenset(
    {"codebase_search", "grep_search", "grep", "file_search", "glob_file_search", "list_dir", "web_search"}
)
PATH_PARAMS = ("target_file", "file_path", "path", "relative_workspace_path")


def ident_or_none(value: object) -> str | None:
    """An identifier-like string (privacy.identifier), or None."""
    return value if identifier(value) and value else None


def int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def line_count(text: object) -> int:
    if not isinstance(text, str):
        return 0
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def json_object(value: object) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str | bytes):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def tool_kind(name: str) -> str:
    if name in SHELL_TOOLS:
        return "shell"
    if name in READ_TOOLS:
        return "read"
    if name in EDIT_TOOLS:
        return "edit"
    if name.startswith(("mcp_", "mcp:", "MCP:")):
        return "mcp"
    if name in SEARCH_TOOLS:
        return "search"
    return "other"


def tool_facts(former: dict, *, root: str | None, privacy: Privacy) -> dict:
    """`metadata.tool` of a bubble's toolFormerData: {kind, name, target_hash, tool_use_id?,
    file_extension?, path_hash?, lines_added?, lines_removed?, mcp_server?}."""
    name = ident_or_none(former.get("name")) or "unknown"
    kind = tool_kind(name)
    params = json_object(former.get("params")) or json_object(former.get("rawArgs"))
    facts: dict = {"kind": kind, "name": name, "target_hash": None}
    if ident_or_none(former.get("toolCallId")):
        facts["tool_use_id"] = former["toolCallId"]
    if kind == "shell" and isinstance(params.get("command"), str):
        facts["target_hash"] = privacy.digest(params["command"])
    elif kind in ("read", "edit"):
        path = next((params[k] for k in PATH_PARAMS if isinstance(params.get(k), str) and params[k]), None)
        if path is not None:
            # Relative paths are relative to the workspace's first root: the hook sends that absolute path.
            absolute = path_join(root, path) if root else path
            facts["target_hash"] = privacy.digest(absolute)
            facts["path_hash"] = privacy.path(absolute)
            facts["file_extension"] = facts["path_hash"][len("path:") + 16 :] or None
        if kind == "edit":
            added, removed = edit_lines(former, params)
            facts["lines_added"], facts["lines_removed"] = added, removed
    elif kind == "search":  # the same precedence as the hook's (preToolUse Grep/Glob)
        pattern = params.get("pattern") or params.get("glob_pattern") or params.get("query")
        if isinstance(pattern, str):
            facts["target_hash"] = privacy.digest(pattern)
    elif kind == "mcp":
        server, tool = mcp_parts(name, params)
        facts["mcp_server"] = server
        facts["target_hash"] = privacy.digest(f"{server}/{tool}")
    return facts


def edit_lines(former: dict, params: dict) -> tuple[int | None, int | None]:
    """(added, removed) of an edit: the result's diff, else the lines of new_string / old_string."""
    diff = json_object(former.get("result")).get("diff")
    if isinstance(diff, dict) and (int_or_none(diff.get("linesAdded")) is not None):
        return int_or_none(diff.get("linesAdded")), int_or_none(diff.get("linesRemoved")) or 0
    if isinstance(params.get("new_string"), str) or isinstance(params.get("old_string"), str):
        return line_count(params.get("new_string")), line_count(params.get("old_string"))
    return None, None


def mcp_parts(name: str, params: dict) -> tuple[str, str]:
    """(server, tool) of an MCP call named `mcp_<server>_<tool>`; the tool's own name in the params
    (`tools[0].name`) tells where the server's name ends, since both may hold underscores."""
    rest = name[4:]
    tools = params.get("tools")
    tool = tools[0].get("name") if isinstance(tools, list) and tools and isinstance(tools[0], dict) else None
    if isinstance(tool, str) and tool and rest.endswith("_" + tool):
        return rest[: -len(tool) - 1], tool
    server, _, tool = rest.partition("_")
    return server, tool

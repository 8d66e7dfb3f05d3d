"""`blueplane install claude-code --mcp`: register Blueplane's MCP server for the user, as
`claude mcp add --scope user blueplane -- <absolute blueplane> mcp` would, and `uninstall` removes it.

Claude Code keeps user-scope MCP servers under `mcpServers` in its user config file:
$CLAUDE_CONFIG_DIR/.claude.json when CLAUDE_CONFIG_DIR is set, else ~/.claude.json (checked with the
real CLI 2.1.331). That file holds much else of Claude Code's state: only our entry is changed, every
other key and server is kept, and the file is replaced atomically with its mode."""

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from .commands import _diff, _fail, _read, _target_ok, _write
from .installer import settings_parse, settings_render
from .runtime import home

NAME = "blueplane"
# What the server needs to find this install's store when Claude Code starts it with its own environment.
ENV_PASSED = ("BLUEPLANE_HOME", "BLUEPLANE_DATABASE_URL", "BLUEPLANE_REDIS_URL")


def user_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    if config_dir := environ.get("CLAUDE_CONFIG_DIR"):
        return Path(config_dir).expanduser() / ".claude.json"
    return Path.home() / ".claude.json"


def blueplane_path() -> str:
    """The absolute path of this install's `blueplane` command."""
    beside = Path(sys.executable).parent / "blueplane"
    if beside.exists():
        return str(beside.absolute())
    found = shutil.which("blueplane")
    return str(Path(found).absolute()) if found else str(Path(sys.argv[0]).absolute())


def server_entry(command: str, environ: Mapping[str, str] = os.environ) -> dict:
    env = {name: environ[name] for name in ENV_PASSED if environ.get(name)}
    env["BLUEPLANE_HOME"] = str(home())
    return {"type": "stdio", "command": command, "args": ["mcp"], "env": env}


def is_ours(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("args") == ["mcp"]
        and Path(str(entry.get("command", ""))).name == "blueplane"
    )


def config_install(data: dict, entry: dict) -> dict:
    return {**data, "mcpServers": {**data.get("mcpServers", {}), NAME: entry}}


def config_uninstall(data: dict) -> dict:
    servers = data.get("mcpServers", {})
    if not is_ours(servers.get(NAME)):
        return data
    return {**data, "mcpServers": {k: v for k, v in servers.items() if k != NAME}}


def _change(target: str, change, *, dry_run: bool, verb: str) -> int:
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected 'claude-code'")
    path = user_config_path()
    old = _read(path)
    try:
        current = settings_parse(old, section="mcpServers")
    except ValueError as exc:
        return _fail(f"{path}: {exc}")
    updated = change(current)
    if updated == current:
        print(f"{path}: MCP server: nothing to {verb}")
        return 0
    new = settings_render(updated, like=old)
    if dry_run:
        print(_diff(path, old, new), end="")
        print(f"(dry run: {path} not changed)")
        return 0
    _write(path, old, new)
    print(f"{path}: MCP server {NAME!r} {'registered' if verb == 'install' else 'removed'}")
    return 0


def mcp_install(target: str, *, dry_run: bool) -> int:
    entry = server_entry(blueplane_path())
    return _change(target, lambda data: config_install(data, entry), dry_run=dry_run, verb="install")


def mcp_uninstall(target: str, *, dry_run: bool) -> int:
    """Removes our entry; a server of another name, or one named blueplane that runs something else, stays."""
    return _change(target, config_uninstall, dry_run=dry_run, verb="uninstall")

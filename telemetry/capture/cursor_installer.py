"""Add Blueplane's hook to Cursor's `~/.cursor/hooks.json`, and take it out again.

The file: `{"version": 1, "hooks": {"<event>": [{"command": "...", "timeout": 5}, ...]}}`
(docs: cursor-formats §2.1). Rules, as for Claude Code's settings (installer.py):
- One entry per event in EVENTS: every event of the IDE except the Tab ones, which fire on every
  keystroke-driven completion and are slow (§2.2). Only known names: one source says an unknown name
  makes Cursor reject the whole file.
- Each event has its own command line (hook_command), because the reply it prints when Python cannot
  run at all depends on the event.
- The user's hooks and other keys are kept; our entries are recognised by their command
  (`.../telemetry/capture/hook.py cursor`, or the earlier prototype's `~/.blueplane/hooks/cursor_hook.py`,
  which printed `permission: allow` and is replaced), so a moved checkout is updated, not duplicated. Ours is
  appended after the user's own: a reported bug runs only the first command of an event, and the
  user's guard matters more than our telemetry.
- The file keeps its layout (installer.settings_render); the one backup, `--dry-run` and a file
  install created are handled as for Claude Code (commands.py).
Pure functions over dicts here; commands.py does the file I/O, backups and printing.
"""

import copy
import os
import re
import shlex
import sys
from pathlib import Path

from .cursor_events import CONTINUE_EVENTS, REPLY_CONTINUE, REPLY_EMPTY
from .installer import HOOK_SCRIPT

HOOK_TARGET = "cursor"
HOOK_TIMEOUT_S = 5  # seconds; ours takes milliseconds (Redis gets 50 ms, then the spool)
VERSION = 1

# Cursor 2.x's IDE hook events (docs: cursor-formats §2.4) without beforeTabFileRead/afterTabFileEdit.
EVENTS = (
    "sessionStart", "sessionEnd", "beforeSubmitPrompt", "afterAgentResponse", "afterAgentThought",
    "beforeShellExecution", "afterShellExecution", "beforeMCPExecution", "afterMCPExecution",
    "beforeReadFile", "afterFileEdit", "preToolUse", "postToolUse", "postToolUseFailure",
    "subagentStart", "subagentStop", "preCompact", "stop",
)  # fmt: skip

_OURS = re.compile(
    r"telemetry/capture/hook\.py['\"]?\s+cursor(?![\w-])"
    r"|\.blueplane/hooks/cursor_hook\.py(?![\w.-])"  # the earlier prototype's install (docs/reference-notes)
)


def reply(event: str) -> str:
    """The reply the installed line prints for `event` when the hook printed none."""
    return (REPLY_CONTINUE if event in CONTINUE_EVENTS else REPLY_EMPTY).decode().strip()


def hook_command(*, event: str, home: str, python: str | None = None, script: Path = HOOK_SCRIPT) -> str:
    """The exact command line Cursor runs for `event` (through a POSIX shell, like Claude Code's).

    The interpreter, `-I -S`, BLUEPLANE_HOME and stderr to /dev/null as installer.hook_command says
    why. Cursor needs one line of JSON on stdout whatever happens (some builds refuse no output), so
    the hook's own reply is captured: when the interpreter, the script or a module beside it is gone,
    the hook prints nothing (`cat` then reads the payload Cursor is still writing) and the line prints
    the event's reply itself. A reply is printed exactly once, never two; a plain `|| echo '{}'` would
    print a second one after a hook killed past its reply, and the wrong one for beforeSubmitPrompt.
    `trap '' TERM` and `exit 0` as for Claude Code.
    """
    python = python or os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return (
        f"trap '' TERM; out=$(BLUEPLANE_HOME={shlex.quote(home)} {shlex.quote(python)} -I -S "
        f"{shlex.quote(str(script))} {HOOK_TARGET} {shlex.quote(event)} 2>/dev/null || cat >/dev/null); "
        f"[ -n \"$out\" ] || out='{reply(event)}'; printf '%s\\n' \"$out\"; exit 0"
    )


def is_ours(command: object) -> bool:
    return isinstance(command, str) and bool(_OURS.search(command))


def _ours_in(entries: object) -> int:
    if not isinstance(entries, list):
        return 0
    return sum(1 for e in entries if isinstance(e, dict) and is_ours(e.get("command")))


def _without_ours(entries: object) -> object:
    if not isinstance(entries, list):
        return entries
    return [e for e in entries if not (isinstance(e, dict) and is_ours(e.get("command")))]


def hooks_has_ours(data: dict) -> bool:
    """Whether any hook in the file is one of ours (of this install or an older one)."""
    hooks = data.get("hooks")
    return isinstance(hooks, dict) and any(_ours_in(entries) for entries in hooks.values())


def hooks_install(data: dict, *, commands: dict[str, str]) -> dict:
    """A copy of hooks.json's data with our hook on exactly the events of `commands` (event -> command
    line), and nowhere else. Unchanged (equal) when it is already so."""
    data = copy.deepcopy(data)
    if "version" not in data:
        data = {"version": VERSION, **data}
    hooks = data.setdefault("hooks", {})
    for event in list(hooks):
        entries = hooks[event]
        exact = isinstance(entries, list) and any(
            isinstance(e, dict) and e.get("command") == commands.get(event) for e in entries
        )
        if exact and _ours_in(entries) == 1:
            continue  # already there, alone: untouched
        if _ours_in(entries):
            cleaned = _without_ours(entries)
            if cleaned:
                hooks[event] = cleaned
            else:
                del hooks[event]
    for event, command in commands.items():
        entries = hooks.get(event)
        if isinstance(entries, list) and any(
            isinstance(e, dict) and e.get("command") == command for e in entries
        ):
            continue
        entry = {"command": command, "timeout": HOOK_TIMEOUT_S}
        hooks[event] = [*entries, entry] if isinstance(entries, list) else [entry]
    return data


def hooks_uninstall(data: dict) -> dict:
    """A copy of hooks.json's data without any hook of ours; an event left with no hook is dropped,
    and nothing else changes."""
    data = copy.deepcopy(data)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return data
    for event in list(hooks):
        if not _ours_in(hooks[event]):
            continue
        cleaned = _without_ours(hooks[event])
        if cleaned:
            hooks[event] = cleaned
        else:
            del hooks[event]
    return data


def hooks_is_empty(data: dict) -> bool:
    """Whether hooks.json's data says nothing but an empty hook list (what uninstall leaves of a file
    install created)."""
    return not data.get("hooks") and set(data) <= {"version", "hooks"}

"""Add Blueplane's hook to Claude Code's settings.json, and take it out again.

Rules:
- One entry per hook event the installed Claude Code knows. An unknown event name makes Claude Code
  ignore the *whole* settings file silently, so the list comes from the CLI itself (the event-name
  array in its binary, as the claude-real harness does), else from a per-version table (the largest
  known version not newer than the installed one: versions add events, they do not remove them).
  When neither works, install stops and says how to name the binary (`--claude-bin`,
  BLUEPLANE_CLAUDE_BIN) rather than guess a shorter list. `claude` is looked for on PATH, then where
  the official installers put it (claude_candidates): hooks and IDEs often run with a shorter PATH.
- Never WorktreeCreate/WorktreeRemove: a hook for them replaces git's worktree handling.
- The user's hooks and other settings are kept; our entries are recognised by their command
  (`.../telemetry/capture/hook.py claude-code`, whatever an older install put around it), so a moved
  checkout is updated, not duplicated.
- The file keeps its layout: indentation, line endings and final newline (settings_render).
- The status line (`statusLine`, one per settings file) is ours when its command runs
  `blueplane/statusline.py`; one the user set is kept unless they force it, and uninstall removes ours only.
- Pure functions over dicts here; commands.py does the file I/O, backups and printing.
"""

import copy
import json
import mmap
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

HOOK_SCRIPT = Path(__file__).resolve().with_name("hook.py")
HOOK_TARGET = "claude-code"
HOOK_TIMEOUT_S = 10  # Claude Code's per-hook limit; ours takes milliseconds
# The status line script, named by path only: it is an interface (it reads the store), not capture.
STATUSLINE_SCRIPT = Path(__file__).resolve().parents[2] / "blueplane" / "statusline.py"

# Every event name Claude Code 2.1.331 validates (read from its binary by the claude-real harness).
EVENTS_2_1_331 = (
    "PreToolUse", "PostToolUse", "PostToolUseFailure", "PostToolBatch", "Notification", "UserPromptSubmit",
    "UserPromptExpansion", "SessionStart", "SessionEnd", "Stop", "StopFailure", "SubagentStart",
    "SubagentStop", "PreCompact", "PostCompact", "PreModelSwitch", "PostModelSwitch", "PermissionRequest",
    "PermissionDenied", "Setup", "TeammateIdle", "TaskCreated", "TaskCompleted", "Elicitation",
    "ElicitationResult", "ConfigChange", "WorktreeCreate", "WorktreeRemove", "InstructionsLoaded",
    "CwdChanged", "FileChanged", "DirectoryAdded", "MessageDisplay",
)  # fmt: skip
# What 2.0.77 accepts (the harness ran it: a longer list made it ignore the settings file).
EVENTS_2_0_77 = (
    "PreToolUse", "PostToolUse", "PostToolUseFailure", "Notification", "UserPromptSubmit", "SessionStart",
    "SessionEnd", "Stop", "SubagentStart", "SubagentStop", "PreCompact", "PermissionRequest",
)  # fmt: skip
KNOWN_VERSIONS: dict[tuple[int, ...], tuple[str, ...]] = {
    (2, 0, 77): EVENTS_2_0_77,
    (2, 1, 331): EVENTS_2_1_331,
}
# A hook for these replaces behaviour rather than observing it.
EVENTS_NEVER = frozenset({"WorktreeCreate", "WorktreeRemove"})

# Older installs ended the line with `claude-code`; newer ones add redirections and `exit 0` after it.
_OURS = re.compile(r"telemetry/capture/hook\.py['\"]?\s+claude-code(?![\w-])")
_OURS_STATUSLINE = re.compile(r"blueplane/statusline\.py(?![\w.])")
# System-wide folders where npm (global prefix), Homebrew and distribution packages put `claude`.
SYSTEM_BIN_DIRS = (
    Path("/usr/local/bin"), Path("/usr/bin"), Path("/opt/homebrew/bin"), Path("/home/linuxbrew/.linuxbrew/bin")
)  # fmt: skip
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class SettingsError(ValueError):
    """The settings file cannot be merged (not JSON, or `hooks` is not an object)."""


class EventsUnknown(LookupError):
    """Which hook events the installed Claude Code accepts cannot be told; the message says why."""


def hook_command(*, home: str, python: str | None = None, script: Path = HOOK_SCRIPT) -> str:
    """The exact command line Claude Code will run through `sh -c`.

    The real interpreter binary, not a shim (a pyenv shim costs ~70 ms), run with -I -S: no `site`,
    no user environment; the hook needs only the standard library. BLUEPLANE_HOME is fixed here
    because hooks do not reliably see the user's shell environment.

    The line itself must not fail: Claude Code takes exit code 2 as "block" (the tool call, the
    prompt; on Stop, it makes the assistant go on), and the command outlives the checkout and venv it
    names. So stderr goes to /dev/null (sh's own "not found" included), and when the interpreter or
    the script cannot run (127, or Python's 2 for a missing script) `cat` reads the payload Claude
    Code is still writing, which would otherwise meet a pipe without a reader; then `exit 0`. The
    hook itself exits 0 after reading all of stdin, so on the normal path this costs one fork of sh.

    `trap '' TERM` first: Claude Code (2.1.331, seen with the real CLI) sends SIGTERM to a
    StopFailure hook's process group (this `sh` and the interpreter) some 10-20 ms after spawning
    it, while Python is still starting, so the event was lost in most runs and the CLI then waited
    ~1.5 s for the group before its SIGKILL. An ignored signal stays ignored across exec, so the
    hook finishes its few milliseconds of work and `sh` exits normally. SIGKILL still applies.
    """
    python = python or os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return (
        f"trap '' TERM; BLUEPLANE_HOME={shlex.quote(home)} {shlex.quote(python)} -I -S "
        f"{shlex.quote(str(script))} {HOOK_TARGET} 2>/dev/null || cat >/dev/null; exit 0"
    )


def statusline_command(*, home: str, python: str | None = None, script: Path = STATUSLINE_SCRIPT) -> str:
    """The status line's command line (Claude Code runs it through `sh -c` at every refresh), made like
    hook_command's: the real interpreter with -I -S, BLUEPLANE_HOME fixed, stderr to /dev/null (what
    a status line prints there would show), and when the interpreter or script cannot run, `cat`
    reads the status JSON so Claude Code does not write into a pipe without a reader."""
    python = python or os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return (
        f"BLUEPLANE_HOME={shlex.quote(home)} {shlex.quote(python)} -I -S {shlex.quote(str(script))} "
        "2>/dev/null || cat >/dev/null"
    )


def is_our_statusline(setting: object) -> bool:
    return (
        isinstance(setting, dict)
        and isinstance(setting.get("command"), str)
        and bool(_OURS_STATUSLINE.search(setting["command"]))
    )


def settings_statusline_install(data: dict, *, command: str, force: bool) -> tuple[dict, str | None]:
    """(a copy of the settings with our status line, None), or (the settings unchanged, the command of
    the user's own status line) when they have one and `force` is not given."""
    current = data.get("statusLine")
    if current is not None and not is_our_statusline(current) and not force:
        theirs = current.get("command") if isinstance(current, dict) else None
        return data, theirs if isinstance(theirs, str) else json.dumps(current)
    data = copy.deepcopy(data)
    data["statusLine"] = {"type": "command", "command": command, "padding": 0}
    return data, None


def settings_statusline_uninstall(data: dict) -> dict:
    """A copy of the settings without our status line (someone else's stays)."""
    data = copy.deepcopy(data)
    if is_our_statusline(data.get("statusLine")):
        del data["statusLine"]
    return data


def is_ours(command: object) -> bool:
    return isinstance(command, str) and bool(_OURS.search(command))


def _version_key(path: Path) -> tuple[int, ...]:
    match = _VERSION.fullmatch(path.name.removeprefix("v"))
    return tuple(int(x) for x in match.groups()) if match else ()


def claude_candidates(*, home: Path, environ: Mapping[str, str]) -> list[Path]:
    """Where the official installers put `claude`, most specific first (none of it need exist)."""
    config = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude").expanduser()
    native_versions = home / ".local" / "share" / "claude" / "versions"
    npm_prefixes = [
        Path(environ[v]).expanduser() for v in ("NPM_CONFIG_PREFIX", "npm_config_prefix") if environ.get(v)
    ]
    try:
        for line in (home / ".npmrc").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "prefix" and value.strip():
                npm_prefixes.append(Path(value.strip()).expanduser())
    except OSError:
        pass
    npm_prefixes.append(home / ".npm-global")
    # nvm: each Node version has its own global prefix; the newest first.
    nvm = Path(environ.get("NVM_DIR") or home / ".nvm") / "versions" / "node"
    npm_prefixes += sorted(nvm.glob("v*"), key=_version_key, reverse=True)
    folders = [
        home / ".local" / "bin",  # the native installer: a symlink to native_versions/<version>
        config / "local",  # the older local install (`claude migrate-installer`): a wrapper script
        config / "local" / "node_modules" / ".bin",
        *(prefix / "bin" for prefix in npm_prefixes),
        Path(environ.get("BUN_INSTALL") or home / ".bun") / "bin",
        *SYSTEM_BIN_DIRS,
    ]
    found = [folder / "claude" for folder in folders]
    # A native install whose launcher symlink went missing: the newest version it downloaded.
    found += sorted(native_versions.glob("*.*.*"), key=_version_key, reverse=True)
    return found


def claude_find(*, home: Path, environ: Mapping[str, str]) -> str | None:
    """The `claude` to ask: on PATH, else the first of claude_candidates that can run; None if none."""
    on_path = shutil.which("claude", path=environ.get("PATH", os.defpath))
    if on_path:
        return on_path
    for candidate in claude_candidates(home=home, environ=environ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def claude_version(claude_bin: str) -> tuple[int, ...] | None:
    """The installed CLI's version from `claude --version`, or None."""
    try:
        out = subprocess.run(
            [claude_bin, "--version"], capture_output=True, text=True, timeout=15, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return tuple(int(x) for x in match.groups()) if match else None


def events_in_binary(path: str) -> list[str]:
    """The longest `["PreToolUse","PostToolUse",...]` array in the CLI binary (or cli.js)."""
    best: list[str] = []
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            needle = b'["PreToolUse","PostToolUse"'
            i = m.find(needle)
            while i >= 0:
                j = m.find(b"]", i)
                chunk = m[i : j + 1]
                if j > i and len(chunk) < 4000 and re.fullmatch(rb'\[("[A-Za-z]+",?)+\]', chunk):
                    names = json.loads(chunk)
                    if len(names) > len(best):
                        best = names
                i = m.find(needle, i + 1)
    except (OSError, ValueError):
        return []
    return best


def events_supported(claude_bin: str) -> tuple[list[str], str]:
    """(event names to register, how they were chosen). Raises EventsUnknown when neither the binary
    nor its version tells."""
    target = os.path.realpath(claude_bin)
    if not os.path.isfile(target):
        raise EventsUnknown(f"{claude_bin}: no such file")
    candidates = [target]
    if os.path.getsize(target) < 1 << 20:
        # A launcher: npm's (1.x/2.0.x) has the event list in cli.js next to it; the older local
        # install's wrapper script sits beside its node_modules.
        folder = os.path.dirname(target)
        candidates.append(os.path.join(folder, "..", "cli.js"))
        candidates.append(os.path.join(folder, "cli.js"))
        candidates.append(os.path.join(folder, "node_modules", "@anthropic-ai", "claude-code", "cli.js"))
    for candidate in candidates:
        found = events_in_binary(candidate)
        if found:
            return [e for e in found if e not in EVENTS_NEVER], f"read from {candidate}"
    # The native installer names each binary by its version (~/.local/share/claude/versions/2.1.331).
    version = _version_key(Path(target)) or claude_version(claude_bin)
    label = ".".join(map(str, version)) if version else "unknown"
    known = [v for v in KNOWN_VERSIONS if version and v <= version]
    if not known:
        raise EventsUnknown(
            f"{claude_bin}: no hook event list in it, and its version ({label}) is not one we know"
        )
    best = max(known)
    events = [e for e in KNOWN_VERSIONS[best] if e not in EVENTS_NEVER]
    return events, f"Claude Code {label}: the list known for {'.'.join(map(str, best))}"


def settings_parse(text: str | None, *, section: str = "hooks") -> dict:
    """A Claude Code JSON config (settings.json, or .claude.json with section="mcpServers") as a dict
    whose `section`, if there, is an object; a file that is not one is a SettingsError saying why."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"not valid JSON ({exc}); fix or move it, then run this again") from None
    if not isinstance(data, dict):
        raise SettingsError("not a JSON object")
    if not isinstance(data.get(section, {}), dict):
        raise SettingsError(f"its `{section}` is not an object")
    return data


def settings_render(data: dict, *, like: str | None = None) -> str:
    """`data` as the text of a settings file laid out like `like` (the file as it was): the same
    indentation (2 or 4 spaces, tabs), line endings and final newline. Without it (a new or empty
    file), Claude Code's own layout: 2 spaces and a final newline."""
    indent, newline, end = "  ", "\n", "\n"
    if like and like.strip():
        for line in like.splitlines()[1:]:
            body = line.lstrip(" \t")
            if body:
                indent = line[: len(line) - len(body)] or indent
                break
        newline = "\r\n" if "\r\n" in like else "\n"
        end = newline if like.endswith("\n") else ""
    # JSON strings hold no raw newline, so every "\n" of the dump is a line break.
    return json.dumps(data, indent=indent, ensure_ascii=False).replace("\n", newline) + end


def settings_has_ours(data: dict) -> bool:
    """Whether any hook in the settings, or its status line, is one of ours (of this install or an
    older one)."""
    if is_our_statusline(data.get("statusLine")):
        return True
    hooks = data.get("hooks")
    return isinstance(hooks, dict) and any(_without_ours(groups) != groups for groups in hooks.values())


def _without_ours(groups: object) -> object:
    """An event's matcher groups with our commands taken out (groups left empty by that dropped)."""
    if not isinstance(groups, list):
        return groups
    kept = []
    for group in groups:
        hooks = group.get("hooks") if isinstance(group, dict) else None
        if not isinstance(hooks, list) or not any(
            isinstance(h, dict) and is_ours(h.get("command")) for h in hooks
        ):
            kept.append(group)
            continue
        rest = [h for h in hooks if not (isinstance(h, dict) and is_ours(h.get("command")))]
        if rest:
            kept.append({**group, "hooks": rest})
    return kept


def _has_exact(groups: object, command: str) -> bool:
    return isinstance(groups, list) and any(
        isinstance(g, dict)
        and isinstance(g.get("hooks"), list)
        and any(isinstance(h, dict) and h.get("command") == command for h in g["hooks"])
        for g in groups
    )


def settings_install(data: dict, *, command: str, events: list[str]) -> dict:
    """A copy of the settings with our hook on exactly `events` (and nowhere else)."""
    data = copy.deepcopy(data)
    hooks = data.get("hooks", {})
    wanted = set(events)
    for event in list(hooks):
        if event in wanted and _has_exact(hooks[event], command):
            # Already there: leave the event untouched, unless older copies of ours sit beside it.
            ours = sum(
                1
                for g in hooks[event]
                if isinstance(g, dict)
                for h in g.get("hooks") or []
                if isinstance(h, dict) and is_ours(h.get("command"))
            )
            if ours == 1:
                continue
        cleaned = _without_ours(hooks[event])
        if cleaned != hooks[event]:
            if cleaned:
                hooks[event] = cleaned
            else:
                del hooks[event]
    for event in events:
        if _has_exact(hooks.get(event), command):
            continue
        entry = {
            "matcher": "*",
            "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S}],
        }
        groups = hooks.get(event)
        hooks[event] = [*groups, entry] if isinstance(groups, list) else [entry]
    if hooks:
        data["hooks"] = hooks
    return data


def settings_uninstall(data: dict) -> dict:
    """A copy of the settings with every hook of ours and our status line removed, and nothing else
    changed."""
    data = settings_statusline_uninstall(data)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return data
    for event in list(hooks):
        cleaned = _without_ours(hooks[event])
        if cleaned == hooks[event]:
            continue
        if cleaned:
            hooks[event] = cleaned
        else:
            del hooks[event]
    if not hooks:
        del data["hooks"]
    return data

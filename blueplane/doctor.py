"""`blueplane doctor`: every check of an installation, each problem with the command that fixes it.

The pipeline's checks are /healthz's (telemetry.selectors.health.health_report: database, Redis, stream,
dead letters, worker, spool, slow path, failing sessions, disk); added here is what only this machine
can tell: the installation and versions, whether the supervisor runs, whether Claude Code's settings
hold our hook and the hook's command runs, whether Cursor's hooks.json holds ours (when Cursor is
there), whether the OTLP receiver answers, and SQLite's own integrity check. A problem is a check that
is `warn` or `fail`; the command exits 1 when there is one.

The hook is run as Claude Code runs it (`sh -c` and the installed line, an empty payload on stdin) but
with BLUEPLANE_HOME pointed at a temporary folder, so the test call stores nothing: without a Redis
there, the hook spools its event into that folder, which is then removed.
"""

import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from django.conf import settings

HOOK_FAST_S = 1.0  # a hook call takes milliseconds; Claude Code waits up to HOOK_TIMEOUT_S
INSTALL_HOOK = "blueplane install claude-code"
INSTALL_CURSOR_HOOK = "blueplane install cursor"


class Check(TypedDict, total=False):
    name: str
    status: str  # ok, warn, fail or unknown
    message: str
    fix: str  # the command (or step) that fixes it, when there is a problem
    figures: dict[str, Any]


def _check(name: str, status: str, message: str, fix: str = "", **figures: Any) -> Check:
    check = Check(name=name, status=status, message=message)
    if fix and status in ("warn", "fail"):
        check["fix"] = fix
    if figures:
        check["figures"] = figures
    return check


# Fixes for the pipeline's checks (health_report's names), by status.
_HEALTH_FIXES = {
    "database": "blueplane up (creates and migrates the database)",
    "redis": "blueplane up (starts the embedded Redis), or make BLUEPLANE_REDIS_URL's server answer",
    "stream": "blueplane up, or blueplane logs fastpath to see why the fast path stopped",
    "dead_letters": "blueplane dlq list, then blueplane dlq replay --all after a fix (or dlq purge --all)",
    "worker": "blueplane up, or blueplane logs worker (and beat) to see why it stopped",
    "spool": "blueplane up (the capture process replays the spool once Redis answers)",
    "slowpath": "blueplane up, or blueplane logs worker to see why sessions are not derived",
    "failing_sessions": "blueplane status (names them and their error), then blueplane manage rebuild --session ID",
    "disk": "free space on that file system, or blueplane purge what you no longer need",
}


def doctor_report() -> list[Check]:
    """Every check, in the order a person fixes them: installation first, then what runs on it."""
    checks = [_installation(), *_versions(), _supervisor()]
    checks += _hooks()
    checks.append(_cursor_hooks())
    checks += _pipeline()
    checks.append(_otlp())
    checks.append(_integrity())
    return checks


def problems(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c["status"] in ("warn", "fail")]


def _installation() -> Check:
    from importlib import metadata

    try:
        version = metadata.version("blueplane")
    except metadata.PackageNotFoundError:
        return _check("installation", "warn", "the blueplane package is not installed", "pip install -e .")
    ok = sys.version_info >= (3, 11)
    return _check(
        "installation",
        "ok" if ok else "fail",
        f"blueplane {version} on Python {platform.python_version()} ({sys.executable})",
        "install Python 3.11 or newer, then python3 bootstrap.py up",
        version=version,
    )


def _versions() -> list[Check]:
    import django

    from telemetry.capture import installer

    claude = settings.CLAUDE_BIN or installer.claude_find(home=Path.home(), environ=os.environ)
    found = installer.claude_version(claude) if claude else None
    text = ".".join(map(str, found)) if found else None
    return [
        _check("django", "ok", f"Django {django.get_version()}", version=django.get_version()),
        _check(
            "claude_code",
            "ok",
            f"Claude Code {text} ({claude})"
            if text
            else "Claude Code not found (on PATH or where its installers put it)",
            version=text,
            path=claude,
        ),
    ]


def _supervisor() -> Check:
    from . import runstate

    pid = runstate.supervisor_pid(Path(settings.BLUEPLANE_HOME))
    if pid is None:
        return _check(
            "supervisor",
            "fail",
            "Blueplane is not running: nothing is captured or stored",
            "blueplane up --detach",
        )
    return _check("supervisor", "ok", f"running (pid {pid})", pid=pid)


def _hook_parts(command: str) -> tuple[str, str] | None:
    """(interpreter, script) of an installed hook command line, or None when it is not one of ours."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word.endswith("hook.py") and i >= 3 and words[i - 2 : i] == ["-I", "-S"]:
            return words[i - 3], word
    return None


def _our_hooks(data: dict) -> list[tuple[str, str]]:
    """(event, command) of every Blueplane hook in Claude Code's settings."""
    from telemetry.capture.installer import is_ours

    found = []
    for event, groups in (data.get("hooks") or {}).items():
        for group in groups if isinstance(groups, list) else []:
            hooks = group.get("hooks") if isinstance(group, dict) else None
            for hook in hooks if isinstance(hooks, list) else []:
                if isinstance(hook, dict) and is_ours(hook.get("command")):
                    found.append((event, hook["command"]))
    return found


def _hooks() -> list[Check]:
    """Whether Claude Code's settings hold our hook, and whether its command runs."""
    from telemetry.capture import installer

    path = Path(settings.CLAUDE_SETTINGS_PATH)
    try:
        data = installer.settings_parse(path.read_text() if path.exists() else None)
    except (OSError, installer.SettingsError) as exc:
        return [
            _check("hooks", "fail", f"{path} cannot be read: {exc}", f"fix the file, then {INSTALL_HOOK}")
        ]
    ours = _our_hooks(data)
    if not ours:
        return [
            _check("hooks", "fail", f"Blueplane's hook is not in {path}", INSTALL_HOOK, settings=str(path))
        ]
    events = len({event for event, _ in ours})
    commands = sorted({command for _, command in ours})
    if len(commands) > 1:
        hooks = _check(
            "hooks", "warn", f"{len(commands)} different Blueplane hook commands in {path}", INSTALL_HOOK
        )
    else:
        hooks = _check(
            "hooks", "ok", f"installed for {events} events in {path}", settings=str(path), events=events
        )
    return [hooks, _hook_runs(commands[0]), _hook_redis()]


def _cursor_hooks() -> Check:
    """Whether Cursor's hooks.json holds our hook, for every event, and its script and interpreter are
    there. Without a ~/.cursor folder, Cursor is not used here: that is no problem."""
    from telemetry.capture import cursor_installer, installer

    path = Path(settings.CURSOR_HOOKS_PATH)
    try:
        data = installer.settings_parse(path.read_text() if path.exists() else None)
    except (OSError, installer.SettingsError) as exc:
        return _check(
            "cursor_hooks",
            "fail",
            f"{path} cannot be read: {exc}",
            f"fix the file, then {INSTALL_CURSOR_HOOK}",
        )
    hooks = data.get("hooks") or {}
    ours = {
        event: entry["command"]
        for event, entries in hooks.items()
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and cursor_installer.is_ours(entry.get("command"))
    }
    if not ours:
        if not path.parent.exists():
            return _check("cursor_hooks", "ok", f"Cursor is not used here (no {path.parent})")
        return _check("cursor_hooks", "warn", f"Blueplane's hook is not in {path}", INSTALL_CURSOR_HOOK)
    missing = sorted(set(cursor_installer.EVENTS) - set(ours))
    wrong = [f"not installed for {', '.join(missing)}"] if missing else []
    for command in sorted(set(ours.values())):
        parts = _hook_parts(command)
        if parts is None:
            wrong.append("a hook command this version did not write")
        else:
            wrong += [f"{part} is missing" for part in parts if not os.path.exists(part)]
    if wrong:
        return _check(
            "cursor_hooks",
            "warn",
            f"Blueplane's hook in {path}: {'; '.join(sorted(set(wrong)))}",
            INSTALL_CURSOR_HOOK,
        )
    return _check("cursor_hooks", "ok", f"installed for {len(ours)} events in {path}", events=len(ours))


def _hook_redis() -> Check:
    """Whether the hook sends its events to the Redis the pipeline reads: the address it takes from
    <home>/capture.json (which `install` and the capture process write)."""
    import json

    from telemetry.capture.runtime import CONFIG_NAME, capture_config

    path = Path(settings.BLUEPLANE_HOME) / CONFIG_NAME
    try:
        written = json.loads(path.read_bytes())
    except (OSError, ValueError):
        written = None
    if not isinstance(written, dict):
        return _check(
            "hook_redis", "fail", f"{path} is missing or unreadable: the hook cannot find Redis", INSTALL_HOOK
        )
    if written != capture_config():
        return _check(
            "hook_redis",
            "warn",
            f"{path} names another Redis or privacy setting than this configuration: the hook sends its events there",
            f"{INSTALL_HOOK} (or blueplane up, whose capture process rewrites it)",
        )
    return _check("hook_redis", "ok", "the hook sends its events to the Redis the pipeline reads")


def _hook_runs(command: str) -> Check:
    parts = _hook_parts(command)
    if parts is None:
        return _check(
            "hook_command", "fail", "the installed hook command is not one this version wrote", INSTALL_HOOK
        )
    python, script = parts
    if not os.access(python, os.X_OK):
        return _check("hook_command", "fail", f"the hook's interpreter is missing: {python}", INSTALL_HOOK)
    if not Path(script).is_file():
        return _check("hook_command", "fail", f"the hook script is missing: {script}", INSTALL_HOOK)
    home = shlex.quote(str(settings.BLUEPLANE_HOME))
    with tempfile.TemporaryDirectory(prefix="blueplane-doctor-") as scratch:
        line = command.replace(f"BLUEPLANE_HOME={home}", f"BLUEPLANE_HOME={shlex.quote(scratch)}")
        results = []
        # The interpreter and script alone first: the installed line hides their failure behind exit 0.
        for argv in ([python, "-I", "-S", script, installer_target()], ["sh", "-c", line]):
            started = time.monotonic()
            try:
                done = subprocess.run(
                    argv, input=b"", capture_output=True, timeout=10, env={"PATH": os.defpath}, check=False
                )
            except subprocess.TimeoutExpired:
                return _check("hook_command", "fail", "the hook did not finish within 10 s", INSTALL_HOOK)
            results.append((done.returncode, time.monotonic() - started, done.stderr))
    (code, took_s, stderr), (line_code, line_s, _) = results
    if code != 0:
        why = stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {code}"]
        return _check("hook_command", "fail", f"the hook fails: {why[0][:200]}", INSTALL_HOOK)
    if line_code != 0:
        return _check("hook_command", "fail", f"the installed hook line exits {line_code}", INSTALL_HOOK)
    slow = max(took_s, line_s)
    if slow > HOOK_FAST_S:
        return _check(
            "hook_command",
            "warn",
            f"the hook took {slow:.2f} s (a call should take milliseconds)",
            "check the machine's load",
        )
    return _check("hook_command", "ok", f"runs and exits 0 in {slow * 1000:.0f} ms", seconds=round(slow, 4))


def installer_target() -> str:
    from telemetry.capture.installer import HOOK_TARGET

    return HOOK_TARGET


def _pipeline() -> list[Check]:
    from telemetry.capture.spool import spool_state
    from telemetry.selectors.health import health_report

    files, waiting, oldest_s = spool_state(str(settings.BLUEPLANE_HOME))
    report = health_report(spool={"files": files, "bytes": waiting, "oldest_age_s": oldest_s})
    out = []
    for name, check in report["checks"].items():
        figures = {k: v for k, v in check.items() if k not in ("status", "message")}
        out.append(_check(name, check["status"], check["message"], _HEALTH_FIXES.get(name, ""), **figures))
    return out


def _otlp() -> Check:
    """The OTLP receiver answers an empty logs export at its endpoint (it stores nothing)."""
    import urllib.error
    import urllib.request

    from telemetry.capture.runtime import otlp_endpoint

    from . import runstate

    endpoint = otlp_endpoint()
    home = Path(settings.BLUEPLANE_HOME)
    if runstate.supervisor_pid(home) is None:
        return _check("otlp", "unknown", f"{endpoint}: Blueplane is not running", endpoint=endpoint)
    ours = ((runstate.state_read(home) or {}).get("processes") or {}).get("otlp") or {}
    if ours.get("given_up"):
        return _check(
            "otlp",
            "warn",
            f"{endpoint} is taken by another program: Claude Code's OpenTelemetry export is not received",
            "set BLUEPLANE_OTLP_PORT to a free port, blueplane down && blueplane up --detach, then "
            "blueplane install claude-code --otel",
            endpoint=endpoint,
        )
    request = urllib.request.Request(
        f"{endpoint}/v1/logs", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            ok = response.status == 200
            detail = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        ok, detail = False, str(getattr(exc, "reason", exc))[:120]
    if ok:
        return _check("otlp", "ok", f"{endpoint} receives OTLP/HTTP", endpoint=endpoint)
    return _check(
        "otlp",
        "fail",
        f"{endpoint} does not answer an OTLP export ({detail})",
        "blueplane logs otlp, then blueplane down && blueplane up --detach",
        endpoint=endpoint,
    )


def _integrity() -> Check:
    """SQLite's quick_check over the whole file (PostgreSQL keeps its own)."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("sqlite3"):
        return _check("integrity", "ok", "not SQLite: PostgreSQL checks its own pages")
    path = Path(db["NAME"])
    if not path.is_file():
        return _check("integrity", "unknown", "no database file yet")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.Error as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return _check("integrity", "ok", f"{path}: quick_check ok")
    return _check(
        "integrity",
        "fail",
        f"{path} is damaged: {rows[0][:200]}",
        "blueplane down; keep a copy of the file; sqlite3 telemetry.db .recover | sqlite3 recovered.db",
    )

"""`blueplane install|uninstall|import claude-code`: what blueplane/cli.py dispatches to.

Each returns a process exit code and prints for a person: results on stdout, a one-line reason on
stderr with exit code 2 for an unknown target or a bad path (no traceback).
"""

import difflib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from . import installer
from .runtime import capture_config_write, home, privacy_get

TARGET = "claude-code"


def _fail(message: str) -> int:
    print(f"blueplane: {message}", file=sys.stderr)
    return 2


def _target_ok(target: str) -> bool:
    return target == TARGET


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _diff(path: Path, old: str | None, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (now)",
            tofile=f"{path} (after)",
        )
    )


def _write(path: Path, old: str | None, new: str) -> Path | None:
    """Back up the current file (if any), then replace it atomically. Returns the backup's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    mode = 0o600
    if old is not None:
        backup = path.with_name(f"{path.name}.blueplane-backup-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(path, backup)
        mode = path.stat().st_mode & 0o777
    tmp = path.with_name(f".{path.name}.blueplane-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)
    return backup


def _settings_change(path: Path, change: Callable[[dict], dict], *, dry_run: bool, verb: str) -> int:
    old = _read(path)
    try:
        current = installer.settings_parse(old)
    except installer.SettingsError as exc:
        return _fail(f"{path}: {exc}")
    updated = change(current)
    if updated == current:
        print(f"{path}: nothing to {verb}")
        return 0
    new = installer.settings_render(updated)
    if dry_run:
        print(_diff(path, old, new), end="")
        print(f"(dry run: {path} not changed)")
        return 0
    backup = _write(path, old, new)
    print(f"{path}: updated" + (f" (backup: {backup})" if backup else ""))
    return 0


def install(target: str, *, dry_run: bool) -> int:
    """Register the hook for every event the installed Claude Code knows."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    path = Path(settings.CLAUDE_SETTINGS_PATH)
    events, how = installer.events_supported(settings.CLAUDE_BIN or shutil.which("claude"))
    command = installer.hook_command(home=str(home()))
    print(f"hook events: {len(events)} ({how})")
    if not dry_run:
        privacy_get()  # creates the per-install salt now, not inside the first hook call
        capture_config_write()
    return _settings_change(
        path,
        lambda data: installer.settings_install(data, command=command, events=events),
        dry_run=dry_run,
        verb="install",
    )


def uninstall(target: str, *, dry_run: bool) -> int:
    """Remove every hook of ours; the user's own hooks and settings stay as they are."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    return _settings_change(
        Path(settings.CLAUDE_SETTINGS_PATH), installer.settings_uninstall, dry_run=dry_run, verb="uninstall"
    )


def import_history(target: str, path: str | None) -> int:
    """Send existing transcripts to the event stream; running it again stores nothing new."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    root = Path(path).expanduser() if path else Path(settings.CLAUDE_PROJECTS_DIR)
    if not root.exists():
        return _fail(f"{root}: no such file or folder")
    if root.is_file() and root.suffix != ".jsonl":
        return _fail(f"{root}: not a .jsonl transcript")

    import redis

    from blueplane.redis_server import RedisStartError, redis_url_ensure

    from .importer import history_import

    try:
        url = redis_url_ensure()
    except RedisStartError as exc:
        return _fail(str(exc))  # says which Redis, and whether it was waited for
    client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
    try:
        stats = history_import(str(root), client=client, privacy=privacy_get(), progress=sys.stderr.isatty())
    except redis.RedisError as exc:
        return _fail(f"Redis at {url}: {exc}")
    finally:
        client.close()
    print(f"imported {stats.events} transcript lines from {stats.files} files ({stats.bytes} bytes)")
    if stats.unreadable:
        print(f"{stats.unreadable} files could not be read", file=sys.stderr)
    return 0

"""`blueplane install|uninstall|import claude-code`, `blueplane install|uninstall cursor`: what
blueplane/cli/capture.py dispatches to.

Each returns a process exit code and prints for a person: results on stdout, a one-line reason on
stderr with exit code 2 for an unknown target, a bad path or a Claude Code that cannot be found
(no traceback), having changed nothing.

Claude Code's settings file:
- Backup: `settings.json.blueplane-backup` is the file as it was before Blueplane last added its
  hooks to it. Install writes it only when it changes a file that holds none of our hooks; a
  re-install, an upgrade and uninstall never write one, so there is one backup however often these run.
- A file install created (there was none) is remembered in
  $BLUEPLANE_HOME/capture/claude-settings-created.json, and uninstall deletes it again when nothing
  but our hooks is in it. Once it keeps other settings after an uninstall, or our hooks were taken
  out by someone else, it is the user's file and is never deleted.

Cursor's `~/.cursor/hooks.json` (cursor_installer.py) follows the same rules: the backup is
`hooks.json.blueplane-backup`, and a file install created is remembered in the same list.
"""

import difflib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError

from . import cursor_installer, installer, otel_installer
from .runtime import capture_config_write, home, otlp_endpoint, privacy_get

if TYPE_CHECKING:
    from .importer import ImportStats, Stored

TARGET = "claude-code"
CURSOR_TARGET = "cursor"
BACKUP_SUFFIX = ".blueplane-backup"
CREATED_NAME = "claude-settings-created.json"
OTEL_ADDED_NAME = "claude-otel-env.json"
CLAUDE_BIN_HELP = "name the claude binary with --claude-bin PATH or BLUEPLANE_CLAUDE_BIN"


def _fail(message: str) -> int:
    print(f"blueplane: {message}", file=sys.stderr)
    return 2


def _target_ok(target: str) -> bool:
    return target == TARGET


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as f:  # newline="": keep CRLF as it is
            return f.read()
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


def _write(path: Path, old: str | None, new: str) -> None:
    """Replace the file atomically, keeping its mode (0600 for a new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if old is not None else 0o600
    tmp = path.with_name(f".{path.name}.blueplane-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(new)
    os.replace(tmp, path)


def _created_path() -> Path:
    return home() / "capture" / CREATED_NAME


def _created() -> set[str]:
    """The settings files install created (absolute paths)."""
    try:
        paths = json.loads(_created_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {p for p in paths if isinstance(p, str)} if isinstance(paths, list) else set()


def _created_mark(path: Path, *, created: bool) -> None:
    paths = _created()
    key = str(path.absolute())
    if (key in paths) == created:
        return
    paths = paths | {key} if created else paths - {key}
    target = _created_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{CREATED_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sorted(paths), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def _settings_change(
    path: Path,
    change: Callable[[dict], dict],
    *,
    dry_run: bool,
    verb: str,
    has_ours: Callable[[dict], bool] = installer.settings_has_ours,
    empty: Callable[[dict], bool] = lambda data: not data,
) -> int:
    """Apply `change` to the JSON config at `path` (Claude Code's settings, or with `has_ours` and
    `empty` Cursor's hooks.json): print the diff on a dry run, else back up, write, or delete a file
    install created once `empty` says nothing else is in it."""
    old = _read(path)
    try:
        current = installer.settings_parse(old)
    except installer.SettingsError as exc:
        return _fail(f"{path}: {exc}")
    updated = change(current)
    ours_before = has_ours(current)
    # Install created the file and our hooks have been in it since; once they are gone, it is the user's.
    created = ours_before and str(path.absolute()) in _created()
    if not created and not dry_run:
        _created_mark(path, created=False)
    if updated == current:
        print(f"{path}: nothing to {verb}")
        return 0
    remove = created and empty(updated)
    new = "" if remove else installer.settings_render(updated, like=old)
    if dry_run:
        print(_diff(path, old, new), end="")
        print(f"(dry run: {path} not changed)")
        return 0
    if remove:
        path.unlink()
        _created_mark(path, created=False)
        print(f"{path}: removed (install had created it, and nothing else is in it)")
        return 0
    backup = None
    if old is not None and not ours_before:
        # The file as the user had it before this install: the one backup, replaced only by the next
        # install that finds none of our hooks in the file.
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        shutil.copy2(path, backup)
    if old is None:
        _created_mark(path, created=True)  # before the file, so a crash cannot leave it unmarked
    elif created and not has_ours(updated):
        _created_mark(path, created=False)  # uninstall leaves someone else's settings: theirs now
    _write(path, old, new)
    print(f"{path}: updated" + (f" (backup: {backup})" if backup else ""))
    return 0


def install(target: str, *, dry_run: bool, claude_bin: str | None = None) -> int:
    """Register the hook for every event the installed Claude Code knows (or, for `cursor`, every
    event of cursor_installer.EVENTS).

    `claude_bin` (--claude-bin), else BLUEPLANE_CLAUDE_BIN, else `claude` on PATH or where its
    installers put it. When none tells which events it accepts, fails in one line, changing nothing.
    """
    if target == CURSOR_TARGET:
        return cursor_install(dry_run=dry_run)
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r} or {CURSOR_TARGET!r}")
    path = Path(settings.CLAUDE_SETTINGS_PATH)
    claude = claude_bin or settings.CLAUDE_BIN or installer.claude_find(home=Path.home(), environ=os.environ)
    if not claude:
        return _fail(
            f"cannot find Claude Code (not on PATH, nor where its installers put it); {CLAUDE_BIN_HELP}"
        )
    try:
        events, how = installer.events_supported(claude)
    except installer.EventsUnknown as exc:
        return _fail(f"cannot tell which hook events Claude Code accepts: {exc}; {CLAUDE_BIN_HELP}")
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


def statusline_install(target: str, *, dry_run: bool, force: bool) -> int:
    """Make Blueplane's status line Claude Code's; one the user already has is kept (saying so in one
    line) unless `force`."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    path = Path(settings.CLAUDE_SETTINGS_PATH)
    try:
        current = installer.settings_parse(_read(path))
    except installer.SettingsError as exc:
        return _fail(f"{path}: {exc}")
    command = installer.statusline_command(home=str(home()))
    _, theirs = installer.settings_statusline_install(current, command=command, force=force)
    if theirs is not None:
        print(f"{path}: kept your status line ({theirs[:80]}); --force replaces it with Blueplane's")
        return 0
    if not dry_run:
        home().mkdir(parents=True, exist_ok=True)
        capture_config_write()  # the Redis address the status line sends official rate limits to
    return _settings_change(
        path,
        lambda data: installer.settings_statusline_install(data, command=command, force=force)[0],
        dry_run=dry_run,
        verb="install",
    )


def statusline_uninstall(target: str, *, dry_run: bool) -> int:
    """Remove Blueplane's status line, and only it."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    return _settings_change(
        Path(settings.CLAUDE_SETTINGS_PATH),
        installer.settings_statusline_uninstall,
        dry_run=dry_run,
        verb="uninstall",
    )


def uninstall(target: str, *, dry_run: bool) -> int:
    """Remove every hook of ours and our status line; the user's own hooks and settings stay as they
    are, and a file install created is deleted again when nothing else is in it."""
    if target == CURSOR_TARGET:
        return cursor_uninstall(dry_run=dry_run)
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r} or {CURSOR_TARGET!r}")
    return _settings_change(
        Path(settings.CLAUDE_SETTINGS_PATH), installer.settings_uninstall, dry_run=dry_run, verb="uninstall"
    )


def _otel_added_path() -> Path:
    return home() / "capture" / OTEL_ADDED_NAME


def _otel_added(path: Path) -> dict[str, str]:
    """The variables `install --otel` added to the settings file at `path`, with the values it gave."""
    try:
        record = json.loads(_otel_added_path().read_text(encoding="utf-8"))
        added = record.get(str(path.absolute()), {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in added.items() if isinstance(v, str)} if isinstance(added, dict) else {}


def _otel_added_save(path: Path, added: dict[str, str]) -> None:
    target = _otel_added_path()
    try:
        record = json.loads(target.read_text(encoding="utf-8"))
        record = record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        record = {}
    key = str(path.absolute())
    if record.get(key, {}) == added:
        return
    record = {**record, key: added} if added else {k: v for k, v in record.items() if k != key}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{OTEL_ADDED_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def otel_install(target: str, *, dry_run: bool) -> int:
    """Switch Claude Code's OpenTelemetry export on, to Blueplane's receiver (otel_installer.otel_env),
    in its settings' `env`; variables the user set otherwise are kept, one line each."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; --otel is for {TARGET!r}")
    path = Path(settings.CLAUDE_SETTINGS_PATH)
    wanted = otel_installer.otel_env(endpoint=otlp_endpoint())
    previous = _otel_added(path)  # what an earlier install added: ours to update (a new port)
    try:
        current = installer.settings_parse(_read(path))
        _, owned, notes = otel_installer.settings_otel_install(current, wanted=wanted, added=previous)
    except (installer.SettingsError, otel_installer.EnvError) as exc:
        return _fail(f"{path}: {exc}")
    for note in notes:
        print(f"{path}: {note}")
    added = {**previous, **owned}
    if not dry_run:
        # Remembered before the file changes: a crash between the two leaves a record of values not
        # in the file, which uninstall ignores (it compares values).
        _otel_added_save(path, added)

    def has_ours(data: dict) -> bool:
        return (
            installer.settings_has_ours(data)
            or otel_installer.settings_has_otel(data, added=previous)
            or otel_installer.settings_has_otel(data, added=added)
        )

    code = _settings_change(
        path,
        lambda data: otel_installer.settings_otel_install(data, wanted=wanted, added=previous)[0],
        dry_run=dry_run,
        verb="install",
        has_ours=has_ours,
    )
    if code == 0 and not dry_run:
        print(
            f"Claude Code exports OpenTelemetry to {otlp_endpoint()} from its next start (blueplane up receives it)"
        )
    return code


def otel_uninstall(target: str, *, dry_run: bool) -> int:
    """Take out the variables `install --otel` added that still hold its values; nothing else."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; --otel is for {TARGET!r}")
    path = Path(settings.CLAUDE_SETTINGS_PATH)
    added = _otel_added(path)
    try:
        installer.settings_parse(_read(path))
    except installer.SettingsError as exc:
        return _fail(f"{path}: {exc}")
    code = _settings_change(
        path,
        lambda data: otel_installer.settings_otel_uninstall(data, added=added),
        dry_run=dry_run,
        verb="uninstall",
        has_ours=lambda data: (
            installer.settings_has_ours(data) or otel_installer.settings_has_otel(data, added=added)
        ),
    )
    if code == 0 and not dry_run:
        _otel_added_save(path, {})
    return code


def cursor_install(*, dry_run: bool) -> int:
    """Merge our hook into Cursor's hooks.json for every event of cursor_installer.EVENTS."""
    path = Path(settings.CURSOR_HOOKS_PATH)
    commands = {
        event: cursor_installer.hook_command(event=event, home=str(home()))
        for event in cursor_installer.EVENTS
    }
    print(f"hook events: {len(commands)} (Cursor's, without the Tab ones)")
    if not dry_run:
        privacy_get()  # creates the per-install salt now, not inside the first hook call
        capture_config_write()
    return _settings_change(
        path,
        lambda data: cursor_installer.hooks_install(data, commands=commands),
        dry_run=dry_run,
        verb="install",
        has_ours=cursor_installer.hooks_has_ours,
        empty=cursor_installer.hooks_is_empty,
    )


def cursor_uninstall(*, dry_run: bool) -> int:
    """Remove every hook of ours from Cursor's hooks.json; the user's own stay as they are."""
    return _settings_change(
        Path(settings.CURSOR_HOOKS_PATH),
        cursor_installer.hooks_uninstall,
        dry_run=dry_run,
        verb="uninstall",
        has_ours=cursor_installer.hooks_has_ours,
        empty=cursor_installer.hooks_is_empty,
    )


def import_history(target: str, path: str | None, *, stored: "Stored | None" = None) -> int:
    """Send existing transcripts to the event stream and say what became of them: new events, events
    already stored (when `stored` can tell), lines that could not be read. Running it again stores
    nothing new. Exit code 1 when a file, or the whole import, had nothing readable."""
    if not _target_ok(target):
        return _fail(f"unknown target {target!r}; expected {TARGET!r}")
    root = Path(path).expanduser() if path else Path(settings.CLAUDE_PROJECTS_DIR)
    if not root.exists():
        return _fail(f"{root}: no such file or folder")
    if root.is_file() and root.suffix != ".jsonl":
        return _fail(f"{root}: not a .jsonl transcript")

    import redis

    from blueplane.redis_server import RedisStartError, redis_url_ensure

    from .importer import history_import, stored_wait

    url, client = "", None

    def connect() -> redis.Redis:
        # Only once there is something to send: importing garbage starts no Redis.
        nonlocal url, client
        url = redis_url_ensure()
        client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
        return client

    progress = sys.stderr.isatty()
    try:
        stats = history_import(
            str(root), connect=connect, privacy=privacy_get(), progress=progress, stored=stored
        )
        for line in _problem_lines(stats):
            print(line, file=sys.stderr)
        if not stats.files:
            print(f"{root}: no transcripts (*.jsonl) to import", file=sys.stderr)
            return 1
        print(_read_line(stats))
        if stats.new:
            if progress:
                print("waiting for Blueplane to store them ...", file=sys.stderr)
            waited = stored_wait(client, last_id=stats.last_id)
            print(_outcome_line(stats, waited=waited, stored=stored))
    except RedisStartError as exc:
        return _fail(str(exc))  # says which Redis, and whether it was waited for
    except redis.RedisError as exc:
        return _fail(f"Redis at {url}: {exc}")
    except DatabaseError as exc:  # asking the store what it has
        return _fail(f"database: {exc}")
    finally:
        if client is not None:
            client.close()
    return 1 if stats.empty_files or stats.unreadable_files else 0


def _problem_lines(stats: "ImportStats") -> list[str]:
    """One line per problem: the first few unreadable lines, files that could not be read or had nothing
    readable."""
    lines = list(stats.problems)
    if stats.bad_lines > len(stats.problems):
        more = stats.bad_lines - len(stats.problems)
        lines.append(f"... and {_count(more, 'more line')} that could not be read")
    lines += [f"{problem}: not imported" for problem in stats.unreadable_files]
    lines += [f"{path}: nothing readable, not imported" for path in stats.empty_files]
    return lines


def _read_line(stats: "ImportStats") -> str:
    read = f"read {_count(stats.files, 'file')} ({stats.bytes_read} bytes): {_count(stats.events, 'event')}"
    if stats.bad_lines:
        read += f", {_count(stats.bad_lines, 'line')} that could not be read"
    if stats.checked:
        read += f"; {stats.new} new, {stats.duplicates} already stored"
    else:
        read += f"; {stats.new} sent (not checked against what is stored)"
    if stats.repeats:
        read += f" ({stats.repeats} read twice, sent once)"
    return read


def _outcome_line(stats: "ImportStats", *, waited: bool, stored: "Stored | None") -> str:
    if not waited or stored is None:
        return f"{stats.new} events queued; they are stored when Blueplane runs (`blueplane up`)"
    done = 0
    for start in range(0, len(stats.sent), 500):
        done += sum(stored(stats.sent[start : start + 500]))
    if done == stats.new:
        return f"{done} new events stored"
    return (
        f"{done} of {stats.new} new events stored; {stats.new - done} were refused"
        " (dead letters: see `blueplane status`)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

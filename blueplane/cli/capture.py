"""Capture: `install` and `uninstall` an assistant's hooks, `import` its history or a Parquet archive."""

import argparse
import os
from collections.abc import Callable
from types import ModuleType

from .options import CommandError, django_setup


def _commands() -> ModuleType:
    django_setup()
    from telemetry.capture import commands

    return commands


def cmd_install(args: argparse.Namespace) -> int:
    if args.mcp or args.statusline or args.otel:  # only those parts, not the hooks
        codes = []
        if args.otel:
            codes.append(_commands().otel_install(args.target, dry_run=args.dry_run))
        if args.statusline:
            codes.append(_commands().statusline_install(args.target, dry_run=args.dry_run, force=args.force))
        if args.mcp:
            codes.append(_mcp_config().mcp_install(args.target, dry_run=args.dry_run))
        return max(codes)
    return _commands().install(args.target, dry_run=args.dry_run, claude_bin=args.claude_bin)


def cmd_uninstall(args: argparse.Namespace) -> int:
    if args.mcp or args.statusline or args.otel:
        codes = []
        if args.otel:
            codes.append(_commands().otel_uninstall(args.target, dry_run=args.dry_run))
        if args.statusline:
            codes.append(_commands().statusline_uninstall(args.target, dry_run=args.dry_run))
        if args.mcp:
            codes.append(_mcp_config().mcp_uninstall(args.target, dry_run=args.dry_run))
        return max(codes)
    return _commands().uninstall(args.target, dry_run=args.dry_run)


def _mcp_config() -> ModuleType:
    django_setup()
    from telemetry.capture import mcp_config

    return mcp_config


def cmd_import(args: argparse.Namespace) -> int:
    if args.target == "archive":
        django_setup()
        return _archive_import(args.path)
    if args.target == "cursor":
        django_setup()
        from telemetry.capture.cursor_import import import_cursor

        return import_cursor(args.path, stored=_stored_lookup(platform="cursor"))
    commands = _commands()
    return commands.import_history(args.target, args.path, stored=_stored_lookup())


def _stored_lookup(*, platform: str | None = None) -> Callable[[list[tuple[str, str]]], list[bool]] | None:
    """Which events the raw store has, for the import to send only new ones; None before the database
    is set up (then everything is sent, and stored once Blueplane runs)."""
    from django.db import DatabaseError

    from telemetry.capture.claude_events import PLATFORM
    from telemetry.selectors.system import database_ready
    from telemetry.selectors.traces import traces_stored

    try:
        if not database_ready():
            return None
    except DatabaseError:
        return None
    return lambda events: traces_stored(platform=platform or PLATFORM, events=events)


def _archive_import(path: str | None) -> int:
    """Put archived raw traces (Parquet, see BLUEPLANE_ARCHIVE_AFTER_DAYS) back, and derive what they say,
    through the slow path's bounded runs (as many as it takes), never one transaction for everything."""
    from django.conf import settings

    from telemetry.processing.catchup import sessions_catch_up
    from telemetry.store.archive import ArchiveUnreadable, archive_import

    root = os.path.expanduser(path) if path else str(settings.BLUEPLANE_ARCHIVE_DIR)
    if not os.path.exists(root):
        raise CommandError(f"{root}: no such file or folder", exit_code=2)
    try:
        result = archive_import(root)
    except ArchiveUnreadable as exc:
        raise CommandError(str(exc), exit_code=2) from None
    # Sessions new to this database are derived from scratch; known ones already include these events.
    pending, failed = set(result.sessions), set()
    while pending:
        run = sessions_catch_up(sessions=pending)
        failed |= set(run.failed) | run.waiting
        pending = run.more | run.left
    print(
        f"imported {result.events} archived events ({result.skipped} already stored) of {len(result.sessions)} sessions"
    )
    if failed:
        print(
            f"{len(failed)} sessions could not be derived yet: the slow path retries them (blueplane status)"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    for name, handler, help in (
        ("install", cmd_install, "install the capture hooks of an assistant"),
        ("uninstall", cmd_uninstall, "remove the capture hooks of an assistant"),
    ):
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("target", metavar="TARGET", help="the assistant: claude-code or cursor")
        p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        p.add_argument(
            "--mcp",
            action="store_true",
            help=f"only {'register' if name == 'install' else 'remove'} Blueplane's MCP server in Claude "
            "Code's user config (as `claude mcp add --scope user blueplane`), not the hooks",
        )
        p.add_argument("--statusline", action="store_true", help=f"{name} only Blueplane's status line")
        p.add_argument(
            "--otel",
            action="store_true",
            help="only "
            + ("switch on" if name == "install" else "switch off")
            + " Claude Code's OpenTelemetry export to Blueplane's receiver (the `env` of its settings.json)",
        )
        if name == "install":
            p.add_argument(
                "--force", action="store_true", help="with --statusline: replace your own status line"
            )
            p.add_argument(
                "--claude-bin",
                metavar="PATH",
                help="the claude binary (default: found on PATH or where its installers put it)",
            )
        p.set_defaults(handler=handler)
    imp = sub.add_parser("import", help="import an assistant's existing history")
    imp.add_argument(
        "target",
        metavar="TARGET",
        help="the assistant (claude-code, cursor), or `archive` for Parquet archives",
    )
    imp.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="where its history is (default: its usual place); for cursor, the home folder holding its data",
    )
    imp.set_defaults(handler=cmd_import)

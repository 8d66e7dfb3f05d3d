"""The `blueplane` command: start and stop the system, show its state, install capture, import history.

Errors the user can fix (a bad environment variable, a Redis that will not start, a second `up`) are
one line on stderr and exit code 1; a bad argument is argparse's usage and one line, exit code 2.
"""

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from types import ModuleType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured

from .redis_server import RedisStartError
from .supervisor import SupervisorError

PROG = "blueplane"


def django_setup() -> None:
    """Load settings (raising ImproperlyConfigured on a bad variable) and the apps."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    import django

    django.setup()


# --- start and stop ------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from . import supervisor

    if not args.detach:
        return supervisor.Supervisor.from_settings().run()
    home = settings.BLUEPLANE_HOME
    pid = supervisor.up_detached(home=home)
    print(f"Blueplane is running in the background (pid {pid}).")
    print(supervisor.banner(port=settings.BLUEPLANE_PORT, home=home))
    print(f"  logs   {supervisor.log_path(home)}")
    print("Stop it with: blueplane down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from . import supervisor

    pid = supervisor.down(home=settings.BLUEPLANE_HOME)
    if pid is None:
        print("Blueplane is not running.")
    else:
        print(f"Blueplane stopped (pid {pid}).")
    return 0


# --- status --------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    django_setup()
    from django.conf import settings

    from . import supervisor

    home = settings.BLUEPLANE_HOME
    print(f"home        {home}")
    pid = supervisor.supervisor_pid(home)
    state = supervisor.state_read(home) if pid else None
    if pid is None:
        print("supervisor  not running (start it with: blueplane up)")
    else:
        print(f"supervisor  running (pid {pid}){'' if state and state.get('ready') else ', starting'}")
        for name, proc in (state or {}).get("processes", {}).items():
            child_pid = proc.get("pid")
            alive = child_pid is not None and supervisor.pid_alive(child_pid, marker=None)
            what = f"pid {child_pid}" if alive else "restarting"
            restarts = f", restarted {proc['restarts']}x" if proc.get("restarts") else ""
            print(f"  {name:<9} {what}{restarts}")
        port = (state or {}).get("port", settings.BLUEPLANE_PORT)
        print(f"  admin     http://127.0.0.1:{port}/admin/")
    _status_redis(settings)
    _status_database()
    return 0


def _status_redis(settings: LazySettings) -> None:
    from telemetry.selectors import redis_ok, stream_state

    where = (
        "BLUEPLANE_REDIS_URL" if settings.BLUEPLANE_REDIS_URL else f"embedded, {settings.REDIS_SOCKET_PATH}"
    )
    if not redis_ok():
        print(f"redis       not answering ({where})")
        return
    print(f"redis       up ({where})")
    state = stream_state()
    print(
        f"stream      telemetry:events: {state['events']} entries, {state['pending']} pending; "
        f"telemetry:dlq: {state['dead_letters']} entries"
    )


def _status_database() -> None:
    from django.db import DatabaseError

    from telemetry.models import RAW_TRACE_MODELS
    from telemetry.selectors import trace_list

    try:
        counts = {platform: trace_list(platform=platform).count() for platform in RAW_TRACE_MODELS}
    except DatabaseError:
        print("raw traces  database not migrated yet (blueplane up migrates it)")
        return
    print("raw traces  " + ", ".join(f"{platform} {n}" for platform, n in counts.items()))


# --- Django passthrough --------------------------------------------------------------------------


def cmd_manage(args: argparse.Namespace) -> int:
    """`blueplane manage <command> ...` is `python manage.py <command> ...`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"{PROG} manage", *args.rest])
    return 0


# --- capture: install, uninstall, import ---------------------------------------------------------


class CommandUnavailable(RuntimeError):
    """A subcommand whose implementation is not in this checkout yet."""


def _capture_commands() -> ModuleType:
    """telemetry.capture.commands; CommandUnavailable while that module is not written yet."""
    try:
        from telemetry.capture import commands
    except ModuleNotFoundError as exc:
        if exc.name != "telemetry.capture.commands":
            raise
        raise CommandUnavailable(
            "capture commands are not available yet (telemetry.capture.commands)"
        ) from None
    return commands


def cmd_install(args: argparse.Namespace) -> int:
    django_setup()
    return _capture_commands().install(args.target, dry_run=args.dry_run, claude_bin=args.claude_bin)


def cmd_uninstall(args: argparse.Namespace) -> int:
    django_setup()
    return _capture_commands().uninstall(args.target, dry_run=args.dry_run)


def cmd_import(args: argparse.Namespace) -> int:
    django_setup()
    if args.target == "archive":
        return _archive_import(args.path)
    return _capture_commands().import_history(args.target, args.path)


def _archive_import(path: str | None) -> int:
    """Put archived raw traces (Parquet, see BLUEPLANE_ARCHIVE_AFTER_DAYS) back, and derive what they say."""
    from django.conf import settings

    from telemetry.processing.archive import ArchiveUnreadable, archive_import
    from telemetry.processing.catchup import sessions_catch_up

    root = os.path.expanduser(path) if path else str(settings.BLUEPLANE_ARCHIVE_DIR)
    if not os.path.exists(root):
        print(f"{PROG}: {root}: no such file or folder", file=sys.stderr)
        return 2
    try:
        result = archive_import(root)
    except ArchiveUnreadable as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    # Sessions new to this database are derived from scratch; known ones already include these events.
    sessions_catch_up(sessions=result.sessions)
    print(
        f"imported {result.events} archived events ({result.skipped} already stored) of {len(result.sessions)} sessions"
    )
    return 0


# --- reports --------------------------------------------------------------------------------------


class ReportError(ValueError):
    """A report the database cannot answer (an unknown time zone, a reversed range, no database yet)."""


def _local_zone() -> str:
    """The machine's IANA time zone (TZ, else /etc/localtime's target), else UTC."""
    if zone := os.environ.get("TZ", "").lstrip(":"):
        return zone
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _span(args: argparse.Namespace) -> tuple[date, date, ZoneInfo]:
    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {args.tz!r} (use an IANA name such as Europe/Berlin)") from None
    today = datetime.now(zone).date()
    until = args.until or today
    since = args.since or until - timedelta(days=args.days - 1)
    if since > until:
        raise ReportError(f"--since {since} is after --until {until}")
    return since, until, zone


def _report_head(args: argparse.Namespace, rows: list[dict], heading: str, what: str) -> bool:
    """Print JSON, or the heading (and say so when there is nothing). True when a table should follow."""
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return False
    print(heading)
    if not rows:
        print(f"no {what} recorded in this period")
    return bool(rows)


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Print rows as aligned columns: (key, heading, format) with format 'text', 'int' or 'usd'."""

    def cell(row: dict, key: str, kind: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        if kind == "int":
            return f"{round(value):,}"
        if kind == "usd":
            return f"{value:,.4f}"
        return str(value)

    cells = [[cell(r, k, kind) for k, _, kind in columns] for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, (_, h, _) in enumerate(columns)]
    for line in [[h for _, h, _ in columns], *cells]:
        print(
            "  ".join(
                v.ljust(w) if kind == "text" else v.rjust(w)
                for v, w, (_, _, kind) in zip(line, widths, columns, strict=True)
            ).rstrip()
        )


_USAGE_COLUMNS = [
    ("messages", "messages", "int"),
    ("input_tokens", "input", "int"),
    ("output_tokens", "output", "int"),
    ("cache_write_tokens", "cache write", "int"),
    ("cache_read_tokens", "cache read", "int"),
    ("cost_usd", "cost USD", "usd"),
]


NOT_SET_UP = "no data yet: the database is not set up; `blueplane up` sets it up and starts capturing"


def cmd_usage(args: argparse.Namespace) -> int:
    django_setup()
    from telemetry import selectors

    if not selectors.database_ready():
        raise ReportError(NOT_SET_UP)
    from telemetry.processing.pricing import price_table_load

    since, until, zone = _span(args)
    if args.by == "session":
        start = datetime.combine(since, time.min, zone)
        end = datetime.combine(until + timedelta(days=1), time.min, zone)
        rows = selectors.session_usage_list(start=start, end=end, limit=args.limit)
        columns = [("session_id", "session", "text"), ("project", "project", "text"),
                   ("started_at", "started", "text"), *_USAGE_COLUMNS]  # fmt: skip
        for r in rows:
            r["started_at"] = (
                r["started_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M") if r["started_at"] else ""
            )
    else:
        by = {"model": ("model",), "project": ("project",), "day": ()}[args.by]
        daily = selectors.usage_by_day(start=since, end=until, tz=args.tz, by=by)
        rows = _usage_group(daily, key="day" if args.by == "day" else by[0])
        columns = [(args.by, args.by, "text"), *_USAGE_COLUMNS]
    if not _report_head(args, rows, f"Usage {since} .. {until} ({args.tz}), by {args.by}", "usage"):
        return 0
    total = {k: sum((r[k] or 0) for r in rows) for k, _, _ in _USAGE_COLUMNS}
    _table([*rows, {columns[0][0]: "total", **total}], columns)
    print(f"prices: {price_table_load().version}")
    return 0


def _usage_group(daily: list[dict], *, key: str) -> list[dict]:
    groups: dict = {}
    for row in daily:
        name = str(row[key])
        acc = groups.setdefault(name, {key: name, **{k: 0 for k, _, _ in _USAGE_COLUMNS}})
        for k, _, _ in _USAGE_COLUMNS:
            acc[k] += row[k] or 0
    return (
        sorted(groups.values(), key=lambda r: (-r["cost_usd"], r[key]))
        if key != "day"
        else list(groups.values())
    )


def cmd_tools(args: argparse.Namespace) -> int:
    django_setup()
    from telemetry import selectors

    if not selectors.database_ready():
        raise ReportError(NOT_SET_UP)

    since, until, zone = _span(args)
    start = datetime.combine(since, time.min, zone)
    end = datetime.combine(until + timedelta(days=1), time.min, zone)
    rows = selectors.tool_stats(start=start, end=end)
    if not _report_head(args, rows, f"Tool calls {since} .. {until} ({args.tz})", "tool calls"):
        return 0
    _table(rows, [("tool_name", "tool", "text"), ("calls", "calls", "int"), ("failures", "failed", "int"),
                  ("rejections", "rejected", "int"), ("interruptions", "interrupted", "int"),
                  ("p50_ms", "p50 ms", "int"), ("p95_ms", "p95 ms", "int")])  # fmt: skip
    return 0


# --- parsing -------------------------------------------------------------------------------------


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Local, privacy-first telemetry for AI coding assistants."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help: str, **kw
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, **kw)
        p.set_defaults(handler=handler)
        return p

    up = add(
        "up", cmd_up, "start Redis, migrations, the fast path, workers and the web server (Ctrl-C stops)"
    )
    up.add_argument("--detach", action="store_true", help="run in the background; `blueplane down` stops it")
    add("down", cmd_down, "stop what `blueplane up --detach` started")
    add("status", cmd_status, "show the processes, Redis, the event stream and stored trace counts")
    manage = add(
        "manage", cmd_manage, "run a Django management command, e.g. `blueplane manage createsuperuser`"
    )
    manage.add_argument(
        "rest", nargs=argparse.REMAINDER, metavar="ARGS", help="the command and its arguments"
    )
    for name, handler, help in (
        ("install", cmd_install, "install the capture hooks of an assistant"),
        ("uninstall", cmd_uninstall, "remove the capture hooks of an assistant"),
    ):
        p = add(name, handler, help)
        p.add_argument("target", metavar="TARGET", help="the assistant, e.g. claude-code")
        p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        if name == "install":
            p.add_argument(
                "--claude-bin",
                metavar="PATH",
                help="the claude binary (default: found on PATH or where its installers put it)",
            )
    for name, handler, help, choices in (
        (
            "usage",
            cmd_usage,
            "tokens and cost per model, project, day or session",
            ("model", "project", "day", "session"),
        ),
        ("tools", cmd_tools, "tool calls, failures, rejections and latency per tool", None),
    ):
        p = add(name, handler, help)
        if choices:
            p.add_argument("--by", choices=choices, default="model", help="how to group (default: model)")
            p.add_argument("--limit", type=_positive, default=50, help="sessions to list with --by session")
        p.add_argument("--since", type=_day, help="first day, YYYY-MM-DD (default: --days before --until)")
        p.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (default: today)")
        p.add_argument("--days", type=_positive, default=30, help="days to cover when --since is not given")
        p.add_argument(
            "--tz", default=_local_zone(), help="IANA time zone of the days (default: this machine's)"
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    imp = add("import", cmd_import, "import an assistant's existing history")
    imp.add_argument(
        "target", metavar="TARGET", help="the assistant (claude-code), or `archive` for Parquet archives"
    )
    imp.add_argument(
        "path", metavar="PATH", nargs="?", help="where its history is (default: its usual place)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manage"]:
        # Everything after `manage` belongs to Django, including options argparse would claim (--help).
        args = argparse.Namespace(handler=cmd_manage, rest=argv[1:])
    else:
        args = parser_build().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our reader went away (`blueplane status | head`): stop quietly, and keep the interpreter's
        # final flush from complaining about the same pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ImproperlyConfigured, RedisStartError, SupervisorError, CommandUnavailable, ReportError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

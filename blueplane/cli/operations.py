"""`purge`, `doctor`, `logs`: removing data for good, checking the installation, reading the log."""

import argparse
import collections
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .options import CommandError, database_require, day, django_setup, local_zone, positive, zone_checked
from .output import json_print, table

_REDIS_DOWN = "Redis is not answering, and purge must clear it too: start Blueplane with `blueplane up`"

# The kinds a purge removes, as its summary names them, in the order it prints them.
_KINDS = [
    ("sessions", "sessions"),
    ("conversations", "conversations"),
    ("turns", "turns"),
    ("tool_calls", "tool calls"),
    ("code_changes", "code changes"),
    ("data_issues", "data issues"),
    ("watermarks", "watermarks (session progress)"),
    ("raw_events", "raw events"),
    ("raw_units", "compressed units"),
    ("archived_events", "archived events"),
    ("archive_files", "archive files rewritten"),
    ("projects", "projects left empty"),
    ("rollup_hours", "rollup hours recomputed"),
    ("dirty_marks", "dirty marks (Redis)"),
    ("change_records", "change stream entries (Redis)"),
    ("dead_letters", "dead letters (Redis)"),
    ("stream_entries", "event stream entries (Redis)"),
]


def _purge_target(args: argparse.Namespace) -> str:
    """Which kind of purge the options ask for, or a one-line error when they ask for none or two."""
    spans = args.since is not None or args.until is not None
    chosen = [n for n, on in (("all", args.all), ("session", args.session is not None)) if on]
    if args.project is not None or spans:
        chosen.append("sessions")
    if not chosen:
        raise CommandError(
            "say what to purge: --session ID, --project NAME, --since/--until, or --all", exit_code=2
        )
    if len(chosen) > 1:
        raise CommandError(
            "--all and --session each stand alone (--project and --since/--until combine)", exit_code=2
        )
    return chosen[0]


def _confirm(question: str) -> None:
    """Ask on the terminal (the question on stderr, so --json's stdout stays JSON); anything but `yes`
    leaves everything as it was. Without a terminal there is nobody to ask: --yes is needed."""
    if not sys.stdin.isatty():
        raise CommandError("purge asks for confirmation on a terminal: add --yes to purge without asking")
    print(f"{question} Type yes to remove them for good: ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip() != "yes":
        raise CommandError("nothing removed")


def _selection(args: argparse.Namespace, target: str) -> tuple[object, str]:
    """The sessions the options name (processing.purge.purge_select), and how to say which they are."""
    from telemetry.processing import purge
    from telemetry.selectors.sessions import projects_named
    from telemetry.selectors.spans import day_start

    if target == "all":
        return purge.purge_select(everything=True), "every session"
    if target == "session":
        selection = purge.purge_select(session_id=args.session)
        if not selection.sessions:
            raise CommandError(
                f"no session {args.session[:80]!r} (`blueplane sessions` lists them)", exit_code=2
            )
        return selection, f"session {args.session}"
    zone = zone_checked(args.tz)
    if args.since and args.until and args.since > args.until:
        raise CommandError(f"--since {args.since} is after --until {args.until}")
    if args.project is not None and not projects_named(args.project).exists():
        raise CommandError(f"no project {args.project[:80]!r} (`blueplane projects` lists them)", exit_code=2)
    selection = purge.purge_select(
        project=args.project,
        start=day_start(args.since, zone) if args.since else None,
        end=day_start(args.until, zone, days_later=1) if args.until else None,
    )
    return selection, _describe(args)


def cmd_purge(args: argparse.Namespace) -> int:
    target = _purge_target(args)
    database_require()
    import redis

    from telemetry.connections import redis_client
    from telemetry.processing import purge
    from telemetry.selectors.system import redis_ok
    from telemetry.store.archive import ArchiveUnreadable

    if not redis_ok():
        raise CommandError(_REDIS_DOWN)
    selection, what = _selection(args, target)
    n = len(selection.sessions)
    notes = []
    if selection.active:
        notes.append(f"{selection.active} still active: events that arrive later start them anew")
    if selection.kept_across_edges:
        notes.append(f"{selection.kept_across_edges} reaching across the span's edges are kept")
    summary = f"{what}: {n} session{'s' if n != 1 else ''}" + (f" ({'; '.join(notes)})" if notes else "")
    client = redis_client()
    if args.dry_run:
        counts = purge.purge_count(selection, client=client)
        _report(counts, summary=summary, verb="would remove", as_json=args.json, dry=True)
        return 0
    if not n:
        _report(purge.PurgeCounts(), summary=summary, verb="removed", as_json=args.json, dry=False)
        return 0
    if not args.yes:
        _confirm(f"Purge {summary}?")
    try:
        if target == "all":
            counts = purge.everything_purge(client=client)
        else:
            counts = purge.sessions_purge(selection, client=client)
    except (OSError, ArchiveUnreadable) as exc:
        raise CommandError(f"purge stopped: {exc}") from None
    except redis.RedisError as exc:
        raise CommandError(
            f"Redis stopped answering during the purge ({type(exc).__name__}): what the database held is "
            "removed if the purge got that far; once Redis answers, `blueplane manage rebuild` rewrites "
            "its live metrics"
        ) from None
    _report(counts, summary=summary, verb="removed", as_json=args.json, dry=False)
    return 0


def _describe(args: argparse.Namespace) -> str:
    parts = [f"project {args.project}"] if args.project else []
    if args.since or args.until:
        parts.append(f"activity within {args.since or '…'} .. {args.until or '…'} ({args.tz})")
    return ", ".join(parts)


def _report(counts: object, *, summary: str, verb: str, as_json: bool, dry: bool) -> None:
    values = counts.as_dict()
    if as_json:
        json_print({"dry_run": dry, "selected": summary, verb.replace(" ", "_"): values})
        return
    print(summary)
    rows = [{"kind": label, "n": values[key]} for key, label in _KINDS if values[key]]
    if not rows:
        print(f"{verb}: nothing")
        return
    table(rows, [("kind", verb, "text"), ("n", "", "int")])


_MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "unknown": "?"}


def cmd_doctor(args: argparse.Namespace) -> int:
    django_setup()
    from ..doctor import doctor_report, problems

    checks = doctor_report()
    wrong = problems(checks)
    if args.json:
        json_print({"healthy": not wrong, "problems": len(wrong), "checks": checks})
        return 1 if wrong else 0
    width = max(len(c["name"]) for c in checks)
    for c in checks:
        print(f"{_MARKS[c['status']]:<4}  {c['name']:<{width}}  {c['message']}")
        if "fix" in c:
            print(f"{'':<4}  {'':<{width}}  fix: {c['fix']}")
    print(f"{len(wrong)} problem{'s' if len(wrong) != 1 else ''} found" if wrong else "no problems found")
    return 1 if wrong else 0


# A child's line: its name padded to 8, then " | " (supervisor._pump). The supervisor's own lines are
# its log records: "2026-12-06 17:26:39,987 INFO blueplane.redis_server: ...".
_CHILD_LINE = re.compile(r"^([\w-]+) *\| ")
_RECORD_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \w+ ([\w.]+): ")
_FOLLOW_SLEEP_S = 0.2


class _LogFilter:
    """Which process wrote each line of the supervisor's log. A line that names none (a traceback's
    next line, the banner) belongs to the process of the line before it."""

    def __init__(self, children: list[str], wanted: str | None) -> None:
        self.children = set(children)
        self.wanted = wanted
        self.current = "supervisor"

    def keep(self, line: str) -> bool:
        if (child := _CHILD_LINE.match(line)) and child.group(1) in self.children:
            self.current = child.group(1)
        elif record := _RECORD_LINE.match(line):
            self.current = "redis" if record.group(1) == "blueplane.redis_server" else "supervisor"
        return self.wanted is None or self.current == self.wanted


def cmd_logs(args: argparse.Namespace) -> int:
    # The settings alone (the home, the process list), not the apps: reading a log needs no database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blueplane.settings")
    from django.conf import settings

    from ..runstate import log_path
    from ..supervisor import processes_default

    children = [p.name for p in processes_default(port=0)]
    known = [*children, "redis", "supervisor"]
    if args.process is not None and args.process not in known:
        raise CommandError(f"no process {args.process[:80]!r}: choose one of {', '.join(known)}", exit_code=2)
    path = log_path(Path(settings.BLUEPLANE_HOME))
    if not path.exists() and not args.follow:
        raise CommandError(f"no log yet at {path}: `blueplane up --detach` writes it")
    keep = _LogFilter(children, args.process).keep
    try:
        position = 0
        if path.exists():
            with open(path, "rb") as log:
                last = collections.deque(
                    (line for line in _lines(log) if keep(line)), maxlen=min(args.lines, sys.maxsize)
                )
                position = log.tell()
            sys.stdout.writelines(last)
            sys.stdout.flush()
        if args.follow:
            _follow(path, position, keep)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how -f ends
    return 0


def _lines(log: BinaryIO) -> Iterator[str]:
    for raw in log:
        yield raw.decode(errors="replace")


def _follow(path: Path, position: int, keep: Callable[[str], bool]) -> None:
    """Print the lines written after `position`, as they come, until Ctrl-C; a log that was truncated
    or replaced is read again from its start."""
    partial = b""
    while True:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < position:
            position, partial = 0, b""
        if size > position:
            with open(path, "rb") as log:
                log.seek(position)
                data = partial + log.read()
                position = log.tell()
            *complete, partial = data.split(b"\n")
            out = [line.decode(errors="replace") + "\n" for line in complete]
            sys.stdout.writelines(line for line in out if keep(line))
            sys.stdout.flush()
        time.sleep(_FOLLOW_SLEEP_S)


def register(sub: argparse._SubParsersAction) -> None:
    help = "remove sessions for good: raw and derived rows, archives and live metrics"
    p = sub.add_parser("purge", help=help, description=help + " (whole sessions; see README, Purge).")
    p.add_argument("--session", metavar="ID", help="this session (any platform; derived or not)")
    p.add_argument("--project", help="the sessions of this project (its name or key)")
    p.add_argument("--since", type=day, help="sessions whose activity lies wholly on or after this day")
    p.add_argument("--until", type=day, help="sessions whose activity lies wholly on or before this day")
    p.add_argument("--tz", default=local_zone(), help="IANA time zone of the days (default: this machine's)")
    p.add_argument("--all", action="store_true", help="everything Blueplane has stored")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
    p.set_defaults(handler=cmd_purge)
    help = "check the installation, hooks, Redis, database, disk and pipeline; say how to fix each problem"
    p = sub.add_parser("doctor", help=help, description=help + " (exit 1 when there is a problem).")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(handler=cmd_doctor)
    help = "the supervisor's log (<home>/logs/blueplane.log), all of it or one process's lines"
    p = sub.add_parser("logs", help=help, description=help + ".")
    p.add_argument(
        "process", nargs="?", help="web, fastpath, worker, beat, capture, redis or supervisor (default: all)"
    )
    p.add_argument(
        "-n", "--lines", type=positive, default=50, help="how many of the last lines (default: 50)"
    )
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.set_defaults(handler=cmd_logs)

"""`export`: one table (or, as JSON, every table) to a JSON, JSON Lines, CSV, Markdown or Parquet file.

The rows and the writers are the API's (telemetry/selectors/export_formats.py, GET /api/v1/export/), so a
file written here holds what the API answers for the same span and filters. Rows come from a database
cursor and are written as they come: the table is never whole in memory. A file is written under a
temporary name beside it and renamed when complete, so an export that fails leaves no half file and an
existing file is replaced only with --force.
"""

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .options import (
    CommandError,
    Span,
    database_require,
    day,
    local_zone,
    people_options,
    platform_option,
    positive,
)

FORMATS = ("json", "jsonl", "csv", "md", "parquet")
TABLES = ("sessions", "turns", "tool-calls", "code-changes", "all")


def _table(text: str) -> str:
    """A table's name as the command spells it (tool-calls); the API's spelling (tool_calls) is taken too."""
    name = text.replace("_", "-")
    if name not in TABLES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of: {', '.join(TABLES)}")
    return name


@contextlib.contextmanager
def _destination(path: str | None, *, force: bool) -> Iterator[object]:
    """A binary file to write to: stdout for None or '-', else a temporary file beside `path` that
    replaces it once the block ends without error (and is removed if it does not)."""
    if path in (None, "-"):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise CommandError(f"{path} is a folder: name a file with -o")
    if target.exists() and not force:
        raise CommandError(f"{path} exists: --force replaces it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a file the user asked for gets the usual mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _filtered(sessions: object, args: argparse.Namespace) -> object:
    """The sessions list's filters (GET /api/v1/sessions/), through the selectors its filters call."""
    from telemetry.selectors import derived
    from telemetry.selectors import sessions as selectors
    from telemetry.selectors.spans import people_filter

    if args.project is not None:
        if not selectors.projects_named(args.project).exists():
            raise CommandError(
                f"no project {args.project[:80]!r} (`blueplane projects` lists them)", exit_code=2
            )
        sessions = selectors.sessions_in_project(sessions, project=args.project)
    sessions = people_filter(sessions, user=args.user, machine=args.machine)
    if args.branch is not None:
        sessions = sessions.filter(git_branch=args.branch)
    if args.status is not None:
        sessions = sessions.filter(status=args.status)
    if args.model is not None:
        sessions = derived.sessions_using_model(sessions, model=args.model)
    if args.tool is not None:
        sessions = selectors.sessions_using_tool(sessions, tool=args.tool)
    if args.min_cost is not None:
        sessions = selectors.sessions_min_cost(sessions, cost_usd=args.min_cost)
    if args.min_tokens is not None:
        sessions = selectors.sessions_min_tokens(
            selectors.sessions_with_tokens(sessions), tokens=args.min_tokens
        )
    return sessions


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("nan")
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not an amount of USD: {text[:80]!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 0: {text[:80]!r}")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    table = args.table or ("all" if args.format in ("json", "jsonl") else "sessions")
    if table == "all" and args.format not in ("json", "jsonl"):
        raise CommandError(
            f"a {args.format} file holds one table: --table sessions, turns, tool-calls or code-changes"
        )
    if args.format == "parquet" and args.output in (None, "-"):
        raise CommandError("a Parquet file is binary: name it with -o FILE")
    database_require()
    from telemetry.selectors import export, export_formats

    span = Span(args)
    sessions = _filtered(export.export_sessions(start=span.start, end=span.end, platform=args.platform), args)
    values = {
        "local_days": span.days,
        "tables": list(export.TABLES) if table == "all" else [table.replace("-", "_")],
    }
    writer = export_formats.WRITERS[args.format]
    with _destination(args.output, force=args.force) as out:
        try:
            for piece in writer(values, sessions):
                out.write(piece)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help = "sessions, turns, tool calls or code changes over a span to a JSON, CSV, Markdown or Parquet file"
    p = sub.add_parser("export", help=help, description=help + " (the same rows as GET /api/v1/export/).")
    p.add_argument("--format", choices=FORMATS, default="json", help="the file's format (default: json)")
    p.add_argument(
        "--table",
        type=_table,
        metavar="{" + ",".join(TABLES) + "}",
        help="which table (default: all for json and jsonl, sessions otherwise; one for csv, md and parquet)",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="the file to write ('-' or none: stdout; not parquet)"
    )
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    # The sessions list's filters: the sessions kept, with all their rows.
    p.add_argument("--project", help="only this project (its name or key)")
    platform_option(p)
    people_options(p)
    p.add_argument("--branch", help="sessions on this git branch")
    p.add_argument("--status", choices=("active", "ended", "timed_out"), help="sessions with this status")
    p.add_argument("--model", help="sessions with a response from this model")
    p.add_argument("--tool", help="sessions with a call of this tool")
    p.add_argument("--min-cost", type=_usd, metavar="USD", help="sessions that cost at least this")
    p.add_argument("--min-tokens", type=_count, metavar="N", help="sessions with at least this many tokens")
    # The span options of the reports, without --json: the format says what is written.
    p.add_argument("--since", type=day, help="first day, YYYY-MM-DD (default: --days before --until)")
    p.add_argument("--until", type=day, help="last day, YYYY-MM-DD (default: today)")
    p.add_argument("--days", type=positive, default=30, help="days to cover when --since is not given")
    p.add_argument("--tz", default=local_zone(), help="IANA time zone of the days (default: this machine's)")
    p.set_defaults(handler=cmd_export)

"""The `blueplane` command: start and stop the system, show its state, install capture, import history,
report on what was captured, inspect or replay dead letters, and manage API tokens.

One module per command group registers its subcommands (system, capture, report and blocks, reports,
analysis, watch, statusline, export, operations, data, mcp, tokens); options.py holds the options they
share, output.py the tables, charts and JSON. A module imports only the standard library at its top:
Django, Rich and the rest load inside the command that needs them, so `report` and `--version` start
in well under 0.1 s. Errors the user can fix (a bad environment variable,
a Redis that will not start, a second `up`, a report the data cannot answer) are one line on stderr and
exit code 1; a bad argument is argparse's usage and one line, exit code 2.
"""

import argparse
import os
import sys

from . import report
from .options import PROG, CommandError, VersionAction


def parser_build(*, report_only: bool = False) -> argparse.ArgumentParser:
    """The command's parser; with report_only, only `report`'s part of it (`blueplane report ...` then
    neither imports nor builds the other groups: ~10-20 ms of its start-up)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Local, privacy-first telemetry for AI coding assistants."
    )
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if report_only:
        report.register(sub)
        return parser
    from . import (
        analysis,
        capture,
        data,
        export,
        mcp,
        operations,
        reports,
        statusline,
        system,
        team,
        tokens,
        watch,
    )

    for group in (
        system,
        capture,
        report,
        reports,
        analysis,
        watch,
        statusline,
        export,
        operations,
        data,
        mcp,
        tokens,
        team,
    ):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manage"]:
        from . import system

        # Everything after `manage` belongs to Django, including options argparse would claim (--help).
        args = argparse.Namespace(handler=system.cmd_manage, rest=argv[1:])
    else:
        args = parser_build(report_only=argv[:1] == ["report"]).parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our reader went away (`blueplane status | head`): stop quietly, and keep the interpreter's
        # final flush from complaining about the same pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except _user_errors() as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _user_errors() -> tuple[type[Exception], ...]:
    """The other errors a user can fix (a bad setting, a Redis that will not start, a second `up`),
    printed as one line. Only those of modules the command loaded: one that never touched Django or
    Redis cannot raise theirs, and importing them here would cost `report` ~0.1 s."""
    kinds: list[type[Exception]] = []
    if runstate := sys.modules.get("blueplane.runstate"):
        kinds.append(runstate.SupervisorError)
    if django := sys.modules.get("django.core.exceptions"):
        kinds.append(django.ImproperlyConfigured)
    if redis_server := sys.modules.get("blueplane.redis_server"):
        kinds.append(redis_server.RedisStartError)
    return tuple(kinds)

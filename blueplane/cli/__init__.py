"""The `blueplane` command: start and stop the system, show its state, install capture, import history,
report on what was captured, inspect or replay dead letters, and manage API tokens.

One module per command group registers its subcommands (system, capture, reports, data, tokens); options.py
holds the options they share, output.py the tables and JSON. Errors the user can fix (a bad environment variable,
a Redis that will not start, a second `up`, a report the data cannot answer) are one line on stderr and
exit code 1; a bad argument is argparse's usage and one line, exit code 2.
"""

import argparse
import os
import sys

from django.core.exceptions import ImproperlyConfigured

from ..redis_server import RedisStartError
from ..runstate import SupervisorError
from . import capture, data, reports, system, tokens
from .options import PROG, CommandError, version


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Local, privacy-first telemetry for AI coding assistants."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (system, capture, reports, data, tokens):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The console script. Returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["manage"]:
        # Everything after `manage` belongs to Django, including options argparse would claim (--help).
        args = argparse.Namespace(handler=system.cmd_manage, rest=argv[1:])
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
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ImproperlyConfigured, RedisStartError, SupervisorError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1

"""`statusline`: the one line Claude Code shows under its prompt (blueplane/statusline.py), by hand."""

import argparse
import sys


def cmd_statusline(args: argparse.Namespace) -> int:
    from ..statusline import statusline_text

    # At a terminal there is no status JSON to wait for: the line then has no session of its own.
    raw = b"{}" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    print(statusline_text(raw))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help = "print the status line for Claude Code's status JSON on stdin (as installed by --statusline)"
    p = sub.add_parser("statusline", help=help, description=help)
    p.set_defaults(handler=cmd_statusline)

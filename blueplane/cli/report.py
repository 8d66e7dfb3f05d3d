"""`report daily|weekly|monthly|session|blocks`: ccusage's reports, with its --json shapes (blocks in
blocks.py)."""

import argparse

from . import blocks


def register(sub: argparse._SubParsersAction) -> None:
    help = "usage reports as ccusage makes them: daily, weekly, monthly, session, blocks"
    p = sub.add_parser("report", help=help, description=help)
    reports = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    blocks.register(reports)

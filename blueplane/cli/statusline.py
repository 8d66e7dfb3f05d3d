"""`statusline`: the one line Claude Code shows under its prompt."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Not built yet (issue 10)."""

"""`report blocks`: the 5-hour usage windows, their burn rate and the active one's projection."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Not built yet (issue 10)."""

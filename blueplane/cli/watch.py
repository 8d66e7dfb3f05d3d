"""`watch`: a live view of the current session and today, fed from Redis."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Not built yet (issue 10)."""

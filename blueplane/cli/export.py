"""`export`: tables to a JSON, CSV, Markdown or Parquet file."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Not built yet (issue 10)."""

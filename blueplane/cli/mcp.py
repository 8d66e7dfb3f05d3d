"""`mcp`: the MCP server over stdio."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Not built yet (issue 10)."""

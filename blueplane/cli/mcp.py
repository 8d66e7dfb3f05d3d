"""`mcp`: the MCP server over stdio, for an assistant to read its own telemetry
(`claude mcp add blueplane -- blueplane mcp`; `blueplane install claude-code --mcp` registers it)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "mcp",
        help="serve the MCP server over stdio (for Claude Code and other MCP clients)",
        description="Serve Blueplane's MCP server over stdin/stdout until the client closes it. Only the "
        "protocol is written to stdout; logs go to stderr.",
    )
    parser.set_defaults(handler=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from .options import database_require

    database_require()
    from api.mcp.server import server_build

    server_build().run("stdio")
    return 0

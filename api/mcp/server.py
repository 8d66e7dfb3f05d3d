"""The one MCP server, as `blueplane mcp` serves it over stdio and the web server at /mcp."""

import functools
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from mcp.server.mcpserver import MCPServer

from . import resources, tools

INSTRUCTIONS = (
    "Blueplane records what AI coding assistants (Claude Code, Cursor) do on this machine. Use these "
    "tools to read that telemetry: token use and cost (usage_report), where each number came from "
    "(ledger: transcript, OpenTelemetry or both), the session being worked in "
    "(current_session), past sessions (sessions_search, session_summary, similar_sessions), how tools "
    "perform and fail (tool_performance, tool_failures, errors_report), edit acceptance, productivity, "
    "and whether Blueplane itself is healthy (pipeline_health). Money is US dollars; days are local days "
    "in the time zone given (tz, default UTC). Prompt and response text is never returned."
)


def server_build() -> MCPServer:
    """A server with every tool and resource. Its tools read the database: Django must be set up."""
    server = MCPServer(
        "blueplane",
        title="Blueplane telemetry",
        instructions=INSTRUCTIONS,
        version=_version(),
        log_level="WARNING",
    )
    for tool in tools.TOOLS:
        server.add_tool(connections_managed(tool), structured_output=True)
    for uri, name, read in resources.RESOURCES:
        server.resource(uri, name=name, mime_type="application/json")(connections_managed(read))
    return server


def connections_managed(read: Callable[..., Any]) -> Callable[..., Any]:
    """`read` with the database connection handled as Django handles it around a request (closed when
    broken or past CONN_MAX_AGE): the SDK runs each call on a thread of its pool, which outlives it."""

    @functools.wraps(read)
    def managed(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return read(*args, **kwargs)
        finally:
            close_old_connections()

    return managed


def _version() -> str:
    from blueplane.cli.options import version

    return version()

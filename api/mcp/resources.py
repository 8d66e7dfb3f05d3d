"""The MCP resources: the recent sessions, and today's summary. Each is JSON read through the same
tools (so the same selectors and shapes); the span of "today" is the server machine's local day."""

import json

from blueplane.cli.options import local_zone

from . import tools

RECENT_SESSIONS = 20


def recent_sessions() -> str:
    """The 20 sessions with the most recent activity, newest first (the rows of GET /api/v1/sessions/)."""
    return json.dumps(tools.sessions_search(limit=RECENT_SESSIONS)["results"])


def today_summary() -> str:
    """Today so far, in this machine's time zone: tokens and cost by model with totals, and the
    productivity score with the activity it rests on."""
    zone = local_zone()
    return json.dumps(
        {
            "usage": tools.usage_report(group="model", days=1, tz=zone),
            "productivity": tools.productivity(days=1, tz=zone),
        }
    )


RESOURCES = [
    ("blueplane://sessions/recent", "recent_sessions", recent_sessions),
    ("blueplane://summary/today", "today_summary", today_summary),
]

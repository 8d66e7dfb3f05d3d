"""One module per dashboard page. Each has `figures(filters, **kwargs) -> dict`: everything the page
shows, JSON-ready (numbers as numbers, money as strings of decimal USD, times as ISO 8601 in UTC), read
only through telemetry.selectors. The view embeds it in the page; /ws/metrics sends it again, whole,
when the slow path changed what it is made of, and the page redraws from it with the same code.
(session_event.py, a session's raw-event view, is not live and so not in PAGES.)"""

from collections.abc import Callable

from . import overview, pipeline, projects, session, sessions, tools

PAGES: dict[str, Callable[..., dict]] = {
    "overview": overview.figures,
    "sessions": sessions.figures,
    "session": session.figures,  # kwargs: session_id
    "tools": tools.figures,
    "projects": projects.figures,
    "pipeline": pipeline.figures,
}

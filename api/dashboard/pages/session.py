"""One session's page: its figures."""

from ..filters import PageFilters


def figures(filters: PageFilters, *, session_id: str) -> dict:
    return {"session_id": session_id}

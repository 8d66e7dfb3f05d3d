"""The pipeline page's figures."""

from ..filters import PageFilters


def figures(filters: PageFilters) -> dict:
    return {}

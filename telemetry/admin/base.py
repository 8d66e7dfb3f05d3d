"""What every admin here shares: read-only, and a changelist that never counts its table.

Raw and derived tables grow by millions of rows, so a changelist must run a bounded number of queries
whatever the table size: WindowPaginator reads the page plus one row instead of COUNT(*), and
ReadOnlyAdmin turns off what would count (full result count, facets, "show all").
"""

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from ..selectors import traces


def ms_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def admin_url(model: type[Model] | Model, view: str, *args: object) -> str:
    """URL of an admin view ("changelist", "change", ...) of a model."""
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def list_link(model: type[Model], text: object, **params: object) -> SafeString:
    """A link to the model's changelist, filtered by params."""
    query = f"?{urlencode(params)}" if params else ""
    return format_html('<a href="{}{}">{}</a>', admin_url(model, "changelist"), query, text)


def detail_link(obj: Model, text: object) -> SafeString:
    """A link to one row's page."""
    return format_html('<a href="{}">{}</a>', admin_url(obj, "change", obj.pk), text)


SEARCH_MAX_CHARS = 300

# No table here has a billion pages; a larger number would overflow the query's OFFSET.
_PAGE_MAX = 10**9


def _page_num(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get(PAGE_VAR, 1)), 1), _PAGE_MAX)
    except ValueError:
        return 1


class WindowPaginator(Paginator):
    """Pages a changelist without COUNT(*).

    It reads the requested page plus one row: fewer rows than that means this is the last page and the
    count is exact. Otherwise an unfiltered table is estimated from its primary-key span (two index
    reads; an upper bound, exact while no rows are deleted), and a filtered one reports what it knows,
    "at least" the rows up to here plus the next one, so the pager offers one page more.
    count_kind ("exact", "estimate" or "at_least") tells the templates how to word the number.
    """

    def __init__(
        self,
        object_list: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        page_num: int = 1,
    ) -> None:
        # Orphans would need the exact count; the admin passes 0.
        super().__init__(object_list, per_page, 0, allow_empty_first_page)
        self.page_num = page_num
        self.count_kind = "exact"
        self._window: list[Model] = []

    @cached_property
    def count(self) -> int:
        offset = (self.page_num - 1) * self.per_page
        self._window = list(self.object_list[offset : offset + self.per_page + 1])
        known = offset + len(self._window)
        if len(self._window) <= self.per_page:
            return known
        if not self.object_list.query.where:
            span = traces.row_id_span(model=self.object_list.model)
            estimate = span[1] - span[0] + 1 if span else 0
            if estimate > known:
                self.count_kind = "estimate"
                return estimate
        self.count_kind = "at_least"
        return known

    @property
    def window(self) -> list[Model]:
        """The rows of the requested page (read along with the count)."""
        self.count  # noqa: B018 - reads the window
        return self._window[: self.per_page]

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)  # reads the window through count
        if number == self.page_num:
            return self._get_page(self.window, number, self)
        return super().page(number)


class WindowChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if not self.multi_page and isinstance(self.paginator, WindowPaginator):
            # A single page was already read whole by the paginator; don't read it again.
            self.result_list = self.paginator.window


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never editable; no full counts, no facet counts, no "show all"."""

    actions = None
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_max_show_all = 0
    paginator = WindowPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return WindowChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Longer than any id or name a row holds, and than SQLite's LIKE accepts: it matches nothing.
        if len(search_term) > SEARCH_MAX_CHARS:
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> WindowPaginator:
        return self.paginator(
            queryset, per_page, orphans, allow_empty_first_page, page_num=_page_num(request)
        )

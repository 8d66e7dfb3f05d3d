"""Cursor pagination over keysets (telemetry.selectors.keyset): `cursor`, `page_size` and `ordering`.

A cursor is the position of a page's last (or first) row, signed, so a cursor the server did not make, or
made for another list or ordering, is a 400 rather than a page of something else. Reading a page is one
query however deep it is, and no list is ever counted.

A view says which orderings it offers: `orderings` (name -> keys, telemetry.selectors.keyset) and
`default_ordering`. Lists that are not one QuerySet (a timeline, raw events) pass their own reader to
`paginate`.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core import signing
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from telemetry.selectors.keyset import (
    Ordering,
    Position,
    keyset_page,
    keyset_position,
    value_decode,
    value_encode,
)

# 50 as most APIs default to: a first page is what a client usually shows, and each row costs (a timeline
# page reads up to this many rows from each of its three tables); up to API_PAGE_SIZE_MAX on request.
DEFAULT_PAGE_SIZE = 50
_CURSOR_MAX_CHARS = 2000  # a real cursor is under 200

# Reads a page: (keys, limit, after, before) -> (rows, whether more lie beyond them in the direction read).
Reader = Callable[[Ordering, int, Position | None, Position | None], tuple[Sequence, bool]]


class CursorPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def __init__(self) -> None:
        self.next: str | None = None
        self.previous: str | None = None

    # --- parameters -------------------------------------------------------------------------------

    def ordering(self, request: Request, view: Any) -> tuple[str, Ordering]:
        name = request.query_params.get(self.ordering_query_param) or view.default_ordering
        keys = view.orderings.get(name)
        if keys is None:
            choices = ", ".join(view.orderings)
            raise ValidationError(
                {self.ordering_query_param: f"unknown ordering {name[:80]!r}; choose from {choices}"}
            )
        return name, keys

    def page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return min(DEFAULT_PAGE_SIZE, settings.API_PAGE_SIZE_MAX)
        size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= size <= settings.API_PAGE_SIZE_MAX:
            raise ValidationError(
                {self.page_size_query_param: f"must be a whole number from 1 to {settings.API_PAGE_SIZE_MAX}"}
            )
        return size

    def _signer(self, request: Request, ordering: str) -> signing.Signer:
        # Salted with the list and the ordering: a cursor is good only where it was made.
        return signing.Signer(salt=f"api.v1.cursor:{request.path}:{ordering}")

    def cursor(self, request: Request, ordering: str, keys: Ordering) -> tuple[bool, Position] | None:
        """(backward, position) of the request's cursor, or None without one."""
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return None
        invalid = ValidationError(
            {
                self.cursor_query_param: "not a cursor of this list in this ordering (cursors come from the "
                "`next` and `previous` links of a page; leave it out to start from the first page)"
            }
        )
        if len(token) > _CURSOR_MAX_CHARS:
            raise invalid
        try:
            data = self._signer(request, ordering).unsign_object(token)
            values = data["v"]
            if data["d"] not in ("n", "p") or len(values) != len(keys):
                raise invalid
            position = tuple(value_decode(k.kind, v) for k, v in zip(keys, values, strict=True))
        except (signing.BadSignature, ValueError, TypeError, KeyError, OverflowError):
            raise invalid from None
        return data["d"] == "p", position

    # --- pages ------------------------------------------------------------------------------------

    def paginate(
        self,
        request: Request,
        view: Any,
        read: Reader,
        position_of: Callable[[Any, Ordering], Position] = keyset_position,
    ) -> Sequence:
        """One page from `read`, with the next and previous links set for get_paginated_response."""
        ordering, keys = self.ordering(request, view)
        size = self.page_size(request)
        cursor = self.cursor(request, ordering, keys)
        backward, position = cursor if cursor else (False, None)
        rows, more = read(keys, size, None if backward else position, position if backward else None)

        def link(direction: str, row: Any) -> str:
            values = [value_encode(v) for v in position_of(row, keys)]
            token = self._signer(request, ordering).sign_object({"d": direction, "v": values})
            return replace_query_param(request.build_absolute_uri(), self.cursor_query_param, token)

        first_page = remove_query_param(request.build_absolute_uri(), self.cursor_query_param)
        if backward:
            self.previous = link("p", rows[0]) if rows and more else None
            self.next = link("n", rows[-1]) if rows else first_page
        else:
            self.next = link("n", rows[-1]) if rows and more else None
            self.previous = link("p", rows[0]) if rows and cursor else None
        return rows

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Sequence:
        def read(keys: Ordering, limit: int, after: Position | None, before: Position | None) -> tuple:
            page = keyset_page(queryset, keys=keys, limit=limit, after=after, before=before)
            return page.rows, page.more

        return self.paginate(request, view, read)

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next, "previous": self.previous, "results": data})

    # --- schema -----------------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next page (null on the last page)"},
                "previous": {**link, "description": "The previous page (null on the first page)"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": OpenApiParameter.QUERY,
                "required": False,
                "description": "Where the page starts: the cursor of a `next` or `previous` link",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": OpenApiParameter.QUERY,
                "required": False,
                "description": f"Rows per page (default {DEFAULT_PAGE_SIZE})",
                "schema": {"type": "integer", "minimum": 1, "maximum": settings.API_PAGE_SIZE_MAX},
            },
            {
                "name": self.ordering_query_param,
                "in": OpenApiParameter.QUERY,
                "required": False,
                "description": f"Order of the rows (default {view.default_ordering}); a leading - is descending",
                "schema": {"type": "string", "enum": list(view.orderings), "default": view.default_ordering},
            },
        ]

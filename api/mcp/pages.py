"""Pages of a list for a tool: the first `limit` rows in one of the API's orderings, and a cursor for
the next page (the position of the page's last row, signed so that a cursor the server did not give out
is refused rather than read). The same keyset reads as the API's pagination: one query however deep."""

from collections.abc import Callable, Sequence
from typing import Any

from django.core import signing
from django.db.models import QuerySet
from mcp.server.mcpserver.exceptions import ToolError

from telemetry.selectors.keyset import (
    Ordering,
    Position,
    keyset_page,
    keyset_position,
    value_decode,
    value_encode,
)

CURSOR_MAX_CHARS = 2000

# (keys, limit, after) -> (rows, whether more follow)
Reader = Callable[[Ordering, int, Position | None], tuple[Sequence, bool]]


def _signer(list_name: str, ordering: str) -> signing.Signer:
    return signing.Signer(salt=f"blueplane.mcp.{list_name}.{ordering}")


def ordering_keys(orderings: dict[str, Ordering], ordering: str) -> Ordering:
    keys = orderings.get(ordering)
    if keys is None:
        raise ToolError(f"ordering: {ordering[:80]!r} is not one of: {', '.join(orderings)}")
    return keys


def position_read(list_name: str, ordering: str, keys: Ordering, cursor: str | None) -> Position | None:
    if not cursor:
        return None
    invalid = ToolError(
        "cursor: not a cursor of this list in this ordering (pass the next_cursor of the previous answer "
        "with the same arguments, or leave it out for the first page)"
    )
    if len(cursor) > CURSOR_MAX_CHARS:
        raise invalid
    try:
        values = _signer(list_name, ordering).unsign_object(cursor)
        if not isinstance(values, list) or len(values) != len(keys):
            raise invalid
        return tuple(value_decode(k.kind, v) for k, v in zip(keys, values, strict=True))
    except (signing.BadSignature, ValueError, TypeError, OverflowError):
        raise invalid from None


def page(
    list_name: str,
    ordering: str,
    keys: Ordering,
    limit: int,
    cursor: str | None,
    read: Reader,
    position_of: Callable[[Any, Ordering], Position] = keyset_position,
) -> tuple[Sequence, str | None]:
    """One page from `read` and the cursor of the next (None on the last page)."""
    rows, more = read(keys, limit, position_read(list_name, ordering, keys, cursor))
    if not (rows and more):
        return rows, None
    values = [value_encode(v) for v in position_of(rows[-1], keys)]
    return rows, _signer(list_name, ordering).sign_object(values)


def queryset_page(
    list_name: str, queryset: QuerySet, ordering: str, keys: Ordering, limit: int, cursor: str | None
) -> tuple[Sequence, str | None]:
    def read(keys: Ordering, limit: int, after: Position | None) -> tuple[Sequence, bool]:
        found = keyset_page(queryset, keys=keys, limit=limit, after=after)
        return found.rows, found.more

    return page(list_name, ordering, keys, limit, cursor, read)

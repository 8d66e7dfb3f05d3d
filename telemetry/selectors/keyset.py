"""Keyset pages over any ordered QuerySet: the rows after (or before) a position, never an OFFSET.

An ordering is a tuple of Keys whose last one is unique (the primary key), so every row has exactly one
place and a position (the keys' values of a row) says where a page ends. Reading the page after it is a
WHERE on those values plus LIMIT: the same cost on page 1 and page 10,000, and a row inserted meanwhile
neither repeats nor hides another. Used by the API's cursors and by anything else that walks a long list.
"""

import operator
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import reduce
from typing import Any, Literal

from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy

KeyKind = Literal["int", "str", "datetime", "decimal"]
Position = tuple[Any, ...]


@dataclass(frozen=True)
class Key:
    """One column (or annotation) of an ordering. `kind` says what its values are, so a position can be
    written down as text and read back; a nullable key sorts its NULLs last (first when reversed)."""

    field: str
    descending: bool = False
    kind: KeyKind = "int"
    nullable: bool = False
    nulls_last: bool = True

    def reversed(self) -> "Key":
        return replace(self, descending=not self.descending, nulls_last=not self.nulls_last)

    def order(self) -> OrderBy:
        expr = F(self.field)
        if not self.nullable:
            return expr.desc() if self.descending else expr.asc()
        nulls = {"nulls_last": True} if self.nulls_last else {"nulls_first": True}
        return expr.desc(**nulls) if self.descending else expr.asc(**nulls)


Ordering = tuple[Key, ...]


def ordering_reversed(keys: Ordering) -> Ordering:
    return tuple(k.reversed() for k in keys)


def _equal(key: Key, value: Any) -> Q:
    return Q(**{f"{key.field}__isnull": True}) if value is None else Q(**{key.field: value})


def _beyond(key: Key, value: Any) -> Q | None:
    """Rows strictly past `value` in this key's order; None when no row can be."""
    if value is None:
        # NULLs are one block at the end (or the start): past it is nothing, or every non-NULL value.
        return None if key.nulls_last else Q(**{f"{key.field}__isnull": False})
    past = Q(**{f"{key.field}__{'lt' if key.descending else 'gt'}": value})
    if key.nullable and key.nulls_last:
        past |= Q(**{f"{key.field}__isnull": True})
    return past


def keyset_after(keys: Ordering, position: Position) -> Q:
    """Rows strictly after `position` in the ordering `keys` (lexicographic, NULLs as each key says)."""
    parts = []
    prefix = Q()
    for key, value in zip(keys, position, strict=True):
        past = _beyond(key, value)
        if past is not None:
            parts.append(prefix & past)
        prefix &= _equal(key, value)
    if not parts:
        return Q(pk__in=[])  # nothing comes after the last row
    condition = reduce(operator.or_, parts)
    first, value = keys[0], position[0]
    if not first.nullable and value is not None:
        # Implied by the condition, but stated alone it is a range the planner can walk an index with.
        condition &= Q(**{f"{first.field}__{'lte' if first.descending else 'gte'}": value})
    return condition


def keyset_position(row: Any, keys: Ordering) -> Position:
    """The values of `row` (a model instance or a dict from .values()) for each key."""
    if isinstance(row, dict):
        return tuple(row[k.field] for k in keys)
    return tuple(getattr(row, k.field) for k in keys)


@dataclass
class KeysetPage:
    """A page of rows in the ordering's order. `more` says whether rows lie beyond the page in the
    direction it was read (after it when reading forward, before it when reading backward)."""

    rows: list
    more: bool


def keyset_page(
    queryset: QuerySet,
    *,
    keys: Ordering,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> KeysetPage:
    """The first `limit` rows after `after` (or the last `limit` rows before `before`) of `queryset`
    ordered by `keys`. One query of at most limit + 1 rows, whatever the page's depth."""
    if before is not None:
        rows = list(
            queryset.filter(keyset_after(ordering_reversed(keys), before)).order_by(
                *(k.order() for k in ordering_reversed(keys))
            )[: limit + 1]
        )
        return KeysetPage(rows=rows[:limit][::-1], more=len(rows) > limit)
    if after is not None:
        queryset = queryset.filter(keyset_after(keys, after))
    rows = list(queryset.order_by(*(k.order() for k in keys))[: limit + 1])
    return KeysetPage(rows=rows[:limit], more=len(rows) > limit)


def value_encode(value: Any) -> Any:
    """A position's value as JSON (datetimes as ISO 8601, decimals as strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


_INT64 = 2**63


def value_decode(kind: KeyKind, value: Any) -> Any:
    """The inverse of value_encode for a key of `kind`. ValueError if the value cannot be one."""
    if value is None:
        return None
    if kind == "int":
        if type(value) is not int or not -_INT64 <= value < _INT64:
            raise ValueError(f"not a 64-bit integer: {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    if kind == "str":
        return value
    if kind == "datetime":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a time without its zone")
        return moment
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number

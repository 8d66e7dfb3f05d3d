"""A session's timeline: its turns, tool calls and code changes merged in time order, a page at a time.

The three tables are read separately (a keyset each, limit + 1 rows each: three queries per page
whatever its size or depth) and merged here. One position orders the merge: (time, rank of the row's
table, row id), so rows at the same instant come as a turn, then its tool calls, then their changes,
and a page boundary between them is exact.
"""

import heapq
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from django.db.models import F, Model, Q, QuerySet
from django.db.models.functions import Coalesce

from ..models import CodeChange, Session, ToolCall, Turn
from .keyset import Key, Ordering, Position

# Each table's rows, with `at` (the row's time) annotated; the order is the rank at equal times.
TIMELINE_TYPES = ("turn", "tool_call", "code_change")

# How a position is written down: (time, rank, id), all ascending (reversed for newest first).
TIMELINE_KEYS: Ordering = (Key("at", kind="datetime"), Key("rank"), Key("id"))


@dataclass(frozen=True)
class TimelineItem:
    """One row of the timeline: `type` is turn, tool_call or code_change; `row` the model instance."""

    type: str
    at: datetime
    rank: int
    row: Model

    @property
    def position(self) -> Position:
        return (self.at, self.rank, self.row.pk)


def _rows(kind: str, session: Session) -> QuerySet:
    if kind == "turn":
        qs = Turn.objects.select_related("conversation").defer("detail").annotate(at=F("timestamp"))
    elif kind == "tool_call":
        qs = ToolCall.objects.select_related("conversation").annotate(
            at=Coalesce("started_at", "finished_at")
        )
    else:
        qs = CodeChange.objects.annotate(at=F("timestamp"))
    return qs.filter(session=session)


def _after(rank: int, position: Position, *, descending: bool) -> Q:
    """Rows of the table of `rank` that come after `position` in the merged order."""
    at, pos_rank, pos_id = position
    past, past_or_same = ("lt", "lte") if descending else ("gt", "gte")
    if rank == pos_rank:
        return Q(**{f"at__{past}": at}) | Q(**{"at": at, f"pk__{past}": pos_id})
    # At the position's own time, this table's rows come before it (only later times are after) or after
    # it (that time is included), by the tables' ranks.
    comes_first = (rank < pos_rank) != descending
    return Q(**{f"at__{past if comes_first else past_or_same}": at})


def _read(session: Session, *, limit: int, after: Position | None, descending: bool) -> list[TimelineItem]:
    order = ("-at", "-id") if descending else ("at", "id")
    streams = []
    for rank, kind in enumerate(TIMELINE_TYPES):
        qs = _rows(kind, session)
        if after is not None:
            qs = qs.filter(_after(rank, after, descending=descending))
        rows = qs.order_by(*order)[: limit + 1]
        streams.append([TimelineItem(type=kind, at=row.at, rank=rank, row=row) for row in rows])
    merged = heapq.merge(*streams, key=lambda item: item.position, reverse=descending)
    return list(islice(merged, limit + 1))


def timeline_page(
    *,
    session: Session,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
    descending: bool = False,
) -> tuple[list[TimelineItem], bool]:
    """Up to `limit` items of the session's timeline after `after` (or the last `limit` before
    `before`), oldest first (newest first if `descending`). Returns the items and whether more lie
    beyond them in the direction read."""
    if before is not None:
        items = _read(session, limit=limit, after=before, descending=not descending)
        return items[:limit][::-1], len(items) > limit
    items = _read(session, limit=limit, after=after, descending=descending)
    return items[:limit], len(items) > limit

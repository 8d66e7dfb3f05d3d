"""The sessions page: the API's session list (telemetry.selectors.sessions.sessions_filtered, the same
filters as /api/v1/sessions/) for the page's filters, in one of a few orderings, a keyset page at a time.

The page's own parameters are `ordering` (one of SESSION_ORDERINGS) and `cursor` (a signed position, as
the API's cursors are, so a hand-made one is a 400, never a query on arbitrary values)."""

from collections.abc import Mapping
from datetime import datetime

from django.core import signing

from telemetry.selectors import derived
from telemetry.selectors.keyset import keyset_page, keyset_position, value_decode, value_encode
from telemetry.selectors.sessions import (
    SESSION_ORDERINGS,
    SESSION_STATUSES,
    sessions_filtered,
    sessions_people,
)

from ..filters import FilterError, PageFilters

PAGE_SIZE = 50
DEFAULT_ORDERING = "-last_event_at"
CURSOR_MAX_CHARS = 2000  # a real one is under 200
_SIGNER_SALT = "dashboard.sessions.cursor"


def params_parse(params: Mapping[str, str]) -> dict:
    """The page's own parameters (ordering, cursor) as figures() takes them; FilterError if bad."""
    ordering = params.get("ordering") or DEFAULT_ORDERING
    if ordering not in SESSION_ORDERINGS:
        raise FilterError(f"ordering: {ordering[:40]!r} is not one of {', '.join(SESSION_ORDERINGS)}")
    return {"ordering": ordering, "cursor": params.get("cursor") or ""}


def _signer(ordering: str) -> signing.Signer:
    return signing.Signer(salt=f"{_SIGNER_SALT}:{ordering}")


def _cursor_read(cursor: str, ordering: str) -> tuple[bool, tuple]:
    """(backward, position) of a cursor this page made for this ordering; FilterError otherwise."""
    keys = SESSION_ORDERINGS[ordering]
    bad = FilterError("cursor: not a cursor of this list in this ordering (open the first page instead)")
    if len(cursor) > CURSOR_MAX_CHARS:
        raise bad
    try:
        data = _signer(ordering).unsign_object(cursor)
        values = data["v"]
        if data["d"] not in ("n", "p") or len(values) != len(keys):
            raise bad
        return data["d"] == "p", tuple(value_decode(k.kind, v) for k, v in zip(keys, values, strict=True))
    except (signing.BadSignature, ValueError, TypeError, KeyError, OverflowError):
        raise bad from None


def _cursor_make(direction: str, row: object, ordering: str) -> str:
    values = [value_encode(v) for v in keyset_position(row, SESSION_ORDERINGS[ordering])]
    return _signer(ordering).sign_object({"d": direction, "v": values})


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def session_row(s: object) -> dict:
    """What a row of the list shows (JSON-ready)."""
    duration = (s.last_event_at - s.started_at).total_seconds() if s.started_at and s.last_event_at else None
    return {
        "session_id": s.session_id,
        "platform": s.platform,
        "project": s.project.name if s.project else None,
        "project_key": s.project.key if s.project else None,
        "user": s.user,
        "machine": s.machine,
        "git_branch": s.git_branch,
        "status": s.status,
        "started_at": _time(s.started_at),
        "last_event_at": _time(s.last_event_at),
        "duration_s": duration,
        "models": list(s.models_used or []),
        "prompts": s.prompts,
        "tool_calls": s.tool_calls,
        "failures": s.tool_failures + s.tool_rejections + s.tool_interruptions,
        "tokens": int(s.tokens or 0),
        # Responses whose tokens Cursor did not record: the page says those tokens are missing (never 0).
        "responses": s.assistant_messages,
        "responses_without_tokens": s.responses_without_tokens,
        "cost_usd": str(s.cost_usd),
    }


# The orderings as the form names them (every one of SESSION_ORDERINGS).
ORDERING_LABELS = {
    "-last_event_at": "Latest activity", "last_event_at": "Earliest activity", "-started_at": "Newest start",
    "started_at": "Oldest start", "-cost_usd": "Highest cost", "cost_usd": "Lowest cost",
    "-tokens": "Most tokens", "tokens": "Fewest tokens",
}  # fmt: skip


def choices() -> dict:
    """What the filter form offers: projects and models that exist, the statuses; users and machines
    only when the sessions have more than one (a one-person install has no such choice to make)."""
    projects = [{"key": p.key, "name": p.name} for p in derived.project_list()]
    return {"projects": projects, "models": derived.model_names(), "statuses": list(SESSION_STATUSES),
            **people_choices()}  # fmt: skip


def people_choices() -> dict:
    """The users and machines a page's filters offer: only when the sessions have more than one (a
    one-person install has no such choice to make). The overview and projects pages offer them too."""
    users, machines = sessions_people()
    return {"users": users if len(users) > 1 else [], "machines": machines if len(machines) > 1 else []}


def figures(filters: PageFilters, *, ordering: str = DEFAULT_ORDERING, cursor: str = "") -> dict:
    """One page of the filtered sessions, with the cursors of the pages before and after it."""
    if ordering not in SESSION_ORDERINGS:
        raise FilterError(f"ordering: {ordering[:40]!r} is not one of {', '.join(SESSION_ORDERINGS)}")
    backward, position = _cursor_read(cursor, ordering) if cursor else (False, None)
    days = filters.days()
    qs = sessions_filtered(
        start=days.start, end=days.end, platform=filters.platform, project=filters.project,
        branch=filters.branch, model=filters.model, status=filters.status, user=filters.user or None,
        machine=filters.machine or None,
    )  # fmt: skip
    keys = SESSION_ORDERINGS[ordering]
    page = keyset_page(
        qs,
        keys=keys,
        limit=PAGE_SIZE,
        after=None if backward else position,
        before=position if backward else None,
    )
    rows = page.rows
    if backward:
        previous = _cursor_make("p", rows[0], ordering) if rows and page.more else None
        following = _cursor_make("n", rows[-1], ordering) if rows else None
    else:
        following = _cursor_make("n", rows[-1], ordering) if rows and page.more else None
        previous = _cursor_make("p", rows[0], ordering) if rows and cursor else None
    return {
        "ordering": ordering,
        "cursor": cursor,
        "sessions": [session_row(s) for s in rows],
        "next": following,
        "previous": previous,
        "first_page": not cursor,
    }

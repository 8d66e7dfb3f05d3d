"""Who the current reader may see (docs/team.md, "People, machines and tokens"): the one place where a
person's token narrows what every query returns.

The access layer (api/viewer.py) sets the viewer for a request with `viewing(user)` and clears it after;
everything else runs unscoped (the slow path, management commands, the Django admin, a request of the
install's owner or of a team admin). While a user is set, every query of a model tied to a session
(through a foreign key, its platform and session id, or its own `user` column) is narrowed to that
user's sessions when it is compiled to SQL: not when its QuerySet is made, so a QuerySet built at import
time (a DRF view's `queryset = ...`), a subquery, a count or an aggregate are narrowed too, and a view
that was never told about users cannot show anyone else's rows. Writes (update, delete) are not
narrowed: readers do not write.

What the ORM cannot narrow must refuse: `refuse_if_scoped()` is for raw SQL and for figures a person
may not see (the /metrics operations figures).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.sql import Query

# None: unscoped (everything). A string: only the sessions whose Session.user is that string ("" is this
# install's own sessions). NOBODY: a request whose credentials were refused: no rows at all.
NOBODY = "\x00nobody"
_viewer: ContextVar[str | None] = ContextVar("blueplane_viewer", default=None)


class ScopeRefused(Exception):
    """A read that cannot be narrowed to one person's sessions, asked for by a person's token."""


def viewer_user() -> str | None:
    """The user the current reader is narrowed to, or None when it sees everything."""
    return _viewer.get()


@contextmanager
def viewing(user: str | None) -> Iterator[None]:
    """Narrow every read inside the block to `user`'s sessions (None: everything)."""
    token = _viewer.set(user)
    try:
        yield
    finally:
        _viewer.reset(token)


def refuse_if_scoped(what: str) -> None:
    """For a read the ORM does not narrow (raw SQL, install-wide figures): refuse a narrowed reader."""
    if _viewer.get() is not None:
        raise ScopeRefused(f"{what} is for the install's owner and team admins, not a person's token")


def _sessions_of(user: str) -> models.QuerySet:
    from .models import Session

    return Session.objects.filter(user=user)


def _by_session_fk(user: str) -> Q:
    return Q(session__user=user)


def _by_user_column(user: str) -> Q:
    return Q(user=user)


def _by_session_key(user: str) -> Q:
    """Rows keyed by (platform, session_id) strings, not by the session's row."""
    return Q(
        Exists(_sessions_of(user).filter(platform=OuterRef("platform"), session_id=OuterRef("session_id")))
    )


def _nothing(user: str) -> Q:
    """Rows that belong to no session (e.g. Cursor's scored commits): nobody's, so not a person's."""
    return Q(pk__isnull=True)


def _projects(user: str) -> Q:
    return Q(pk__in=_sessions_of(user).exclude(project=None).values("project_id"))


def _raw_traces(user: str) -> Q:
    from .models import RawChunk

    return Q(chunk_id__in=RawChunk.objects.filter(_by_session_key(user)).values("id"))


# How each model's rows are narrowed, by the name a model gives in its `SCOPE` attribute.
RULES: dict[str, Callable[[str], Q]] = {
    "session": _by_user_column,
    "session_fk": _by_session_fk,
    "user": _by_user_column,
    "session_key": _by_session_key,
    "project": _projects,
    "raw_trace": _raw_traces,
    "nobody": _nothing,
}


class ScopedQuery(Query):
    """A Query that adds the viewer's condition each time it is compiled (top level or as a subquery)."""

    _scope_applied = False

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        user = _viewer.get()
        if user is None or self._scope_applied or self.model is None:
            return super().get_compiler(using, connection, elide_empty)
        narrowed = self.clone()
        narrowed._scope_applied = True
        narrowed.add_q(RULES[self.model.SCOPE](user))
        return narrowed.get_compiler(using, connection, elide_empty)


class ScopedQuerySet(models.QuerySet):
    def __init__(self, model=None, query=None, using=None, hints=None):
        super().__init__(model, query if query is not None else ScopedQuery(model), using, hints)

    def raw(self, *args, **kwargs):
        refuse_if_scoped("raw SQL")
        return super().raw(*args, **kwargs)


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):
    """The default manager of every model whose rows belong to someone: see the module's docstring."""

"""After derived rows change: recompute the rollups of their hours now, in the same transaction, and
rewrite those hours' live metrics once it commits.

The rollups are the truth (rollups.py); the live metrics are a cache of them in Redis (live.py), written
only after the commit so that Redis never shows what a rollback undid. A batch of catch-ups can defer
the recompute (buckets_deferred) so each bucket is recomputed once instead of once per session.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import transaction

from . import live
from .rollups import rollups_refresh

# Buckets collected while buckets_deferred() is active, per platform.
_deferred: ContextVar[dict[str, tuple[set[datetime], set[int | None]]] | None] = ContextVar(
    "buckets_deferred", default=None
)


def buckets_refresh(*, hours: set[datetime], project_ids: set[int | None], platform: str) -> None:
    """Recompute the rollups of these (hour, platform, project) buckets in the caller's transaction, and
    rewrite their live metrics after it commits; within buckets_deferred(), only collect them."""
    if not hours or not project_ids:
        return
    pending = _deferred.get()
    if pending is not None:
        hs, ps = pending.setdefault(platform, (set(), set()))
        hs.update(hours)
        ps.update(project_ids)
        return
    refreshed = rollups_refresh(hours=hours, project_ids=project_ids, platform=platform)
    if refreshed:
        transaction.on_commit(lambda: live.live_metrics_refresh(hours=refreshed))


@contextmanager
def buckets_deferred() -> Iterator[None]:
    """Within the block, buckets_refresh only collects its buckets; they are refreshed once, together,
    when the block exits without error. For callers that apply many sessions in a row (rebuild, a
    batch catch-up): the same result, one recompute per bucket instead of one per session. Nested
    blocks join the outermost one."""
    if _deferred.get() is not None:
        yield
        return
    token = _deferred.set({})
    try:
        yield
        pending = _deferred.get()
    finally:
        _deferred.reset(token)
    for platform, (hours, pids) in sorted(pending.items()):
        buckets_refresh(hours=hours, project_ids=pids, platform=platform)

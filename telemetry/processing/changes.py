"""The slow path says what it changed: after a catch-up run committed, one record on `wire.DERIVED_STREAM`
naming the sessions that applied events, the UTC hours and the projects whose derived rows changed.

Guarantee: best effort, after commit. The record is written by transaction.on_commit, so it never names
a change a rollback undid; a Redis fault is logged and the run goes on (the derived rows are the truth,
and the record only tells followers such as the live feed (api/live) when to read them again). A run
that applied nothing writes nothing. The stream is capped at about wire.DERIVED_MAXLEN records.
"""

import logging
import time
from datetime import datetime

import orjson
import redis
from django.db import transaction

from ..models import Project
from ..wire import DERIVED_MAXLEN, DERIVED_STREAM
from .catchup import CatchUpRun

logger = logging.getLogger(__name__)


def change_record(*, run: CatchUpRun, project_keys: list[str], at: float) -> bytes:
    """The run's record as stored (selectors.changes.derived_entry_decode reads it)."""
    return orjson.dumps(
        {
            "sessions": sorted([platform, session_id] for platform, session_id in run.changed),
            "hours": sorted(_hour(h) for h in run.hours),
            "projects": sorted(project_keys),
            "at": at,
        }
    )


def _hour(hour: datetime) -> str:
    return hour.isoformat().replace("+00:00", "Z")


def derived_publish(*, client: redis.Redis, run: CatchUpRun) -> bool:
    """Append the run's record now. Returns whether one was written (False: nothing applied, or a
    Redis fault, which is logged)."""
    if not run.changed:
        return False
    keys = list(Project.objects.filter(pk__in=run.project_ids).values_list("key", flat=True))
    try:
        client.xadd(
            DERIVED_STREAM,
            {"change": change_record(run=run, project_keys=keys, at=time.time())},
            maxlen=DERIVED_MAXLEN,
            approximate=True,
        )
    except redis.RedisError as exc:
        logger.warning("the slow path's change record was not published (%r): live pages update later", exc)
        return False
    return True


def derived_publish_on_commit(*, client: redis.Redis, run: CatchUpRun) -> None:
    """derived_publish once the current transaction commits (at once outside one)."""
    if run.changed:
        transaction.on_commit(lambda: derived_publish(client=client, run=run))

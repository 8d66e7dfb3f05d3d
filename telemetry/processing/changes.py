"""The slow path says what it changed: after a catch-up run committed, one record on `wire.DERIVED_STREAM`
naming the sessions that applied events, the UTC hours and the projects whose derived rows changed, and
the [user, machine] pairs of those sessions (docs/team.md; a live page filtered by user or machine
recomputes only for its own).

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

from ..models import Project, Session
from ..wire import DERIVED_MAXLEN, DERIVED_STREAM
from .catchup import CatchUpRun

logger = logging.getLogger(__name__)


def change_record(
    *, run: CatchUpRun, project_keys: list[str], at: float, people: set[tuple[str, str]] | None = None
) -> bytes:
    """The run's record as stored (selectors.changes.derived_entry_decode reads it); `people` only when
    known (a reader takes a record without it as anyone's)."""
    record: dict = {
        "sessions": sorted([platform, session_id] for platform, session_id in run.changed),
        "hours": sorted(_hour(h) for h in run.hours),
        "projects": sorted(project_keys),
        "at": at,
    }
    if people is not None:
        record["people"] = sorted([user, machine] for user, machine in people)
    return orjson.dumps(record)


def _people_of(sessions: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The distinct (user, machine) of these sessions (a run's sessions are bounded: a few queries)."""
    by_platform: dict[str, list[str]] = {}
    for platform, session_id in sessions:
        by_platform.setdefault(platform, []).append(session_id)
    out: set[tuple[str, str]] = set()
    for platform, ids in by_platform.items():
        for i in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
            rows = Session.objects.filter(platform=platform, session_id__in=ids[i : i + 500])
            out.update(rows.values_list("user", "machine").distinct().order_by())
    return out


def _hour(hour: datetime) -> str:
    return hour.isoformat().replace("+00:00", "Z")


def derived_publish(*, client: redis.Redis, run: CatchUpRun) -> bool:
    """Append the run's record now. Returns whether one was written (False: nothing applied, or a
    Redis fault, which is logged)."""
    if not run.changed:
        return False
    keys = list(Project.objects.filter(pk__in=run.project_ids).values_list("key", flat=True))
    record = change_record(run=run, project_keys=keys, at=time.time(), people=_people_of(run.changed))
    try:
        client.xadd(
            DERIVED_STREAM,
            {"change": record},
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

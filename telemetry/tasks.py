"""Celery tasks: thin wrappers over telemetry.processing. A task decides nothing."""

import time

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .connections import redis_client
from .ingest import notify, repack
from .processing import catchup, lifecycle, live


@shared_task(
    name="telemetry.sessions_catch_up",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def sessions_catch_up(sessions: list[list[str]] | None = None) -> int:
    """Bring every dirty session (and any named) up to date: derive their new raw events into rows, in one
    transaction (see processing.catchup). Returns how many sessions were visited."""
    client = redis_client()
    # While this waits, the scheduled flag is still set: the fast path marks sessions but enqueues no
    # second task, and what arrives meanwhile is caught up together.
    time.sleep(settings.SLOWPATH_COALESCE_MS / 1000)
    snapshot = notify.dirty_take(client)
    keys = {notify.session_parse(f) for f in snapshot}
    keys.update((platform, session_id) for platform, session_id in sessions or [])
    catchup.sessions_catch_up(sessions=keys)
    notify.dirty_clear(client, snapshot)
    return len(keys)


@shared_task(
    name="telemetry.raw_traces_repack", acks_late=True, autoretry_for=(OperationalError,), max_retries=3
)
def raw_traces_repack() -> int:
    """Merge small per-batch units of quiet sessions into larger ones. Returns units written."""
    return repack.units_repack()


@shared_task(
    name="telemetry.sessions_idle_close", acks_late=True, autoretry_for=(OperationalError,), max_retries=3
)
def sessions_idle_close() -> int:
    """Time out sessions idle past BLUEPLANE_SESSION_IDLE_TIMEOUT_S. Returns how many were closed."""
    return lifecycle.sessions_idle_close()


@shared_task(
    name="telemetry.rollups_recent_refresh", acks_late=True, autoretry_for=(OperationalError,), max_retries=3
)
def rollups_recent_refresh() -> bool:
    """Rewrite the live metrics of the last hours from the rollups (repairs a lost post-commit write).
    Returns False if Redis was unreachable."""
    return live.live_metrics_recent_refresh()


@shared_task(
    name="telemetry.raw_traces_archive", acks_late=True, autoretry_for=(OperationalError,), max_retries=3
)
def raw_traces_archive() -> int:
    """Move raw traces older than BLUEPLANE_ARCHIVE_AFTER_DAYS to Parquet (off when unset). Returns
    events archived."""
    from .processing import archive  # imports pyarrow (~0.2 s): only in the worker that archives

    return archive.raw_traces_archive()

"""Celery tasks: thin wrappers over telemetry.processing. A task decides nothing."""

import time

from celery import current_app, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError

from .connections import redis_client
from .processing import dirty, lifecycle, live
from .store import repack
from .wire import CATCH_UP_TASK, WORKER_HEARTBEAT


# Only machine faults reach here (processing.failures): a session's own fault is recorded and set aside.
@shared_task(
    name=CATCH_UP_TASK,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def sessions_catch_up(
    sessions: list[list[str]] | None = None, backlog: bool = False, shard: int | None = None
) -> int:
    """One bounded run over the dirty sessions of a shard (None: of every shard) and any named: derive
    their new raw events into rows (see processing.catchup, processing.dirty). `backlog`: a follow-up
    of a run that left work, which starts at once. Returns how many sessions were tried."""
    return dirty.dirty_sessions_catch_up(
        client=redis_client(),
        sessions=[(platform, session_id) for platform, session_id in sessions or []],
        backlog=backlog,
        enqueue=lambda: _backlog_enqueue(shard),
        shard=shard,
        shards=settings.SLOWPATH_SHARDS,
    )


def _backlog_enqueue(shard: int | None) -> None:
    kwargs = {"backlog": True} if shard is None else {"backlog": True, "shard": shard}
    current_app.send_task(CATCH_UP_TASK, kwargs=kwargs)


@shared_task(name="telemetry.slowpath_sweep", ignore_result=True)
def slowpath_sweep() -> list[int]:
    """Beat's periodic wake-up of the slow path with several shards: one catch-up task per shard (and per
    shard past a lowered count that still holds marks). Returns the shards enqueued."""
    return dirty.sweep(
        redis_client(),
        shards=settings.SLOWPATH_SHARDS,
        enqueue=lambda shard: current_app.send_task(CATCH_UP_TASK, kwargs={"shard": shard}),
    )


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
    from .store import archive  # imports pyarrow (~0.2 s): only in the worker that archives

    return archive.raw_traces_archive()


# No retries: a missed beat is what /healthz is there to notice; the next one comes in seconds.
@shared_task(name="telemetry.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    """Note that a worker ran a task beat scheduled (/healthz reads wire.WORKER_HEARTBEAT)."""
    redis_client().set(WORKER_HEARTBEAT, f"{time.time():.3f}")


@worker_ready.connect
def _worker_ready_heartbeat(**kwargs: object) -> None:
    # A fresh worker is healthy before beat's first tick.
    worker_heartbeat.apply()

"""Celery tasks: thin wrappers over telemetry.processing. A task decides nothing."""

import time

from celery import current_app, shared_task
from celery.signals import worker_ready
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
def sessions_catch_up(sessions: list[list[str]] | None = None, backlog: bool = False) -> int:
    """One bounded run over the dirty sessions (and any named): derive their new raw events into rows
    (see processing.catchup). `backlog`: a follow-up of a run that left work, which starts at once.
    Returns how many sessions were tried."""
    return dirty.dirty_sessions_catch_up(
        client=redis_client(),
        sessions=[(platform, session_id) for platform, session_id in sessions or []],
        backlog=backlog,
        enqueue=_backlog_enqueue,
    )


def _backlog_enqueue() -> None:
    current_app.send_task(CATCH_UP_TASK, kwargs={"backlog": True})


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

"""Celery tasks: thin wrappers over telemetry.processing. A task decides nothing."""

from celery import shared_task
from django.db import OperationalError

from .connections import redis_client
from .ingest import notify, repack
from .models import RAW_TRACE_MODELS
from .processing import progress


@shared_task(
    name="telemetry.sessions_catch_up",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def sessions_catch_up(sessions: list[list[str]] | None = None) -> int:
    """Bring every dirty session (and any named) up to date. Returns how many sessions were visited."""
    client = redis_client()
    snapshot = notify.dirty_take(client)
    keys = {notify.session_parse(f) for f in snapshot}
    keys.update((platform, session_id) for platform, session_id in sessions or [])
    for platform, session_id in sorted(keys):
        if platform in RAW_TRACE_MODELS:
            progress.session_progress_record(platform=platform, session_id=session_id)
    notify.dirty_clear(client, snapshot)
    return len(keys)


@shared_task(
    name="telemetry.raw_traces_repack", acks_late=True, autoretry_for=(OperationalError,), max_retries=3
)
def raw_traces_repack() -> int:
    """Merge small per-batch units of quiet sessions into larger ones. Returns units written."""
    return repack.units_repack()

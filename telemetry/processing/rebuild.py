"""Rebuilding derived data from the raw traces: the same steps as the live path, from scratch.

Rebuild == live because both run the same functions: the catch-up (session_catch_up) over a session's
raw events in seq order, the rollup recompute (rollups_refresh), the idle rule (sessions_idle_close)
and the live metrics writer. Archived events of a session are put back into the raw tables with their
original seqs for the duration of its catch-up, so they merge with the live rows in seq order, then
removed again (the archive keeps the copy).

The deletion and the watermark reset commit together; each session is caught up in transactions of
its own (bounded, as on the live path). An interrupted rebuild leaves sessions with a zero watermark: running
it again finishes the job. A session that fails is recorded as on the live path and the others go on.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..models import (
    RAW_TRACE_MODELS,
    ActivityHour,
    AiCodeLine,
    AiCommit,
    CodeChange,
    MetricPoint,
    OtelSequence,
    Project,
    RawChunk,
    Session,
    SessionProgress,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from ..store import archive
from . import catchup, failures, lifecycle, live, refresh, rollups

logger = logging.getLogger(__name__)


@dataclass
class RebuildResult:
    """What a rebuild did: sessions replayed, events applied, archived events read back."""

    sessions: int = 0
    events: int = 0
    archived_events: int = 0


def _catch_up(*, platform: str, session_id: str) -> int:
    """Apply all of the session's raw events, a bounded catch-up (one transaction) at a time. A session
    that fails is set aside as the live path does (failures.py), and the rebuild goes on."""
    applied = 0
    while True:
        try:
            result = catchup.session_catch_up(platform=platform, session_id=session_id)
        except Exception as exc:
            if failures.fault_is_machine(exc):
                raise
            logger.warning("rebuild of %s:%s failed, set aside: %r", platform, session_id, exc)
            with transaction.atomic():
                failures.session_failure_record(
                    platform=platform, session_id=session_id, error=failures.error_text(exc)
                )
            return applied
        applied += result.applied
        if not result.more:
            return applied


def sessions_known() -> set[tuple[str, str]]:
    """Every (platform, session_id) with raw events (stored or archived) or a watermark."""
    known = set(RawChunk.objects.values_list("platform", "session_id").distinct())
    known.update(SessionProgress.objects.values_list("platform", "session_id"))
    known.update(archive.archive_sessions())
    return {(p, s) for p, s in known if p in RAW_TRACE_MODELS}


def _session_buckets(session: Session) -> tuple[set[datetime], set[int | None]]:
    hours: set[datetime] = set()
    pids: set[int | None] = {session.project_id}
    for model in (Turn, ToolCall, CodeChange, MetricPoint):
        for hour, pid in model.objects.filter(session=session).values_list("hour", "project_id").distinct():
            hours.add(hour)
            pids.add(pid)
    return hours, pids


def _replay(platform: str, session_id: str, result: RebuildResult) -> None:
    restored = archive.archive_session_restore(platform=platform, session_id=session_id)
    try:
        result.events += _catch_up(platform=platform, session_id=session_id)
    finally:
        if restored.events:
            archive.archive_restored_remove(restored)
    result.archived_events += restored.events
    result.sessions += 1


def derived_rebuild_all(*, now: datetime | None = None) -> RebuildResult:
    """Delete every derived row, reset every watermark, and derive everything again."""
    result = RebuildResult()
    sessions = sessions_known()
    with transaction.atomic():
        for model in (
            UsageHour,
            ToolHour,
            ActivityHour,
            AiCodeLine,
            AiCommit,
            OtelSequence,
            Session,
            Project,
        ):
            model.objects.all().delete()
        SessionProgress.objects.update(processed_seq=0)
    with refresh.buckets_deferred():  # one recompute per bucket, not one per session
        for platform, session_id in sorted(sessions):
            _replay(platform, session_id, result)
    rollups.rollups_rebuild()
    lifecycle.sessions_idle_close(now=now)
    live.rebuild_live_metrics()
    logger.info("rebuilt %d sessions from %d events", result.sessions, result.events)
    return result


def derived_rebuild_session(
    *, session_id: str, platform: str | None = None, now: datetime | None = None
) -> RebuildResult:
    """Delete one session's derived rows, reset its watermark, derive it again and refresh the rollups
    of every hour it had or has. Returns what was done (sessions == 0: no such session)."""
    result = RebuildResult()
    platforms = [platform] if platform else sorted(RAW_TRACE_MODELS)
    for p in platforms:
        known = (
            RawChunk.objects.filter(platform=p, session_id=session_id).exists()
            or SessionProgress.objects.filter(platform=p, session_id=session_id).exists()
            or Session.objects.filter(platform=p, session_id=session_id).exists()
            or (p, session_id) in archive.archive_sessions()
        )
        if not known:
            continue
        hours: set[datetime] = set()
        pids: set[int | None] = set()
        with transaction.atomic():
            for session in Session.objects.filter(platform=p, session_id=session_id):
                h, ps = _session_buckets(session)
                hours |= h
                pids |= ps
                session.delete()
            OtelSequence.objects.filter(platform=p, session_id=session_id).delete()
            SessionProgress.objects.filter(platform=p, session_id=session_id).update(processed_seq=0)
        with transaction.atomic(), refresh.buckets_deferred():
            _replay(p, session_id, result)
            for session in Session.objects.filter(platform=p, session_id=session_id):
                h, ps = _session_buckets(session)
                hours |= h
                pids |= ps
            # The old buckets too: a bucket the session left must lose its share.
            refresh.buckets_refresh(hours=hours, project_ids=pids, platform=p)
        lifecycle.sessions_idle_close(now=now)
    return result

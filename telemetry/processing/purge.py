"""Removing whole sessions for good (`blueplane purge`): raw events, archived events, derived rows, the
rollups and live metrics they were counted in, and what Redis still holds about them.

What is removed is always whole sessions: a session's derived rows (counters, latencies, active time,
fork merges) are computed over all its events, so dropping part of one would leave rows that no
rebuild could reproduce. `purge_select` says which sessions a request names:
- a session id: that session on every platform, derived or not (raw, archived or only a watermark);
- a project (name or key): its derived sessions;
- a span [start, end): the derived sessions whose whole activity (first to last event) lies in it,
  so a session reaching across either edge is kept (`purge_select` counts those it kept);
- everything: every session known anywhere (raw, archived, derived, watermark).

`sessions_purge` then, for the named sessions:
1. removes their events from the Parquet archive (files rewritten without them), before the database,
   so a crash in between leaves sessions a second run still finds;
2. in one transaction: deletes their sessions (with conversations, turns, tool calls, code changes and
   data issues), raw events, units and watermarks, recomputes the rollups of every hour and project
   they had from what remains (rollups.rollups_refresh), and deletes projects nothing refers to any more;
3. after the commit: rewrites the live metrics of those hours, drops their dirty marks, and deletes the
   entries naming them from the change stream, the dead letters and the acknowledged part of the event
   stream; a second archive pass takes what an archiver run moved meanwhile.
Running it twice is harmless: the second run finds nothing. Events still on their way (pending in the
event stream, in a hook's spool file, or in a transcript that is still being written) are stored after
the purge and start their session anew; README ("Purge") says so.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import orjson
import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from ..models import (
    RAW_TRACE_MODELS,
    ActivityHour,
    AiCodeLine,
    AiCommit,
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    OtelSequence,
    Project,
    RawChunk,
    Session,
    SessionProgress,
    SessionStatus,
    ToolCall,
    ToolHour,
    Turn,
    UsageHour,
)
from ..store import archive, removal
from ..wire import CDC_STREAM, DERIVED_STREAM, DIRTY_KEYS, DLQ_STREAM, EVENTS_STREAM, GROUP, session_field
from . import live, rollups
from .cursor import AI_TRACKING_SESSION

Key = tuple[str, str]  # (platform, session_id)
_IN_CHUNK = 500
_PAGE = 1000  # stream entries read at a time


@dataclass
class PurgeSelection:
    """The sessions a purge request names, and what it left out."""

    sessions: set[Key]
    active: int = 0  # of them still active (events may still arrive)
    kept_across_edges: int = 0  # with activity in the span that reaches across an edge of it


@dataclass
class PurgeCounts:
    """What a purge removed (or, dry, would remove), per kind."""

    sessions: int = 0
    conversations: int = 0
    turns: int = 0
    tool_calls: int = 0
    code_changes: int = 0
    data_issues: int = 0
    watermarks: int = 0
    raw_events: int = 0
    raw_units: int = 0
    archived_events: int = 0
    archive_files: int = 0
    projects: int = 0
    rollup_hours: int = 0
    dirty_marks: int = 0
    change_records: int = 0
    dead_letters: int = 0
    stream_entries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --- which sessions -----------------------------------------------------------------------------------


def purge_select(
    *,
    session_id: str | None = None,
    project: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    everything: bool = False,
) -> PurgeSelection:
    """The sessions a purge of a session id, a project and/or a span, or of everything, removes (see the
    module's docstring). An empty set: nothing matches."""
    if everything:
        keys = set(RawChunk.objects.values_list("platform", "session_id").distinct())
        keys.update(SessionProgress.objects.values_list("platform", "session_id"))
        keys.update(Session.objects.values_list("platform", "session_id"))
        keys.update(archive.archive_sessions())
        return PurgeSelection(sessions=keys, active=_active(keys))
    if session_id is not None:
        keys = {(p, session_id) for p in RAW_TRACE_MODELS if _known(p, session_id)}
        return PurgeSelection(sessions=keys, active=_active(keys))
    sessions = Session.objects.all()
    if project is not None:
        # As the sessions list reads a project: its key, or its (folder) name.
        sessions = sessions.filter(project__in=Project.objects.filter(Q(key=project) | Q(name=project)))
    if start is None and end is None:
        keys = set(sessions.values_list("platform", "session_id"))
        return PurgeSelection(sessions=keys, active=_active(keys))
    within = sessions.exclude(started_at=None).exclude(last_event_at=None)
    overlapping = sessions
    if start is not None:
        within = within.filter(started_at__gte=start)
        overlapping = overlapping.filter(last_event_at__gte=start)
    if end is not None:
        within = within.filter(last_event_at__lt=end)
        overlapping = overlapping.filter(started_at__lt=end)
    keys = set(within.values_list("platform", "session_id"))
    return PurgeSelection(
        sessions=keys, active=_active(keys), kept_across_edges=overlapping.count() - len(keys)
    )


def _known(platform: str, session_id: str) -> bool:
    return (
        Session.objects.filter(platform=platform, session_id=session_id).exists()
        or SessionProgress.objects.filter(platform=platform, session_id=session_id).exists()
        or RawChunk.objects.filter(platform=platform, session_id=session_id).exists()
        or (platform, session_id) in archive.archive_sessions()
    )


def _session_pks(keys: Iterable[Key]) -> list[int]:
    by_platform: dict[str, list[str]] = defaultdict(list)
    for platform, session_id in keys:
        by_platform[platform].append(session_id)
    pks: list[int] = []
    for platform, ids in by_platform.items():
        for i in range(0, len(ids), _IN_CHUNK):
            qs = Session.objects.filter(platform=platform, session_id__in=ids[i : i + _IN_CHUNK])
            pks += qs.values_list("pk", flat=True)
    return pks


def _active(keys: set[Key]) -> int:
    """How many of the sessions are still active: not ended, and with an event within the idle timeout
    (lifecycle.py), so more of their events may come."""
    pks = _session_pks(keys)
    recent = datetime.now(UTC) - timedelta(seconds=settings.BLUEPLANE_SESSION_IDLE_TIMEOUT_S)
    return sum(
        Session.objects.filter(
            pk__in=pks[i : i + _IN_CHUNK], status=SessionStatus.ACTIVE, last_event_at__gte=recent
        ).count()
        for i in range(0, len(pks), _IN_CHUNK)
    )


# --- counting -----------------------------------------------------------------------------------------


def _derived_count(pks: list[int], counts: PurgeCounts) -> None:
    for i in range(0, len(pks), _IN_CHUNK):
        part = pks[i : i + _IN_CHUNK]
        counts.sessions += len(part)
        counts.conversations += Conversation.objects.filter(session__in=part).count()
        counts.turns += Turn.objects.filter(session__in=part).count()
        counts.tool_calls += ToolCall.objects.filter(session__in=part).count()
        counts.code_changes += CodeChange.objects.filter(session__in=part).count()
        counts.data_issues += DataIssue.objects.filter(session__in=part).count()


def _buckets(pks: list[int]) -> dict[str, tuple[set[datetime], set[int | None]]]:
    """Per platform, the hours and projects the sessions' rows are counted under in the rollups."""
    out: dict[str, tuple[set[datetime], set[int | None]]] = {}
    for i in range(0, len(pks), _IN_CHUNK):
        part = pks[i : i + _IN_CHUNK]
        for platform, pid in Session.objects.filter(pk__in=part).values_list("platform", "project_id"):
            out.setdefault(platform, (set(), set()))[1].add(pid)
        for model in (Turn, ToolCall, CodeChange, MetricPoint):
            rows = model.objects.filter(session__in=part).values_list(
                "session__platform", "hour", "project_id"
            )
            for platform, hour, pid in rows.distinct():
                hours, pids = out.setdefault(platform, (set(), set()))
                hours.add(hour)
                pids.add(pid)
    return out


def purge_count(selection: PurgeSelection, *, client: redis.Redis) -> PurgeCounts:
    """What sessions_purge would remove for this selection (a dry run), touching nothing."""
    counts = PurgeCounts()
    keys = selection.sessions
    pks = _session_pks(keys)
    _derived_count(pks, counts)
    counts.watermarks = sum(
        SessionProgress.objects.filter(platform=p, session_id=s).count() for p, s in sorted(keys)
    )
    counts.raw_events, counts.raw_units = removal.raw_sessions_count(keys)
    counts.archived_events, counts.archive_files = archive.archive_sessions_count(keys)
    counts.rollup_hours = len({h for hours, _ in _buckets(pks).values() for h in hours})
    counts.projects = len(_projects_left_over(_project_ids(pks), excluding=pks))
    counts.dirty_marks = _dirty_marks(client, keys, delete=False)
    counts.change_records = _stream_clean(client, CDC_STREAM, keys, delete=False)
    counts.change_records += _stream_clean(client, DERIVED_STREAM, keys, delete=False)
    counts.dead_letters = _stream_clean(client, DLQ_STREAM, keys, delete=False)
    counts.stream_entries = _stream_clean(client, EVENTS_STREAM, keys, delete=False)
    return counts


def _project_ids(pks: list[int]) -> set[int]:
    ids: set[int] = set()
    for i in range(0, len(pks), _IN_CHUNK):
        part = pks[i : i + _IN_CHUNK]
        ids.update(
            Session.objects.filter(pk__in=part).exclude(project=None).values_list("project_id", flat=True)
        )
        for model in (Turn, ToolCall, CodeChange):
            ids.update(
                model.objects.filter(session__in=part)
                .exclude(project=None)
                .values_list("project_id", flat=True)
            )
    return ids


def _projects_left_over(project_ids: set[int], *, excluding: list[int] = ()) -> set[int]:
    """Of these projects, those no session or row outside `excluding` (session pks) refers to, nor a
    rollup (the unknown project is referred to by rollups alone). Call after the rollups are recomputed."""
    gone = set(excluding)
    left = set()
    for pid in project_ids:
        if Session.objects.filter(project_id=pid).exclude(pk__in=gone).exists():
            continue
        rows = (
            m.objects.filter(project_id=pid).exclude(session__in=gone) for m in (Turn, ToolCall, CodeChange)
        )
        if any(qs.exists() for qs in rows):
            continue
        if not gone and any(
            m.objects.filter(project_id=pid).exists() for m in (UsageHour, ToolHour, ActivityHour)
        ):
            continue
        left.add(pid)
    return left


# --- removing -----------------------------------------------------------------------------------------


def sessions_purge(selection: PurgeSelection, *, client: redis.Redis) -> PurgeCounts:
    """Remove the selected sessions everywhere (the module's docstring says in which order). Returns what
    was removed. Redis must be reachable: a purge that could not clean it would leave the sessions in the
    live metrics and streams."""
    client.ping()
    keys = selection.sessions
    counts = PurgeCounts()
    counts.archived_events, counts.archive_files = archive.archive_sessions_remove(keys)
    refreshed: set[datetime] = set()
    with transaction.atomic():
        pks = _session_pks(keys)
        buckets = _buckets(pks)
        project_ids = _project_ids(pks)
        _derived_count(pks, counts)
        for i in range(0, len(pks), _IN_CHUNK):
            # A conversation's AI code lines go with it (the link alone would be nulled).
            AiCodeLine.objects.filter(session_id__in=pks[i : i + _IN_CHUNK]).delete()
            Session.objects.filter(pk__in=pks[i : i + _IN_CHUNK]).delete()
        if ("cursor", AI_TRACKING_SESSION) in keys:
            # Cursor's AI-tracking rows that name no conversation have no Session: their raw events are
            # this session id's, so they go with it.
            AiCommit.objects.all().delete()
            AiCodeLine.objects.filter(session=None).delete()
        for platform, session_id in keys:  # an OTel session's log numbers, kept by its id (no row)
            OtelSequence.objects.filter(platform=platform, session_id=session_id).delete()
        counts.raw_events, counts.raw_units, counts.watermarks = removal.raw_sessions_delete(sorted(keys))
        for platform, (hours, pids) in sorted(buckets.items()):
            refreshed |= rollups.rollups_refresh(hours=hours, project_ids=pids, platform=platform)
        counts.rollup_hours = len({h for hours, _ in buckets.values() for h in hours})
        leftover = _projects_left_over(project_ids)
        counts.projects = len(leftover)
        Project.objects.filter(pk__in=leftover).delete()
    live.live_metrics_refresh(hours=refreshed, client=client)
    counts.dirty_marks = _dirty_marks(client, keys, delete=True)
    counts.change_records = _stream_clean(client, CDC_STREAM, keys, delete=True)
    counts.change_records += _stream_clean(client, DERIVED_STREAM, keys, delete=True)
    counts.dead_letters = _stream_clean(client, DLQ_STREAM, keys, delete=True)
    counts.stream_entries = _stream_clean(client, EVENTS_STREAM, keys, delete=True)
    late, late_files = archive.archive_sessions_remove(keys)  # what an archiver run moved meanwhile
    counts.archived_events += late
    counts.archive_files += late_files
    return counts


def everything_purge(*, client: redis.Redis) -> PurgeCounts:
    """Remove every session (purge_select(everything=True)), then recompute every rollup and live metric
    from what is left (nothing, unless a session began meanwhile; also clears what a stale cache held)
    and drop the projects nothing refers to any more."""
    counts = sessions_purge(purge_select(everything=True), client=client)
    with transaction.atomic():
        rollups.rollups_rebuild()
        empty = Project.objects.annotate(n=Count("sessions")).filter(n=0).values_list("pk", flat=True)
        unused = _projects_left_over(set(empty))
        counts.projects += len(unused)
        Project.objects.filter(pk__in=unused).delete()
    live.rebuild_live_metrics(client=client)
    return counts


# --- Redis ----------------------------------------------------------------------------------------------


def _dirty_marks(client: redis.Redis, keys: set[Key], *, delete: bool) -> int:
    fields = [session_field(p, s) for p, s in sorted(keys)]
    if not fields:
        return 0
    # Every shard's hash: a session is marked in its shard's, but after the shard count changed it may
    # still be marked in another (processing.dirty).
    total = 0
    for i in range(0, len(fields), _PAGE):
        page = fields[i : i + _PAGE]
        pipe = client.pipeline(transaction=False)
        for key in DIRTY_KEYS:
            pipe.hdel(key, *page) if delete else pipe.hmget(key, page)
        replies = pipe.execute()
        total += (
            sum(replies) if delete else sum(any(v is not None for v in f) for f in zip(*replies, strict=True))
        )
    return total


def _names(value: bytes, keys: set[Key]) -> bool:
    """Whether an entry's payload (an event envelope, a change-record list, or a cut event's head)
    belongs to one of the sessions."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        # A dead letter cut to its first bytes, or not JSON at all: look for the id itself.
        return any(s.encode() in value for _, s in keys if s)
    if isinstance(data, dict) and isinstance(data.get("sessions"), list):  # a cdc:derived record
        return any(isinstance(s, list) and len(s) == 2 and tuple(s) in keys for s in data["sessions"])
    items = data if isinstance(data, list) else [data]
    return any(
        isinstance(item, dict) and (item.get("platform"), item.get("session_id")) in keys for item in items
    )


def _acknowledged_floor(client: redis.Redis) -> bytes | None:
    """The id below which every entry of the event stream has been stored and acknowledged (pending and
    undelivered entries are still on their way to the store, and must not be taken from the fast path)."""
    try:
        groups = client.xinfo_groups(EVENTS_STREAM)
    except redis.ResponseError:
        return None
    group = next((g for g in groups if g["name"] in (GROUP, GROUP.encode())), None)
    if group is None:
        return None
    summary = client.xpending(EVENTS_STREAM, GROUP)
    floor = summary["min"] if summary["pending"] else group["last-delivered-id"]
    return floor if isinstance(floor, bytes) else str(floor).encode()


def _stream_clean(client: redis.Redis, stream: str, keys: set[Key], *, delete: bool) -> int:
    """Entries of the stream that name one of the sessions: deleted (delete=True) or counted. A change
    record names every session of its batch, so deleting it takes the others' records of that batch
    too; they are notices for live viewers, already delivered, and the tables hold the changes. The
    change stream's count list then has more entries than the stream, which its trim tolerates
    (ingest/notify.py): it stays within its cap."""
    if not keys:
        return 0
    end = b"+"
    if stream == EVENTS_STREAM:
        floor = _acknowledged_floor(client)
        if floor is None:
            return 0
        end = b"(" + floor
    found = 0
    start = b"-"
    while True:
        entries = client.xrange(stream, min=start, max=end, count=_PAGE)
        doomed = [
            entry_id
            for entry_id, fields in entries
            if any(
                _names(v, keys)
                for k, v in fields.items()
                if k in (b"event", b"event_head", b"records", b"change")
            )
        ]
        if doomed and delete:
            client.xdel(stream, *doomed)
        found += len(doomed)
        if len(entries) < _PAGE:
            return found
        start = b"(" + entries[-1][0]

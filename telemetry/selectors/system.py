"""The state of the system itself: database, Redis, the event stream, the slow path and free space.

pipeline_state() is what `blueplane status` shows (and prints as it is with --json). It never fails
because a part is down or not set up: a part it cannot read is reported as such, with what the others
say. Every figure is cheap on a store of any size: no COUNT(*) over a raw table (row counts come from
the primary-key span, events behind are counted along an index up to a cap).
"""

import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import TypedDict

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F

from ..connections import redis_client_quick
from ..models import RAW_TRACE_MODELS, SessionProgress
from ..scope import refuse_if_scoped
from ..store.keys import session_key
from ..wire import DIRTY_KEYS, DLQ_STREAM, EVENTS_STREAM, GROUP, session_parse
from .traces import row_id_span

# Down, unreachable, refusing us (auth) or answering oddly: status reports it rather than failing.
REDIS_ERRORS = (redis.RedisError, OSError)
# Sessions behind whose events are counted, and how many events at most: beyond these the figures are
# lower bounds (`exact` False), so that status stays quick during a large backlog.
LAG_SESSIONS_MAX = 100
LAG_EVENTS_MAX = 200_000
# Waiting this long for the slow path is more than a busy moment: status warns.
LAG_WARN_S = 300
FAILING_SHOWN = 5
NOT_SET_UP = "not migrated yet (blueplane up migrates it)"


# Databases (vendor, name) this process found migrated. Building the migration graph reads every
# migration file (~4 ms), and /healthz asks on every probe; a database does not lose its migrations
# while a process runs, so only the True answer is kept (an unmigrated one is asked again).
_MIGRATED: set[tuple[str, str]] = set()


def database_ready() -> bool:
    """Whether the database has every migration applied (`blueplane up` applies them)."""
    key = (connection.vendor, str(connection.settings_dict.get("NAME")))
    if key in _MIGRATED:
        return True
    executor = MigrationExecutor(connection)
    ready = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    if ready:
        _MIGRATED.add(key)
    return ready


def redis_ok() -> bool:
    try:
        return bool(redis_client_quick().ping())
    except REDIS_ERRORS:
        return False


class StreamState(TypedDict):
    events: int  # entries in telemetry:events (acknowledged ones are trimmed away)
    pending: int  # read by the fast path, not yet acknowledged
    dead_letters: int  # entries in telemetry:dlq


def stream_state() -> StreamState:
    """Length of the event stream, entries read but not yet acknowledged, and dead letters."""
    client = redis_client_quick()
    try:
        pending = client.xpending(EVENTS_STREAM, GROUP)["pending"]
    except redis.ResponseError:  # no stream or group yet
        pending = 0
    return StreamState(
        events=client.xlen(EVENTS_STREAM), pending=pending, dead_letters=client.xlen(DLQ_STREAM)
    )


class DatabaseState(TypedDict):
    ready: bool  # reachable and migrated
    error: str | None  # why not, in one line
    raw_traces: dict[str, int]  # per platform, from the primary-key span: exact until rows are archived


class RedisState(TypedDict):
    ok: bool
    error: str | None


class SlowPathState(TypedDict):
    """Stored events the slow path has not derived yet."""

    dirty_sessions: int | None  # marks the fast path left in Redis for the slow path (None: Redis down)
    sessions_behind: int  # sessions with stored events not derived yet
    events_behind: int
    exact: bool  # False: more were behind than were counted; the figures are lower bounds
    oldest_waiting_s: float | None  # since the oldest such event was stored (re-packing renews it)


class FailingSession(TypedDict):
    platform: str
    session_id: str
    failures: int  # failed catch-ups in a row
    last_error: str
    retry_at: datetime | None


class FailingState(TypedDict):
    """Sessions the slow path sets aside because deriving them fails; the others go on."""

    sessions: int
    newest: list[FailingSession]


class DiskState(TypedDict):
    what: str  # "database", "home", or "database and home" when they share a file system
    path: str
    free_bytes: int
    total_bytes: int
    low: bool  # below BLUEPLANE_DISK_WARN_BYTES


class PipelineState(TypedDict):
    database: DatabaseState
    redis: RedisState
    stream: StreamState | None  # None while Redis is down
    slowpath: SlowPathState | None  # None while the database is not ready
    failing: FailingState | None  # None while the database is not ready
    disk: list[DiskState]
    warnings: list[str]  # what needs attention, one line each


def pipeline_state() -> PipelineState:
    """Everything `blueplane status` reports about the pipeline, and what needs attention. The whole
    install's state (the stream, dirty sessions of everyone): refused to a person's token."""
    refuse_if_scoped("the pipeline's state")
    database = _database_state()
    redis_state, stream, dirty = _redis_state()
    slowpath = failing = None
    if database["ready"]:
        try:
            slowpath = slowpath_state(dirty=dirty)
            failing = failing_state()
        except DatabaseError as exc:  # e.g. locked past its timeout, or the server went away
            slowpath = failing = None
            database = DatabaseState(ready=False, error=_one_line(exc), raw_traces=database["raw_traces"])
    disk = disk_state()
    state = PipelineState(
        database=database, redis=redis_state, stream=stream, slowpath=slowpath, failing=failing, disk=disk,
        warnings=[],
    )  # fmt: skip
    state["warnings"] = _warnings(state)
    return state


def _database_state() -> DatabaseState:
    try:
        if not database_ready():
            return DatabaseState(ready=False, error=NOT_SET_UP, raw_traces={})
        spans = {platform: row_id_span(model=model) for platform, model in RAW_TRACE_MODELS.items()}
    except DatabaseError as exc:
        return DatabaseState(ready=False, error=_one_line(exc), raw_traces={})
    counts = {platform: span[1] - span[0] + 1 if span else 0 for platform, span in spans.items()}
    return DatabaseState(ready=True, error=None, raw_traces=counts)


class DirtyMarks(TypedDict):
    total: int  # marks in every shard's hash (wire.DIRTY_KEYS)
    sample: list[tuple[str, str]]  # (platform, session_id) of up to LAG_SESSIONS_MAX + 1 of them


def _dirty_marks(client: redis.Redis) -> DirtyMarks:
    """The marks of every shard's hash (processing.dirty: also those past a lowered count)."""
    pipe = client.pipeline(transaction=False)
    for key in DIRTY_KEYS:
        pipe.hlen(key)
    sizes = pipe.execute()
    sample: list[tuple[str, str]] = []
    for key, size in zip(DIRTY_KEYS, sizes, strict=True):
        if not size or len(sample) > LAG_SESSIONS_MAX:
            continue
        for field, _ in client.hscan_iter(key, count=LAG_SESSIONS_MAX):
            sample.append(session_parse(field))
            if len(sample) > LAG_SESSIONS_MAX:
                break
    return DirtyMarks(total=sum(sizes), sample=sample)


def _redis_state() -> tuple[RedisState, StreamState | None, DirtyMarks | None]:
    try:
        redis_client_quick().ping()
        stream = stream_state()
        client = redis_client_quick()
        dirty = _dirty_marks(client)
    except REDIS_ERRORS as exc:
        return RedisState(ok=False, error=_one_line(exc)), None, None
    return RedisState(ok=True, error=None), stream, dirty


def slowpath_state(*, dirty: DirtyMarks | None) -> SlowPathState:
    """Sessions with stored events not derived yet: those the fast path marked dirty in Redis (None:
    Redis is down, so only the database is asked) and those whose progress row says so. Their events
    after the watermark are counted along the (session_key, seq) index, for up to LAG_SESSIONS_MAX
    sessions and LAG_EVENTS_MAX events; beyond that the figures are lower bounds (`exact` False)."""
    marked = dirty["sample"] if dirty else []
    behind = SessionProgress.objects.filter(raw_through_seq__gt=F("processed_seq"))
    recorded = list(behind.values_list("platform", "session_id")[: LAG_SESSIONS_MAX + 1])
    candidates = list(dict.fromkeys([*marked, *recorded]))
    checked = candidates[:LAG_SESSIONS_MAX]
    exact = len(candidates) == len(checked) and (dirty is None or dirty["total"] <= len(marked))
    watermarks = _watermarks(checked)
    sessions = events = 0
    oldest_ms: int | None = None
    budget = LAG_EVENTS_MAX
    for platform, session_id in checked:
        model = RAW_TRACE_MODELS.get(platform)
        if model is None:
            continue
        waiting = model.objects.filter(
            session_key=session_key(session_id), seq__gt=watermarks.get((platform, session_id), 0)
        ).order_by("seq")
        # A COUNT over a LIMITed subquery: it stops at the budget, however long the backlog.
        n = waiting[: budget + 1].count() if budget else int(waiting.exists())
        if not n:
            continue  # marked, but a catch-up has taken its events meanwhile
        sessions += 1
        events += min(n, budget)
        exact = exact and n <= budget
        budget = max(0, budget - n)
        stored_ms = waiting.values_list("chunk__created_ms", flat=True).first()
        if stored_ms is not None:
            oldest_ms = stored_ms if oldest_ms is None else min(oldest_ms, stored_ms)
    return SlowPathState(
        dirty_sessions=dirty["total"] if dirty else None,
        sessions_behind=sessions + len(candidates) - len(checked),
        events_behind=events,
        exact=exact,
        oldest_waiting_s=None if oldest_ms is None else max(0.0, time.time() - oldest_ms / 1000),
    )


def _watermarks(sessions: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """processed_seq of each session (absent: 0, nothing derived yet)."""
    out: dict[tuple[str, str], int] = {}
    for platform in {p for p, _ in sessions}:
        ids = [s for p, s in sessions if p == platform]
        rows = SessionProgress.objects.filter(platform=platform, session_id__in=ids)
        out.update(((platform, s), seq) for s, seq in rows.values_list("session_id", "processed_seq"))
    return out


def failing_state() -> FailingState:
    """How many sessions fail to derive, and the FAILING_SHOWN most recent with their error."""
    failing = SessionProgress.objects.filter(failures__gt=0)
    newest = failing.order_by("-updated_at", "-id").values(
        "platform", "session_id", "failures", "last_error", "retry_at"
    )[:FAILING_SHOWN]
    return FailingState(sessions=failing.count(), newest=[FailingSession(**row) for row in newest])


def disk_state() -> list[DiskState]:
    """Free space where the database (when it is a SQLite file) and the home live; one entry per file
    system. `low` below settings.BLUEPLANE_DISK_WARN_BYTES."""
    places: list[tuple[str, Path]] = []
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        places.append(("database", Path(db["NAME"]).parent))
    places.append(("home", Path(settings.BLUEPLANE_HOME)))
    out: list[DiskState] = []
    seen: dict[int, DiskState] = {}
    for what, path in places:
        try:
            device = path.stat().st_dev
            usage = shutil.disk_usage(path)
        except OSError:
            continue  # not there yet: nothing is stored in it either
        if device in seen:
            seen[device]["what"] += f" and {what}"
            continue
        seen[device] = DiskState(
            what=what, path=str(path), free_bytes=usage.free, total_bytes=usage.total,
            low=usage.free < settings.BLUEPLANE_DISK_WARN_BYTES,
        )  # fmt: skip
        out.append(seen[device])
    return out


def _warnings(state: PipelineState) -> list[str]:
    out = []
    # A database not set up yet, or Redis down while nothing runs, is a state, not a fault: the caller,
    # who knows whether Blueplane should be running, decides whether to warn about those.
    database = state["database"]
    if database["error"] and database["error"] != NOT_SET_UP:
        out.append(f"the database cannot be read: {database['error']}")
    stream = state["stream"]
    if stream and stream["dead_letters"]:
        out.append(f"{stream['dead_letters']} events were dead-lettered (not stored) in {DLQ_STREAM}")
    failing = state["failing"]
    if failing and failing["sessions"]:
        error = failing["newest"][0]["last_error"] if failing["newest"] else ""
        out.append(f"{failing['sessions']} sessions fail to derive (newest error: {error or 'unknown'})")
    lag = state["slowpath"]
    if lag and lag["oldest_waiting_s"] is not None and lag["oldest_waiting_s"] > LAG_WARN_S:
        out.append(
            f"the slow path is {lag['oldest_waiting_s'] / 60:.0f} min behind "
            f"({lag['events_behind']}{'' if lag['exact'] else '+'} events): is the worker running?"
        )
    for disk in state["disk"]:
        if disk["low"]:
            out.append(
                f"low disk space for the {disk['what']}: {disk['free_bytes'] / 2**20:.0f} MiB free in {disk['path']}"
            )
    return out


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")

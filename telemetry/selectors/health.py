"""Whether the pipeline is healthy: the checks /healthz answers with, each with its figures.

Built on pipeline_state() (what `blueplane status` shows) plus what only a health check needs: how long
the oldest event has waited in the stream, the worker's heartbeat, the last event per platform and the
spool. Each check is `ok`, `warn` (needs a look, still healthy), `fail` (unhealthy: /healthz answers
503) or `unknown` (cannot be read while a part it needs is down, which fails on its own).

Thresholds (docs/operations.md lists them):
- database: not reachable or not migrated -> fail.
- redis: no answer -> fail.
- stream: the oldest event not yet acknowledged has waited over STREAM_WAIT_FAIL_S -> fail (the fast
  path flushes every BLUEPLANE_FASTPATH_FLUSH_MS; a minute means it is stopped, stuck or waiting out a
  fault).
- dead_letters: any -> warn (data to look at, `blueplane dlq`); at BLUEPLANE_DLQ_MAXLEN -> fail (the
  oldest are being dropped).
- spool: events waiting -> warn; the oldest waiting over SPOOL_WAIT_FAIL_S, or more than
  BLUEPLANE_SPOOL_WARN_BYTES -> fail (hooks cannot reach Redis, or nothing replays the spool).
- worker: no heartbeat for WORKER_STALE_S (beat schedules one every 15 s) -> fail.
- slowpath: the oldest stored event not yet derived waited over LAG_WARN_S -> fail.
- failing_sessions: any -> warn (one session that cannot be derived holds back no other).
- disk: below BLUEPLANE_DISK_WARN_BYTES -> warn.
- events: the last event of each platform; never fails (no events is an idle user, not a fault).
Every figure is cheap: no COUNT(*) over a raw table, no blob read.
"""

import time
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import redis
from django.conf import settings
from django.db import DatabaseError

from ..connections import redis_client_quick
from ..models import RAW_TRACE_MODELS
from ..wire import EVENTS_STREAM, GROUP, WORKER_HEARTBEAT
from .system import LAG_WARN_S, REDIS_ERRORS, PipelineState, pipeline_state

STREAM_WAIT_FAIL_S = 60
SPOOL_WAIT_FAIL_S = 120
WORKER_STALE_S = 120

Status = Literal["ok", "warn", "fail", "unknown"]
OVERALL = {"fail": "failing", "warn": "degraded"}


class Check(TypedDict, total=False):
    status: Status
    message: str  # one line: what is wrong and what to do, or what is fine


class SpoolState(TypedDict):
    files: int
    bytes: int
    oldest_age_s: float | None


class StreamWait(TypedDict):
    oldest_waiting_s: float | None  # since the oldest entry not yet acknowledged was queued
    undelivered: int | None  # entries no consumer was given yet (Redis 7+; None on older servers)


class LastEvent(TypedDict):
    event_at: datetime  # the event time of the newest stored event
    stored_at: datetime | None  # when it was stored


class HealthReport(TypedDict):
    status: Literal["ok", "degraded", "failing"]
    healthy: bool  # no check fails
    failing: list[str]  # names of the checks that fail
    checked_at: datetime
    checks: dict[str, dict[str, Any]]


def _id_ms(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return int(text.partition("-")[0])


def stream_wait(client: redis.Redis) -> StreamWait:
    """How long the oldest unacknowledged event of telemetry:events has waited: the oldest pending entry
    (read, not acknowledged) or the first one not yet read, whichever is older. Reads one entry at most."""
    now_ms = time.time() * 1000
    try:
        groups = {g["name"]: g for g in client.xinfo_groups(EVENTS_STREAM)}
    except redis.ResponseError:  # no stream yet
        return StreamWait(oldest_waiting_s=None, undelivered=0)
    group = groups.get(GROUP.encode()) or groups.get(GROUP)
    oldest: list[int] = []
    if group is None:  # no fast path ever ran: every entry waits
        first = client.xrange(EVENTS_STREAM, count=1)
        undelivered = client.xlen(EVENTS_STREAM)
    else:
        summary = client.xpending(EVENTS_STREAM, GROUP)
        if summary["pending"]:
            oldest.append(_id_ms(summary["min"]))
        last = group["last-delivered-id"]
        last = last.decode() if isinstance(last, bytes) else last
        first = client.xrange(EVENTS_STREAM, min=f"({last}", count=1)
        undelivered = group.get("lag")  # Redis 7+
    if first:
        oldest.append(_id_ms(first[0][0]))
    waited = max(0.0, (now_ms - min(oldest)) / 1000) if oldest else None
    return StreamWait(oldest_waiting_s=waited, undelivered=undelivered)


def worker_heartbeat_age(client: redis.Redis) -> float | None:
    """Seconds since a worker last ran the heartbeat task; None if none ever did."""
    value = client.get(WORKER_HEARTBEAT)
    try:
        return max(0.0, time.time() - float(value)) if value is not None else None
    except ValueError:
        return None


def last_events() -> dict[str, LastEvent | None]:
    """Per platform, the newest stored event (by store order: one primary-key read) and when it was
    stored; None for a platform with none."""
    out: dict[str, LastEvent | None] = {}
    for platform, model in RAW_TRACE_MODELS.items():
        row = model.objects.order_by("-seq").values_list("ts_ms", "chunk__created_ms").first()
        out[platform] = (
            None
            if row is None
            else LastEvent(
                event_at=_moment(row[0]), stored_at=_moment(row[1]) if row[1] is not None else None
            )
        )
    return out


def _moment(ms: int) -> datetime:
    # Event times span years 1..9999 (the wire format allows them); clamp what datetime cannot hold.
    seconds = min(max(ms / 1000, -62135596800), 253402300799)
    return datetime.fromtimestamp(seconds, UTC)


def health_report(*, spool: SpoolState | None) -> HealthReport:
    """Every check, and whether the pipeline is healthy. `spool` is the capture spool's state (the
    interface reads it: selectors do not reach into capture), None when unknown."""
    state = pipeline_state()
    checks: dict[str, dict[str, Any]] = {}
    checks["database"] = _database_check(state)
    checks["redis"] = (
        {"status": "ok", "message": "answering"}
        if state["redis"]["ok"]
        else {"status": "fail", "message": f"not answering: {state['redis']['error']}"}
    )
    checks.update(_redis_checks(state))
    checks["spool"] = _spool_check(spool)
    checks["slowpath"] = _slowpath_check(state)
    checks["failing_sessions"] = _failing_check(state)
    checks["disk"] = _disk_check(state)
    checks["events"] = _events_check(state)
    failing = [name for name, check in checks.items() if check["status"] == "fail"]
    worst = "fail" if failing else "warn" if any(c["status"] == "warn" for c in checks.values()) else "ok"
    return HealthReport(
        status=OVERALL.get(worst, "ok"),
        healthy=not failing,
        failing=failing,
        checked_at=datetime.now(UTC),
        checks=checks,
    )


def _database_check(state: PipelineState) -> dict[str, Any]:
    database = state["database"]
    if database["ready"]:
        return {"status": "ok", "message": "reachable and migrated", "raw_traces": database["raw_traces"]}
    return {"status": "fail", "message": database["error"] or "not ready"}


def _redis_checks(state: PipelineState) -> dict[str, dict[str, Any]]:
    """stream, dead_letters and worker: all read from Redis."""
    unknown = {"status": "unknown", "message": "Redis is not answering"}
    stream = state["stream"]
    if not state["redis"]["ok"] or stream is None:
        return {"stream": dict(unknown), "dead_letters": dict(unknown), "worker": dict(unknown)}
    client = redis_client_quick()
    try:
        wait = stream_wait(client)
        heartbeat_s = worker_heartbeat_age(client)
    except REDIS_ERRORS as exc:
        gone = {"status": "unknown", "message": f"Redis stopped answering: {type(exc).__name__}"}
        return {"stream": dict(gone), "dead_letters": dict(gone), "worker": dict(gone)}
    out: dict[str, dict[str, Any]] = {}
    waited = wait["oldest_waiting_s"]
    figures = {"entries": stream["events"], "pending": stream["pending"], **wait}
    if waited is not None and waited > STREAM_WAIT_FAIL_S:
        out["stream"] = {
            "status": "fail",
            "message": f"the oldest queued event has waited {waited:.0f} s (over {STREAM_WAIT_FAIL_S} s): "
            "is the fast path (runfastpath) running?",
            **figures,
        }
    else:
        out["stream"] = {"status": "ok", "message": "the fast path keeps up", **figures}
    dead = stream["dead_letters"]
    if dead >= settings.DLQ_MAXLEN:
        out["dead_letters"] = {
            "status": "fail",
            "message": f"{dead} dead letters: at BLUEPLANE_DLQ_MAXLEN, the oldest are dropped; see `blueplane dlq`",
            "depth": dead,
        }
    elif dead:
        out["dead_letters"] = {
            "status": "warn",
            "message": f"{dead} events could not be stored; see `blueplane dlq list`",
            "depth": dead,
        }
    else:
        out["dead_letters"] = {"status": "ok", "message": "none", "depth": 0}
    if heartbeat_s is None or heartbeat_s > WORKER_STALE_S:
        since = "never" if heartbeat_s is None else f"{heartbeat_s:.0f} s ago"
        out["worker"] = {
            "status": "fail",
            "message": f"no Celery worker ran its heartbeat for over {WORKER_STALE_S} s (last: {since}): "
            "are the worker and beat running?",
            "heartbeat_age_s": heartbeat_s,
        }
    else:
        out["worker"] = {
            "status": "ok",
            "message": "a worker ran beat's last heartbeat",
            "heartbeat_age_s": heartbeat_s,
        }
    return out


def _spool_check(spool: SpoolState | None) -> dict[str, Any]:
    if spool is None:
        return {"status": "unknown", "message": "the spool could not be read"}
    figures = dict(spool)
    if not spool["files"]:
        return {"status": "ok", "message": "empty", **figures}
    age = spool["oldest_age_s"]
    if (age is not None and age > SPOOL_WAIT_FAIL_S) or spool["bytes"] > settings.CAPTURE_SPOOL_WARN_BYTES:
        return {
            "status": "fail",
            "message": f"{spool['bytes']} bytes of hook events wait in the spool"
            + (f", the oldest for {age:.0f} s" if age is not None else "")
            + ": Redis was unreachable or nothing replays it (runcapture)",
            **figures,
        }
    return {
        "status": "warn",
        "message": f"{spool['bytes']} bytes of hook events wait to be replayed",
        **figures,
    }


def _slowpath_check(state: PipelineState) -> dict[str, Any]:
    lag = state["slowpath"]
    if lag is None:
        return {"status": "unknown", "message": "the database is not ready"}
    figures = dict(lag)
    waited = lag["oldest_waiting_s"]
    if waited is not None and waited > LAG_WARN_S:
        return {
            "status": "fail",
            "message": f"the oldest stored event has waited {waited:.0f} s to be derived (over {LAG_WARN_S} s): "
            "is the worker running?",
            **figures,
        }
    return {
        "status": "ok",
        "message": "up to date" if not lag["sessions_behind"] else "catching up",
        **figures,
    }


def _failing_check(state: PipelineState) -> dict[str, Any]:
    failing = state["failing"]
    if failing is None:
        return {"status": "unknown", "message": "the database is not ready"}
    n = failing["sessions"]
    if not n:
        return {"status": "ok", "message": "none", "sessions": 0}
    error = failing["newest"][0]["last_error"] if failing["newest"] else ""
    return {
        "status": "warn",
        "message": f"{n} sessions fail to derive (newest error: {error or 'unknown'})",
        "sessions": n,
        "newest": failing["newest"],
    }


def _disk_check(state: PipelineState) -> dict[str, Any]:
    low = [d for d in state["disk"] if d["low"]]
    if low:
        where = ", ".join(f"{d['what']} ({d['free_bytes'] // 2**20} MiB free)" for d in low)
        return {"status": "warn", "message": f"low disk space for the {where}", "file_systems": state["disk"]}
    return {"status": "ok", "message": "enough free space", "file_systems": state["disk"]}


def _events_check(state: PipelineState) -> dict[str, Any]:
    if not state["database"]["ready"]:
        return {"status": "unknown", "message": "the database is not ready"}
    try:
        last = last_events()
    except DatabaseError as exc:
        return {"status": "unknown", "message": f"the database cannot be read: {type(exc).__name__}"}
    return {"status": "ok", "message": "the newest stored event per platform", "last": last}

"""The pipeline page's figures: the fast path's recent events per second and its counters, the event
stream (entries, pending, how long the oldest has waited), the slow path's lag, dead letters, failing
sessions, the spool, the worker's heartbeat, the OTLP receiver's counters, and every check of the health report with its status.

The checks are /healthz's own (telemetry.selectors.health.health_report, which /metrics also reads), so
the page, /healthz and /metrics never disagree. The page's filters do not apply: the pipeline has no
period, and the zone only formats times in the browser. Everything here is cheap on a store of any size
(the health report's promise: no COUNT(*) over a raw table, no blob read), so the live feed can push it
on a timer: these figures change without any slow-path commit.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from api.ops import otlp_endpoint_read, spool_read
from telemetry.connections import redis_client_quick
from telemetry.selectors import health, metrics, throughput
from telemetry.selectors.system import REDIS_ERRORS

from ..filters import PageFilters

# The order the page lists the checks in: the flow of an event, then the machine.
CHECK_ORDER = (
    "redis", "stream", "dead_letters", "database", "slowpath", "worker", "failing_sessions", "spool", "events",
    "disk",
)  # fmt: skip


SLOWPATH_FIGURES = ("dirty_sessions", "sessions_behind", "events_behind", "exact", "oldest_waiting_s")


def jsonable(value: Any) -> Any:
    """The health report made JSON-ready the way every page's figures are: times as ISO 8601, money and
    other decimals as strings, tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _only(check: dict[str, Any], *names: str) -> dict[str, Any] | None:
    """The named figures of a check; None when it has none of them (its part is down)."""
    if not any(name in check for name in names):
        return None
    return {name: check.get(name) for name in names}


def figures(filters: PageFilters) -> dict:
    report = health.health_report(spool=spool_read())
    checks = report["checks"]
    fastpath = otlp = None
    if checks["redis"]["status"] == "ok":
        try:
            fastpath = throughput.fastpath_recent()
            counters = metrics.otlp_counters(redis_client_quick())
            otlp = {
                "requests": sum(counters["requests"].values()),
                "records": sum(counters["records"].values()),
                "refused": sum(counters["refused"].values()),
                "errors": sum(counters["errors"].values()),
                "spooled": counters["spooled"],
            }
        except REDIS_ERRORS:
            fastpath = otlp = None  # went away since the check: the redis check says so on the next push
    names = [*(n for n in CHECK_ORDER if n in checks), *(n for n in checks if n not in CHECK_ORDER)]
    failing = checks["failing_sessions"]
    return jsonable(
        {
            "status": report["status"],
            "healthy": report["healthy"],
            "failing": report["failing"],
            "checked_at": report["checked_at"],
            "checks": [
                {"name": n, "status": checks[n]["status"], "message": checks[n]["message"]} for n in names
            ],
            "fastpath": fastpath,
            "otlp": {"endpoint": otlp_endpoint_read(), **(otlp or {})},
            "stream": _only(checks["stream"], "entries", "pending", "undelivered", "oldest_waiting_s"),
            "slowpath": _only(checks["slowpath"], *SLOWPATH_FIGURES),
            "dead_letters": _only(checks["dead_letters"], "depth"),
            "failing_sessions": None
            if "sessions" not in failing
            else {"sessions": failing["sessions"], "newest": failing.get("newest", [])},
            "spool": _only(checks["spool"], "files", "bytes", "oldest_age_s"),
            "worker": _only(checks["worker"], "heartbeat_age_s"),
            "raw_traces": checks["database"].get("raw_traces"),
            "last_events": checks["events"].get("last"),
            "disk": checks["disk"].get("file_systems", []),
        }
    )

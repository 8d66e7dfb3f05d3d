"""`blueplane status`: what runs and what the pipeline says, told truthfully even after a crash.

The figures come from the supervisor's files under <home>/run (which processes run, and which a killed
supervisor left running), the spool (events hooks wrote while Redis was down) and
telemetry.selectors.system.pipeline_state() (database, Redis, stream, slow path, free space). A part
that is down or not set up is reported as such and the others still are; status exits 0 either way.
`--json` prints the same record (StatusReport) and nothing else.
"""

import argparse
import contextlib
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from .options import django_setup, version
from .output import json_print


class ProcessState(TypedDict):
    name: str
    pid: int | None
    alive: bool
    restarts: int
    given_up: bool  # exited saying it cannot run as configured; not restarted (its log says why)


class SupervisorState(TypedDict):
    running: bool
    pid: int | None
    ready: bool  # every process was started
    port: int | None
    processes: list[ProcessState]  # of the running supervisor
    # Processes a supervisor that was killed started and that still run (`blueplane down` stops them),
    # and whether the embedded Redis it started may still run too.
    leftovers: list[ProcessState]
    leftover_redis: bool


class StatusReport(TypedDict):
    version: str
    home: str
    supervisor: SupervisorState
    spool: dict  # telemetry.capture.spool.spool_state(): files, bytes, oldest_age_s
    database: dict
    redis: dict
    stream: dict | None
    slowpath: dict | None
    failing: dict | None
    disk: list[dict]
    # The OTLP receiver: its endpoint and telemetry.selectors.metrics.otlp_counters() (None when Redis
    # does not answer).
    otlp: dict
    # The team server this machine forwards to (docs/team.md), None when not connected: server, url,
    # user, level, machine, backlog (events not yet taken), state and last error.
    team: dict | None
    warnings: list[str]


def supervisor_state(home: Path) -> SupervisorState:
    from .. import runstate
    from ..pids import pid_alive

    pid = runstate.supervisor_pid(home)
    state = runstate.state_read(home) or {}
    processes = []
    for name, proc in state.get("processes", {}).items():
        child = proc.get("pid")
        alive = child is not None and pid_alive(child, marker=None)
        if pid is None:  # the file is a dead supervisor's: its pids may since belong to others
            alive = alive and runstate.child_of_home(child, home)
        processes.append(
            ProcessState(
                name=name,
                pid=child,
                alive=alive,
                restarts=proc.get("restarts", 0),
                given_up=bool(proc.get("given_up")),
            )
        )
    return SupervisorState(
        running=pid is not None,
        pid=pid,
        ready=pid is not None and bool(state.get("ready")),
        port=state.get("port") if pid else None,
        processes=processes if pid else [],
        leftovers=[] if pid else [p for p in processes if p["alive"]],
        leftover_redis=pid is None and bool(state.get("redis_started")),
    )


def status_report() -> StatusReport:
    from django.conf import settings

    from telemetry.capture.spool import spool_state
    from telemetry.selectors.system import pipeline_state

    home = Path(settings.BLUEPLANE_HOME)
    sup = supervisor_state(home)
    files, waiting, oldest_s = spool_state(str(home))
    spool = {"files": files, "bytes": waiting, "oldest_age_s": oldest_s}
    pipeline = pipeline_state()
    if not pipeline["redis"]["ok"]:
        sup["leftover_redis"] = False  # it does not answer: nothing to stop
    warnings = []
    if sup["leftovers"] or sup["leftover_redis"]:
        what = f"{len(sup['leftovers'])} processes it started"
        what += " and its embedded Redis" if sup["leftover_redis"] else ""
        warnings.append(f"the supervisor was killed, {what} still run; stop them with: blueplane down")
    if not pipeline["redis"]["ok"] and (sup["running"] or sup["leftovers"]):
        warnings.append("redis is not answering: hooks spool their events, nothing new is stored")
    if spool.get("files") and not sup["running"]:
        warnings.append(
            f"{_size(spool.get('bytes') or 0)} of events wait in the spool; blueplane up replays them"
        )
    return StatusReport(
        otlp=_otlp(pipeline["redis"]["ok"]),
        team=_team(home, pipeline["database"]["ready"]),
        version=version(),
        home=str(home),
        supervisor=sup,
        spool=spool,
        database=pipeline["database"],
        redis=pipeline["redis"],
        stream=pipeline["stream"],
        slowpath=pipeline["slowpath"],
        failing=pipeline["failing"],
        disk=pipeline["disk"],
        warnings=warnings + pipeline["warnings"],
    )


def _team(home: Path, database_ready: bool) -> dict | None:
    from telemetry.forward.forwarder import backlog, state_read
    from telemetry.forward.team import team_read

    team = team_read(home)
    if team is None:
        return None
    state = state_read(home)
    return {
        "server": team.server,
        "url": team.url,
        "user": team.user,
        "level": team.level,
        "machine": team.machine_id,
        "backlog": backlog(home, team) if database_ready else None,
        "state": state.get("state"),
        "last_error": state.get("last_error"),
        "last_ok_at": state.get("last_ok_at"),
        "set_aside": state.get("set_aside", 0),
    }


def _otlp(redis_ok: bool) -> dict:
    from telemetry.capture.runtime import otlp_endpoint
    from telemetry.connections import redis_client_quick
    from telemetry.selectors.metrics import otlp_counters
    from telemetry.selectors.system import REDIS_ERRORS

    counters = None
    if redis_ok:
        with contextlib.suppress(*REDIS_ERRORS):
            counters = otlp_counters(redis_client_quick())
    return {"endpoint": otlp_endpoint(), "counters": counters}


def cmd_status(args: argparse.Namespace) -> int:
    django_setup()
    report = status_report()
    if args.json:
        json_print(report)
    else:
        _print(report)
    return 0


def _print(r: StatusReport) -> None:
    from django.conf import settings

    print(f"home        {r['home']}")
    sup = r["supervisor"]
    if sup["running"]:
        print(f"supervisor  running (pid {sup['pid']}){'' if sup['ready'] else ', starting'}")
        for p in sup["processes"]:
            what = f"pid {p['pid']}" if p["alive"] else "restarting"
            if p.get("given_up"):
                what = f"not running: it cannot run as configured (blueplane logs {p['name']})"
            restarts = f", restarted {p['restarts']}x" if p["restarts"] else ""
            print(f"  {p['name']:<9} {what}{restarts}")
        print(f"  admin     http://127.0.0.1:{sup['port'] or settings.BLUEPLANE_PORT}/admin/")
    elif sup["leftovers"]:
        names = ", ".join(f"{p['name']} (pid {p['pid']})" for p in sup["leftovers"])
        print(f"supervisor  not running, but processes it started still run: {names}")
        print("            stop them with: blueplane down")
    else:
        print("supervisor  not running (start it with: blueplane up)")

    where = (
        "BLUEPLANE_REDIS_URL" if settings.BLUEPLANE_REDIS_URL else f"embedded, {settings.REDIS_SOCKET_PATH}"
    )
    print(f"redis       {'up' if r['redis']['ok'] else 'not answering'} ({where})")
    if stream := r["stream"]:
        print(
            f"stream      telemetry:events: {stream['events']} entries, {stream['pending']} pending; "
            f"telemetry:dlq: {stream['dead_letters']} entries"
        )
    database = r["database"]
    if not database["ready"]:
        print(f"database    {database['error']}")
    else:
        counts = ", ".join(f"{platform} {n}" for platform, n in database["raw_traces"].items())
        print(f"raw traces  {counts} (counted by id, archived ones included)")
    if lag := r["slowpath"]:
        print(f"slow path   {_lag(lag)}")
    if failing := r["failing"]:
        print(f"failing     {failing['sessions'] or 'none'}{' sessions' if failing['sessions'] else ''}")
        for f in failing["newest"]:
            retry = f", next try {_when(f['retry_at'])}" if f["retry_at"] else ""
            print(f"  {f['platform']} {f['session_id']}: {f['failures']} failures{retry}: {f['last_error']}")
    otlp = r["otlp"]
    if (c := otlp["counters"]) is not None:
        refused, errors = sum(c["refused"].values()), sum(c["errors"].values())
        print(
            f"otlp        {otlp['endpoint']}: {sum(c['requests'].values())} requests, "
            f"{sum(c['records'].values())} records ({refused} refused, {errors} errors, {c['spooled']} spooled)"
        )
    else:
        print(f"otlp        {otlp['endpoint']}")
    if team := r["team"]:
        who = team["user"] or "(a token of no user)"
        print(f"team        {team['server'] or team['url']} ({team['url']}) as {who}, machine {team['machine']}, "
              f"level {team['level']}")  # fmt: skip
        if team["backlog"] is not None:
            print(f"  backlog   {sum(team['backlog'].values())} events not forwarded yet")
        if team["state"] == "revoked":
            print(f"  stopped   {team['last_error']} (connect again with a new token)")
        elif team["last_error"]:
            print(f"  last error {team['last_error']}")
        if team["set_aside"]:
            print(f"  set aside {team['set_aside']} events the server refused (forward/rejected.jsonl)")
    spool = r["spool"]
    if spool.get("files"):
        age = spool.get("oldest_age_s")
        oldest = f", oldest written {_duration(age)} ago" if age is not None else ""
        print(f"spool       {spool['files']} files, {_size(spool.get('bytes') or 0)} waiting{oldest}")
    else:
        print("spool       empty")
    for disk in r["disk"]:
        print(
            f"disk        {_size(disk['free_bytes'])} free of {_size(disk['total_bytes'])} "
            f"({disk['what']}: {disk['path']})"
        )
    for warning in r["warnings"]:
        print(f"warning     {warning}")


def _lag(lag: dict) -> str:
    marks = f"; {lag['dirty_sessions']} sessions marked in Redis" if lag["dirty_sessions"] else ""
    if not lag["sessions_behind"]:
        return f"up to date{marks}"
    bound = "" if lag["exact"] else "at least "
    age = lag["oldest_waiting_s"]
    oldest = f", the oldest stored {_duration(age)} ago" if age is not None else ""
    return (
        f"{bound}{lag['events_behind']} events of {lag['sessions_behind']} sessions not derived yet"
        f"{oldest}{marks}"
    )


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def register(sub: argparse._SubParsersAction) -> None:
    help = "what runs, Redis, the stream, the slow path, failing sessions, the spool and free space"
    p = sub.add_parser("status", help=help, description=help)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_status)

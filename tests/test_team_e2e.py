"""Several consumers and workers on one stream and one database (docs/team.md, "Correctness with several
consumers and workers"), with processes standing in for hosts: two `runfastpath` consumers of their own
names and two Celery workers over one Redis and one database. Mid-run, one consumer and one worker are
killed (SIGKILL to the process group: the host is gone, the consumer's reader child with it). What they
held must be taken over: the dead consumer's pending entries by the other one (XAUTOCLAIM), the dead
worker's task by redelivery. The derived tables must then equal those of one consumer and one worker
over the same events on a fresh database, and every distinct event must be stored exactly once.

Reclaiming and redelivery are made fast through the settings' environment variables; nothing here is
mocked, and no assertion is about time."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis as redis_py

from bench.events import fixture_envelopes
from telemetry import tasks
from telemetry.ingest.envelope import event_decode
from telemetry.models import RAW_TRACE_MODELS, SessionProgress
from telemetry.store.keys import session_key
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM, GROUP
from tests.support.postgres import database, needs_postgres
from tests.support.shifted import envelopes_copies

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 300  # waits end as soon as their condition holds; this is only for a stuck run
COPIES = 3  # of the real fixtures' ~1,200 events and 21 sessions
ENV = {
    "BLUEPLANE_LOG_LEVEL": "WARNING",
    # A dead consumer's entries are taken over once idle 2 s, looked for every second.
    "BLUEPLANE_FASTPATH_RECLAIM_IDLE_MS": "2000",
    "BLUEPLANE_FASTPATH_RECLAIM_EVERY_S": "1",
    # With so short an idle time, a batch slow to commit on a loaded machine can be reclaimed by the other
    # (live) consumer and delivered once more: harmless (ids make the second store a no-op), but it must
    # not count towards dead-lettering here.
    "BLUEPLANE_FASTPATH_MAX_DELIVERIES": "100",
    # A dead worker's task comes back after 15 s unacknowledged, looked for every second. Not shorter: a
    # live worker's task running longer than this comes back too, and on a loaded machine (CI) catch-ups
    # that each outlived 3 s kept coming back and re-queueing, so the queue never emptied.
    "BLUEPLANE_VISIBILITY_TIMEOUT_S": "15",
    "BLUEPLANE_UNACKED_RESTORE_INTERVAL_S": "1",
}

_DUMP = """
import json
from telemetry import tasks
from tests.telemetry.processing.test_rebuild import derived_dump
tasks.sessions_idle_close()  # beat's idle rule, as in the single-host end-to-end tests
print(json.dumps(derived_dump(), default=str))
"""


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    return envelopes_copies(fixture_envelopes(), COPIES)


class Db:
    """Plain SQL on the processes' database, to watch their progress (the test's own Django database is
    not theirs)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
        else:
            self.conn = psycopg.connect(url, autocommit=True)

    def rows(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def raw_count(self) -> int:
        return sum(
            self.rows(f"SELECT COUNT(*) FROM {m._meta.db_table}")[0][0] for m in RAW_TRACE_MODELS.values()
        )

    def caught_up(self) -> bool:
        """Every session's watermark is at its newest stored event."""
        table = SessionProgress._meta.db_table
        processed = {
            (platform, session_key(sid)): seq
            for platform, sid, seq in self.rows(f"SELECT platform, session_id, processed_seq FROM {table}")
        }
        newest = {
            (platform, key): seq
            for platform, model in RAW_TRACE_MODELS.items()
            for key, seq in self.rows(f"SELECT session_key, MAX(seq) FROM {model._meta.db_table} GROUP BY 1")
        }
        return bool(newest) and all(processed.get(k, 0) >= seq for k, seq in newest.items())

    def in_transaction(self, application: str) -> bool:
        """Whether a process started with PGAPPNAME=application is inside a statement or transaction."""
        return bool(
            self.rows(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = "
                f"'{application}' AND state IN ('active', 'idle in transaction')"
            )
        )

    def close(self) -> None:
        self.conn.close()


@contextmanager
def databases(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two migrated databases of the backend, for the two runs: migrated once, then copied."""
    if backend == "sqlite":
        first, second = tmp_path / "several.sqlite3", tmp_path / "single.sqlite3"
        manage_ok(f"sqlite:///{first}", "migrate", "--noinput")
        with sqlite3.connect(first) as src, sqlite3.connect(second) as dst:
            src.backup(dst)
        yield f"sqlite:///{first}", f"sqlite:///{second}"
        return
    with database() as (first, name):
        manage_ok(first, "migrate", "--noinput")
        with database(template=name) as (second, _):
            yield first, second


def manage_ok(url: str, *args: str) -> str:
    env = {**os.environ, **ENV, "BLUEPLANE_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Hosts:
    """The processes of one run, each in a process group of its own (a host), logging to a file."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> None:
        env = {**os.environ, **ENV, "BLUEPLANE_DATABASE_URL": self.url, "PGAPPNAME": name}
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def consumer(self, name: str) -> None:
        self.start(name, [sys.executable, "manage.py", "runfastpath", "--consumer", name])

    def worker(self, name: str) -> None:
        self.start(
            name,
            [sys.executable, "-m", "celery", "-A", "blueplane", "worker", "--pool=solo", "-n", f"{name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        )  # fmt: skip

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=30)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def said(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.logs.glob("*.log")))


def wait_for(
    condition: Callable[[], bool],
    what: str,
    hosts: Hosts,
    *,
    sweep: bool = False,
    state: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    next_sweep = time.monotonic() + 5
    while time.monotonic() < deadline:
        if condition():
            return
        if sweep and time.monotonic() >= next_sweep:
            # Beat's sweep (every 30 s in production) wakes a worker for sessions whose wake-up was lost
            # with a killed host (notify.py: the flag set, the task never enqueued).
            tasks.sessions_catch_up.delay()
            next_sweep = time.monotonic() + 5
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; {state()}\nthe processes said:\n{hosts.said()}")


def slow_path_state(redis, db: Db) -> str:
    """What a stuck catch-up looks like, for the failure message."""
    marks = {k.decode(): redis.hlen(k) for k in redis.scan_iter("slowpath:dirty*")}
    progress = db.rows(
        f"SELECT session_id, processed_seq, raw_through_seq, failures, last_error, retry_at "
        f"FROM {SessionProgress._meta.db_table} WHERE failures > 0 OR processed_seq < raw_through_seq"
    )
    return (
        f"celery queue {redis.llen('celery')}, unacked {redis.hlen('unacked')}, dirty marks {marks}, "
        f"caught up {db.caught_up()}, sessions behind or failing {progress[:10]}"
    )


def pending_of(redis, consumer: str) -> int:
    try:
        consumers = redis.xinfo_consumers(EVENTS_STREAM, GROUP)
    except redis_py.ResponseError:  # no group yet: no consumer has started
        return 0
    for c in consumers:
        name = c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
        if name == consumer:
            return c["pending"]
    return 0


def ready(redis, n: int) -> bool:
    """n consumers and n workers wait for work: blocked in XREADGROUP, or in kombu's BRPOP."""
    waiting = [c["cmd"] for c in redis.client_list()]
    return waiting.count("xreadgroup") >= n and waiting.count("brpop") >= n


def pending_all(redis) -> int:
    return sum(c["pending"] for c in redis.xinfo_consumers(EVENTS_STREAM, GROUP))


def run(redis, url: str, events: list[bytes], logs: Path, *, hosts_n: int, kill: bool) -> subprocess.Popen:
    """Feed the events through hosts_n consumers and hosts_n workers (killing one of each mid-run when
    kill), wait until everything is stored and derived, and start dumping the derived tables (a process
    whose last line of output is the dump: dump_read())."""
    redis.flushdb()
    logs.mkdir()
    db = Db(url)
    hosts = Hosts(url, logs)
    killed: dict[str, int] = {}
    try:
        for i in range(1, hosts_n + 1):
            hosts.consumer(f"c{i}")
            hosts.worker(f"w{i}")
        wait_for(lambda: ready(redis, hosts_n), "the processes to start", hosts)
        # Fed in steps, so the processes are busy while they are killed.
        step = 100
        for start in range(0, len(events), step):
            pipe = redis.pipeline(transaction=False)
            for raw in events[start : start + step]:
                pipe.xadd(EVENTS_STREAM, {"event": raw})
            pipe.execute()
            if kill and start >= len(events) // 3:
                kill_mid_run(redis, db, hosts, killed)
            time.sleep(0.1)
        if kill:
            wait_for(lambda: kill_mid_run(redis, db, hosts, killed), "the processes to be killed", hosts)
        distinct = len({event_decode(e, max_bytes=1 << 24).event_key for e in events})
        wait_for(
            lambda: db.raw_count() >= distinct and pending_all(redis) == 0,
            "every event stored and acknowledged",
            hosts,
        )
        wait_for(
            lambda: db.caught_up() and redis.llen("celery") == 0 and redis.hlen("unacked") == 0,
            "the slow path to catch up",
            hosts,
            sweep=True,
            state=lambda: slow_path_state(redis, db),
        )
        assert db.raw_count() == distinct  # each event once, however often it was delivered
        assert redis.xlen(DLQ_STREAM) == 0
    finally:
        hosts.stop()
        db.close()
    if kill:
        # The killed consumer held entries when it died; the other one took every one of them over.
        assert killed["c1"] > 0
        assert pending_of(redis, "c1") == 0
    env = {**os.environ, **ENV, "BLUEPLANE_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", _DUMP], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def dump_read(dumping: subprocess.Popen) -> dict:
    out, err = dumping.communicate(timeout=180)
    assert dumping.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def kill_mid_run(redis, db: Db, hosts: Hosts, killed: dict[str, int]) -> bool:
    """Kill consumer c1 while it holds entries not yet acknowledged, and worker w1 while it is inside a
    task (on PostgreSQL: its connection inside a transaction; on SQLite, with no such view: while a task
    is taken). Returns whether both are dead."""
    if "c1" not in killed and pending_of(redis, "c1") > 0:
        hosts.kill("c1")
        killed["c1"] = pending_of(redis, "c1")
    if "w1" not in killed:
        busy = db.in_transaction("w1") if not db.url.startswith("sqlite") else redis.hlen("unacked") > 0
        if busy:
            hosts.kill("w1")
            killed["w1"] = 1
    return len(killed) == 2


def assert_same_tables(several: dict, single: dict) -> None:
    # A watermark is a seq, and seqs are the database's own numbering: the same events take other seqs
    # when two consumers store them. The sessions it belongs to are compared.
    for dump in (several, single):
        dump["session_progress"] = [row[:2] for row in dump["session_progress"]]
    assert several.keys() == single.keys()
    differ = [table for table in single if several[table] != single[table]]
    assert not differ, {t: (len(several[t]), len(single[t])) for t in differ}
    assert sum(map(len, single.values())) > 0


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=needs_postgres), "sqlite"])
def test_killed_consumer_and_worker_lose_nothing_and_change_nothing(redis, tmp_path, events, backend):
    with databases(backend, tmp_path) as (several_url, single_url):
        several = run(redis, several_url, events, tmp_path / "several", hosts_n=2, kill=True)
        single = run(redis, single_url, events, tmp_path / "single", hosts_n=1, kill=False)
        several, single = dump_read(several), dump_read(single)
    assert_same_tables(several, single)

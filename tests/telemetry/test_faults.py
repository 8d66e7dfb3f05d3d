"""Faults never turn good events into dead letters.

A database locked past its busy timeout, read-only or on a full disk, and Redis refusing writes, during a
backlog: the fast path waits (one log line when the fault starts, one when it clears), dead-letters
nothing, raises no delivery count, and stores everything once afterwards. An entry the database refuses
on its own is dead-lettered alone, with the database's reason; the rest of its batch is stored.
"""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis as redis_py
from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connection,
)

from telemetry import wire
from telemetry.ingest.checkpoint import automatic_checkpoints_off
from telemetry.ingest.consumer import StreamConsumer
from telemetry.ingest.deferred import Deferred
from telemetry.ingest.faults import Fault, database_reset, fault_kind
from telemetry.models import ClaudeRawTrace
from telemetry.store import writer
from telemetry.wire import CDC_STREAM, DLQ_STREAM, EVENTS_STREAM, GROUP
from tests.factories import entry, envelope
from tests.support.postgres import ADMIN_URL, database, needs_postgres
from tests.telemetry.test_consumer import drain, pending, publish
from tests.telemetry.test_consumer import make_consumer as consumer_make

ROOT = Path(__file__).resolve().parents[2]


# ---- the rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (OperationalError("database is locked"), Fault.MACHINE),
        (OperationalError("database or disk is full"), Fault.MACHINE),
        (OperationalError("attempt to write a readonly database"), Fault.MACHINE),
        (sqlite3.OperationalError("disk I/O error"), Fault.MACHINE),
        (sqlite3.DatabaseError("database disk image is malformed"), Fault.MACHINE),
        (InterfaceError("connection already closed"), Fault.MACHINE),
        (ProgrammingError("no such table: claude_raw_traces"), Fault.MACHINE),
        (OperationalError("server closed the connection unexpectedly"), Fault.MACHINE),  # psycopg's, as Django wraps it
        (redis_py.ConnectionError("Connection refused"), Fault.MACHINE),
        (redis_py.TimeoutError("Timeout reading from socket"), Fault.MACHINE),
        (redis_py.BusyLoadingError("Redis is loading the dataset in memory"), Fault.MACHINE),
        (redis_py.ResponseError("MISCONF Errors writing to the AOF file: No space left on device"), Fault.MACHINE),
        (redis_py.ResponseError("Error running script (call to f_1): @user_script:1: -OOM command not allowed"),
         Fault.MACHINE),
        (OSError(28, "No space left on device"), Fault.MACHINE),
        (MemoryError(), Fault.MACHINE),
        (IntegrityError("CHECK constraint failed"), Fault.DATA),
        (DataError("value too long for type character varying(128)"), Fault.DATA),
        (DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), Fault.DATA),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), Fault.DATA),
        (ValueError("a value the driver refuses"), Fault.DATA),
        (redis_py.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
         Fault.UNKNOWN),
        (RuntimeError("a bug"), Fault.UNKNOWN),
        (KeyError("chunk"), Fault.UNKNOWN),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)  # fmt: skip
def test_faults_of_the_machine_are_told_from_bad_data(exc, kind):
    assert fault_kind(exc) is kind


# ---- in one process: bad entries, unknown errors, Redis refusing writes ---------------------------------


def make_consumer(redis, name: str = "c1", **kw) -> StreamConsumer:
    kw.setdefault("retry_max_s", 0.2)  # faults here last a moment: retry soon
    return consumer_make(redis, name, **kw)


def cdc_events(redis) -> list[str]:
    return [
        e[0]
        for _, f in redis.xrange(CDC_STREAM)
        for record in orjson.loads(f[b"records"])
        for e in record["events"]
    ]


@pytest.fixture
def refuse_tool():
    """A CHECK the production schema does not have: the database refuses a raw trace whose tool_name is
    'Refused', only when it is inserted (the envelope is valid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_tool BEFORE INSERT ON claude_raw_traces WHEN NEW.tool_name = 'Refused' "
            "BEGIN SELECT RAISE(ABORT, 'tool_name Refused is not allowed here'); END"
        )
    yield "Refused"
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_tool")


@pytest.mark.django_db
def test_an_entry_the_database_refuses_is_dead_lettered_alone_and_the_rest_stored(redis, refuse_tool):
    events = [envelope(session_id=f"s{i % 7}") for i in range(100)]
    events[37] = envelope(session_id="s3", payload={"tool_name": refuse_tool})
    ids = publish(redis, events)
    consumer = make_consumer(redis)
    assert drain(consumer) == 100
    assert ClaudeRawTrace.objects.count() == 99
    assert not ClaudeRawTrace.objects.filter(tool_name=refuse_tool).exists()
    (_, dead), *more = redis.xrange(DLQ_STREAM)
    assert not more
    assert dead[b"stream_id"] == ids[37]
    assert dead[b"event"] == orjson.dumps(events[37])  # the whole entry, to replay after a fix
    assert b"IntegrityError: tool_name Refused is not allowed here" in dead[b"reason"]
    assert dead[b"deliveries"] == b"1"
    assert pending(redis) == 0
    # What stored is published once, the refused entry not at all.
    published = cdc_events(redis)
    assert sorted(published) == sorted(e["event_id"] for i, e in enumerate(events) if i != 37)
    assert consumer.last_flush.dead == 1


@pytest.mark.django_db
def test_an_unknown_error_once_is_retried_and_nothing_dead_lettered(redis, monkeypatch):
    publish(redis, [envelope() for _ in range(50)])
    real, calls = writer.batch_write, []

    def once_broken(units, codec_id):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a passing glitch")
        return real(units, codec_id)

    monkeypatch.setattr(writer, "batch_write", once_broken)
    assert drain(make_consumer(redis)) == 50
    assert ClaudeRawTrace.objects.count() == 50
    assert redis.xlen(DLQ_STREAM) == 0
    assert len(calls) == 2


@pytest.mark.django_db
def test_an_unknown_error_that_follows_one_entry_dead_letters_that_entry(redis, monkeypatch):
    events = [envelope(session_id=f"s{i % 3}") for i in range(40)]
    events[5] = envelope(session_id="s2", event_type="Cursed")
    publish(redis, events)
    real = writer.batch_write

    def cursed(units, codec_id):
        if any(row[3] == "Cursed" for unit in units for row in unit.rows):
            raise RuntimeError("a bug this one event sets off")
        return real(units, codec_id)

    monkeypatch.setattr(writer, "batch_write", cursed)
    assert drain(make_consumer(redis)) == 40
    assert ClaudeRawTrace.objects.count() == 39
    ((_, dead),) = redis.xrange(DLQ_STREAM)
    assert b"RuntimeError: a bug this one event sets off" in dead[b"reason"]
    assert orjson.loads(dead[b"event"])["event_type"] == "Cursed"


@pytest.mark.django_db
def test_an_unknown_error_every_entry_meets_dead_letters_nothing(redis, monkeypatch):
    # Whatever part of the batch is tried fails alike: the system's fault, not the entries'. The fast path
    # keeps retrying, and stores everything once the error is gone.
    publish(redis, [envelope() for _ in range(4)])
    real, calls = writer.batch_write, []

    def broken_for_a_while(units, codec_id):
        calls.append(1)
        if len(calls) <= 20:
            raise RuntimeError("a bug in every insert")
        return real(units, codec_id)

    monkeypatch.setattr(writer, "batch_write", broken_for_a_while)
    assert drain(make_consumer(redis)) == 4
    assert len(calls) > 20  # whole batch, then parts, then again, with backoff
    assert ClaudeRawTrace.objects.count() == 4
    assert redis.xlen(DLQ_STREAM) == 0


@contextlib.contextmanager
def redis_refusing_writes(redis) -> Iterator[None]:
    """Redis out of memory (maxmemory below what it uses): it refuses XADD, EVAL that writes, HSET ..."""
    before = redis.config_get("maxmemory")["maxmemory"]
    redis.config_set("maxmemory", 1)
    try:
        yield
    finally:
        redis.config_set("maxmemory", before)


@pytest.mark.django_db(transaction=True)
def test_redis_refusing_writes_during_a_backlog_is_waited_out(redis):
    events = [envelope(session_id=f"s{i % 5}") for i in range(250)]
    publish(redis, events[:120])
    bad_id = redis.xadd(EVENTS_STREAM, entry(b"{not json"))
    publish(redis, events[120:])
    consumer = make_consumer(redis, "oom")
    stop = threading.Event()
    with redis_refusing_writes(redis):
        worker = threading.Thread(target=consumer.run, args=(stop,), kwargs={"once": True})
        worker.start()
        time.sleep(2)
        # The first batch is stored, but neither published nor acknowledged; nothing is dead-lettered
        # and nothing was delivered twice.
        assert ClaudeRawTrace.objects.count() == 100
        assert redis.xlen(DLQ_STREAM) == 0
        assert redis.xlen(CDC_STREAM) == 0
        held = redis.xpending_range(EVENTS_STREAM, GROUP, min="-", max="+", count=1000)
        assert held and {p["times_delivered"] for p in held} == {1}
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert ClaudeRawTrace.objects.count() == 250
    assert pending(redis) == 0
    ((_, dead),) = redis.xrange(DLQ_STREAM)  # the one bad entry, dead-lettered once
    assert dead[b"stream_id"] == bad_id
    assert sorted(cdc_events(redis)) == sorted(e["event_id"] for e in events)


@pytest.mark.django_db
def test_a_lost_publish_reply_is_sent_again_and_nothing_is_lost(redis, monkeypatch):
    events = [envelope(session_id=f"s{i % 3}") for i in range(60)]
    publish(redis, events)
    real, lost = Deferred.replies, []

    def replies_then_lose_them(self):
        got = real(self)  # Redis ran the publish and the acknowledgement...
        if not lost:
            lost.append(got)
            raise redis_py.ConnectionError("Connection reset by peer")  # ...and the reply never came
        return got

    monkeypatch.setattr(Deferred, "replies", replies_then_lose_them)
    assert drain(make_consumer(redis)) == 60
    assert lost
    assert ClaudeRawTrace.objects.count() == 60
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0
    assert set(cdc_events(redis)) == {e["event_id"] for e in events}  # published, perhaps twice: harmless
    assert redis.hlen(wire.DIRTY_SESSIONS) == 3


@pytest.mark.django_db(transaction=True)
def test_a_connection_reopened_after_a_fault_still_leaves_checkpoints_to_the_thread():
    with automatic_checkpoints_off():
        database_reset()  # what a fault does
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone() == (0,)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (1000,)


# ---- real processes: the database locked, on a full disk, read-only, held by a reader -------------------


def fastpath(log: Path, db: str, *args: str, reader_process: bool = True, **env: str) -> subprocess.Popen:
    full_env = {
        **os.environ,
        "BLUEPLANE_DATABASE_URL": f"sqlite:///{db}",
        "BLUEPLANE_FASTPATH_READER_PROCESS": "1" if reader_process else "0",
        "BLUEPLANE_SQLITE_BUSY_TIMEOUT_S": "1",
        "BLUEPLANE_FASTPATH_RETRY_MAX_S": "1",
        **env,
    }
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runfastpath", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def publish_many(redis, events: list[dict]) -> None:
    pipe = redis.pipeline(transaction=False)
    for e in events:
        pipe.xadd(EVENTS_STREAM, entry(e))
    pipe.execute()


def backlog(n: int) -> list[dict]:
    # Some bulk per event, so that a few thousand need some megabytes of database and WAL.
    return [envelope(session_id=f"s{i % 11}", payload={"tool_name": "Bash", "note": f"{i:06d}" * 80})
            for i in range(n)]  # fmt: skip


def stored(db: str) -> tuple[int, int]:
    """(rows, distinct event keys) in the raw store of the database file at db."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as c:
        return c.execute("SELECT COUNT(*), COUNT(DISTINCT event_key) FROM claude_raw_traces").fetchone()


def fault_lines(log: Path, what: str) -> tuple[list[str], list[str]]:
    """The log's lines saying the fault `what` started, and that it cleared."""
    lines = log.read_text().splitlines()
    started = [line for line in lines if f"{what}:" in line and "retrying with backoff" in line]
    cleared = [line for line in lines if f"{what}:" in line and "works again" in line]
    return started, cleared


def delivered_once(redis) -> bool:
    held = redis.xpending_range(EVENTS_STREAM, GROUP, min="-", max="+", count=100_000)
    return bool(held) and {p["times_delivered"] for p in held} == {1}


class WalSampler:
    """The largest size a database's WAL file reached, sampled every few milliseconds."""

    def __init__(self, db: str) -> None:
        self.path = db + "-wal"
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            with contextlib.suppress(FileNotFoundError):
                self.peak = max(self.peak, os.stat(self.path).st_size)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@pytest.fixture
def small_disk(tmp_path: Path, tmpfs) -> Path:
    """A 24 MiB file system of the test's own."""
    return tmpfs(tmp_path / "disk", "24m")


def database_copy(to: Path) -> str:
    """A compact copy of the (migrated, empty) test database at `to`: VACUUM INTO leaves out the free
    pages earlier tests left in the file, which would not fit on a small disk."""
    target = str(to / "telemetry.db")
    with contextlib.closing(sqlite3.connect(connection.settings_dict["NAME"])) as source:
        source.execute("VACUUM INTO ?", (target,))
    with contextlib.closing(sqlite3.connect(target)) as copy:
        copy.execute("PRAGMA journal_mode=WAL")
    return target


def finish(proc: subprocess.Popen, log: Path) -> None:
    try:
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, log.read_text()


@pytest.mark.parametrize("reader_process", [True, False], ids=["reader-process", "one-process"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_a_database_locked_past_the_busy_timeout_during_a_backlog(redis, tmp_path, reader_process):
    db, log = connection.settings_dict["NAME"], tmp_path / "fastpath.log"
    events = backlog(3000)
    publish_many(redis, events)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock, far past the 1 s busy timeout
    proc = fastpath(log, db, "--once", "--consumer", "locked", reader_process=reader_process)
    try:
        wait_for(lambda: fault_lines(log, "storing a batch")[0])
        time.sleep(3)
        assert proc.poll() is None, log.read_text()  # waiting, not crashed
        assert redis.xlen(DLQ_STREAM) == 0
        assert delivered_once(redis)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    finish(proc, log)
    assert stored(db) == (3000, 3000)
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0
    started, cleared = fault_lines(log, "storing a batch")
    assert (len(started), len(cleared)) == (1, 1), log.read_text()
    assert "database is locked" in started[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_a_full_disk_during_a_backlog_is_waited_out_and_the_catch_up_keeps_the_wal_bounded(
    redis, tmp_path, small_disk
):
    db, log = database_copy(small_disk), tmp_path / "fastpath.log"
    space = os.statvfs(small_disk)
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # leave 200 KiB: the backlog needs megabytes
        os.posix_fallocate(f.fileno(), 0, space.f_bavail * space.f_frsize - 200 * 1024)
    events = backlog(8000)
    publish_many(redis, events)
    wal = WalSampler(db)
    proc = fastpath(log, db, "--once", "--consumer", "full", BLUEPLANE_SQLITE_WAL_MAX_MB="2")
    try:
        wait_for(lambda: fault_lines(log, "storing a batch")[0])
        time.sleep(3)
        assert proc.poll() is None, log.read_text()
        assert redis.xlen(DLQ_STREAM) == 0
        assert delivered_once(redis)
    finally:
        filler.unlink()  # space comes back
    finish(proc, log)
    peak = wal.stop()
    assert stored(db) == (8000, 8000)
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0
    started, cleared = fault_lines(log, "storing a batch")
    assert (len(started), len(cleared)) == (1, 1), log.read_text()  # and the catch-up did not fill it again
    assert "full" in started[0] or "disk I/O error" in started[0]
    # The fast path checks the WAL before each batch; a batch adds far less than a megabyte to it.
    assert peak <= 3 * 1024 * 1024, peak


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_a_read_only_database_during_a_backlog_is_waited_out(redis, tmp_path, small_disk):
    db, log = database_copy(small_disk), tmp_path / "fastpath.log"
    events = backlog(1500)
    publish_many(redis, events)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    proc = fastpath(log, db, "--once", "--consumer", "ro")
    try:
        wait_for(lambda: "retrying with backoff" in log.read_text())
        time.sleep(3)
        assert proc.poll() is None, log.read_text()
        assert redis.xlen(DLQ_STREAM) == 0
        assert pending(redis) == 0  # it waits for the database before it reads anything
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    finish(proc, log)
    assert stored(db) == (1500, 1500)
    assert pending(redis) == 0
    assert redis.xlen(DLQ_STREAM) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_a_reader_holding_a_snapshot_pauses_the_fast_path_instead_of_growing_the_wal(redis, tmp_path):
    db, log = connection.settings_dict["NAME"], tmp_path / "fastpath.log"
    events = backlog(6000)
    publish_many(redis, events)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM claude_raw_traces").fetchone()  # a snapshot the WAL must keep
    wal = WalSampler(db)
    proc = fastpath(log, db, "--once", "--consumer", "paused", BLUEPLANE_SQLITE_WAL_MAX_MB="1")
    try:
        wait_for(lambda: fault_lines(log, "waiting for a WAL checkpoint")[0])
        time.sleep(2)
        assert proc.poll() is None, log.read_text()
        assert stored(db)[0] < 6000  # paused while the reader holds its snapshot
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    finish(proc, log)
    peak = wal.stop()
    assert stored(db) == (6000, 6000)
    assert redis.xlen(DLQ_STREAM) == 0
    # The 1 MB bound plus what a loaded machine lets through before the writer looks again (2.8 MB
    # seen in CI); without the bound this WAL grows to 9 MB.
    assert peak <= 4 * 1024 * 1024, peak


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_stopping_during_a_fault_leaves_the_entries_pending(redis, tmp_path):
    db, log = connection.settings_dict["NAME"], tmp_path / "fastpath.log"
    publish_many(redis, backlog(500))
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    proc = fastpath(log, db, "--consumer", "stopped")
    try:
        wait_for(lambda: fault_lines(log, "storing a batch")[0])
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        locker.execute("ROLLBACK")
        locker.close()
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert stored(db) == (0, 0)
    assert redis.xlen(DLQ_STREAM) == 0
    assert pending(redis) > 0
    again = fastpath(tmp_path / "again.log", db, "--once", "--consumer", "stopped")
    finish(again, tmp_path / "again.log")
    assert stored(db) == (500, 500)
    assert pending(redis) == 0


# ---- PostgreSQL: a value the driver refuses --------------------------------------------------------------


@pytest.mark.e2e
@needs_postgres
def test_on_postgresql_an_entry_the_driver_refuses_is_dead_lettered_alone(redis, tmp_path):
    import psycopg

    with database(migrated=True) as (url, name):
        env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
        manage = [sys.executable, str(ROOT / "manage.py")]
        events = [envelope(session_id="pg") for _ in range(30)]
        events[11] = envelope(session_id="pg\x00nul")  # valid JSON; PostgreSQL text cannot hold a NUL
        events[20] = envelope(session_id="pg", payload={"tool_name": "t" * 300})  # too long for its column
        ids = [redis.xadd(EVENTS_STREAM, entry(e)) for e in events]
        drained = subprocess.run([*manage, "runfastpath", "--once", "--consumer", "pg"], env=env,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert drained.returncode == 0, drained.stderr
        with psycopg.connect(url) as db:
            assert db.execute("SELECT COUNT(*) FROM claude_raw_traces").fetchone() == (29,)
        ((_, dead),) = redis.xrange(DLQ_STREAM)
        assert dead[b"stream_id"] == ids[11]
        assert b"DataError" in dead[b"reason"] and b"NUL" in dead[b"reason"]
        assert pending(redis) == 0

        # PostgreSQL dropping the fast path's connections (as a restart does) during a backlog.
        redis.delete(DLQ_STREAM)
        publish_many(redis, backlog(4000))
        log = tmp_path / "pg.log"
        proc = subprocess.Popen([*manage, "runfastpath", "--once", "--consumer", "pg"],
                                env={**env, "BLUEPLANE_FASTPATH_RETRY_MAX_S": "1"},
                                stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for _ in range(20):
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                time.sleep(0.1)
        finish(proc, log)
        with psycopg.connect(url) as db:
            count = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_key) FROM claude_raw_traces").fetchone()
        assert count == (4029, 4029)
        assert redis.xlen(DLQ_STREAM) == 0
        assert pending(redis) == 0

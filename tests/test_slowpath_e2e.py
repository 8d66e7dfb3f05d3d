"""The slow path with real processes: `runfastpath` and `celery -A blueplane worker` as subprocesses
against the test database and the embedded Redis. No eager mode, no mocks.

Each test compares the rows the workers derived with a clean, in-process rebuild from the same raw
traces (tests/telemetry/processing/test_rebuild.py's dump: every derived table, ids left out)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Max

from bench.events import envelopes_generate, fixture_envelopes
from telemetry import tasks
from telemetry.models import RAW_TRACE_MODELS, Session, SessionProgress, Turn
from telemetry.processing import rebuild
from telemetry.store.keys import session_key
from telemetry.wire import EVENTS_STREAM
from tests.telemetry.processing.test_rebuild import assert_same, derived_dump
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 120
# A killed worker's task comes back after 2 s unacknowledged, looked for every second.
REDELIVERY = {"BLUEPLANE_VISIBILITY_TIMEOUT_S": "2", "BLUEPLANE_UNACKED_RESTORE_INTERVAL_S": "1"}


def _env(**extra: str) -> dict[str, str]:
    # Same BLUEPLANE_HOME (inherited), so the same embedded Redis socket; the test database as default.
    return {
        **os.environ,
        "BLUEPLANE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "BLUEPLANE_LOG_LEVEL": "WARNING",
        **extra,
    }


def start(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=_env(**extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def worker(name: str, **extra: str) -> subprocess.Popen:
    return start(
        [sys.executable, "-m", "celery", "-A", "blueplane", "worker", "--pool=solo", "-n", f"{name}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        **extra,
    )  # fmt: skip


def fastpath() -> subprocess.Popen:
    return start([sys.executable, "manage.py", "runfastpath", "--consumer", "e2e"])


@contextmanager
def running(*procs: subprocess.Popen) -> Iterator[list[subprocess.Popen]]:
    try:
        yield list(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_for(condition: Callable[[], bool], what: str, procs: list[subprocess.Popen] = ()) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    outputs = []
    for p in procs:
        if p.poll() is not None:
            outputs.append(p.stdout.read())
    raise AssertionError(f"timed out waiting for {what}; exited processes said: {outputs}")


def raw_count() -> int:
    return sum(m.objects.count() for m in RAW_TRACE_MODELS.values())


def all_caught_up() -> bool:
    """Every session with raw events has a watermark at its newest stored event. The newest is read
    from the raw tables: the progress row's raw_through_seq is the slow path's own record, written at
    its last catch-up, so it lags behind events the fast path stored since (their task still queued)."""
    processed = {
        (p.platform, session_key(p.session_id)): p.processed_seq for p in SessionProgress.objects.all()
    }
    newest = {
        (platform, r["session_key"]): r["newest"]
        for platform, model in RAW_TRACE_MODELS.items()
        for r in model.objects.values("session_key").annotate(newest=Max("seq")).order_by()
    }
    return bool(newest) and all(processed.get(key, 0) >= seq for key, seq in newest.items())


def tasks_idle(redis) -> bool:
    """No catch-up message queued or delivered-but-unacknowledged (kombu's Redis transport keys)."""
    return redis.llen("celery") == 0 and redis.hlen("unacked") == 0


def live_dump() -> dict:
    """The rows the workers derived, after beat's idle rule (which rebuild applies too)."""
    tasks.sessions_idle_close()
    return derived_dump()


def clean_rebuild_dump() -> dict:
    rebuild.derived_rebuild_all()
    return derived_dump()


def test_events_become_sessions_and_turns_through_real_processes(redis):
    events = fixture_envelopes()
    with running(worker("w1"), fastpath()) as procs:
        for raw in events:
            redis.xadd(EVENTS_STREAM, {"event": raw})
        wait_for(lambda: raw_count() == len(events), "raw rows", procs)
        wait_for(
            lambda: Session.objects.exists() and Turn.objects.exists() and all_caught_up(),
            "derived rows",
            procs,
        )
    live_rows = live_dump()
    assert Session.objects.count() >= 19
    assert_same(live_rows, clean_rebuild_dump())


def test_task_of_a_killed_worker_is_redelivered_and_finishes_the_same(redis):
    for raw in envelopes_generate(5_000, seed=3):
        redis.xadd(EVENTS_STREAM, {"event": raw})
    drain(make_consumer(redis))  # raw rows stored and a catch-up task enqueued (by the fast path)
    # Hold the database's write lock, so the task, once taken, is inside its work when it is killed.
    blocker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        first = worker("doomed", **REDELIVERY)
        with running(first) as procs:
            wait_for(lambda: redis.hlen("unacked") == 1, "the worker to take the task", procs)
            time.sleep(0.5)  # past the Redis reads, waiting for the write lock
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()
    assert not all_caught_up()
    # No new event arrives: only the redelivered message can finish the work.
    with running(worker("heir", **REDELIVERY)) as procs:
        wait_for(lambda: all_caught_up() and tasks_idle(redis), "the redelivered task to finish", procs)
    live_rows = live_dump()
    assert_same(live_rows, clean_rebuild_dump())


def test_two_workers_on_the_same_session_at_once_give_the_rows_of_one(redis):
    for raw in envelopes_generate(8_000, seed=5):
        redis.xadd(EVENTS_STREAM, {"event": raw})
    drain(make_consumer(redis))
    redis.delete("celery")  # the fast path's own task: this test sends its own, twice at once
    keys = [[p, s] for p, s in sorted(rebuild.sessions_known())]
    with running(worker("a"), worker("b")) as procs:
        tasks.sessions_catch_up.delay(keys)
        tasks.sessions_catch_up.delay(keys)
        wait_for(lambda: all_caught_up() and tasks_idle(redis), "both tasks to finish", procs)
    live_rows = live_dump()
    assert_same(live_rows, clean_rebuild_dump())


def test_a_backlog_bigger_than_a_run_is_caught_up_by_follow_up_tasks(redis):
    for raw in envelopes_generate(3_000, seed=9):
        redis.xadd(EVENTS_STREAM, {"event": raw})
    drain(make_consumer(redis))  # the fast path enqueues one task; no beat runs to sweep what it leaves
    small = {"BLUEPLANE_SLOWPATH_MAX_EVENTS": "200", "BLUEPLANE_SLOWPATH_MAX_SESSIONS": "3"}
    with running(worker("bounded", **small)) as procs:
        wait_for(lambda: all_caught_up() and tasks_idle(redis), "the follow-up tasks to finish", procs)
    live_rows = live_dump()
    assert_same(live_rows, clean_rebuild_dump())

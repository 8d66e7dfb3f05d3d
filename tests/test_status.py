"""`blueplane status` tells the truth: after a crash, with Redis down, before the database exists, during
a slow-path backlog, with failing sessions, dead letters, a full spool or a nearly full disk."""

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telemetry import tasks
from telemetry.capture.spool import spool_append, spool_state
from telemetry.connections import redis_client_quick
from telemetry.models import RawChunk, SessionProgress
from telemetry.selectors import system
from telemetry.wire import DLQ_STREAM
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer, publish
from tests.test_cli import BLUEPLANE


def blueplane(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with its own home, the embedded Redis, and SQLite in the home unless env
    says otherwise."""
    full_env = {**os.environ, "BLUEPLANE_HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / "claude")}
    for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
        full_env.pop(name, None)
    return subprocess.run(
        [str(BLUEPLANE), *args], env={**full_env, **env}, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def status_json(home: Path, **env: str) -> dict:
    result = blueplane("status", "--json", home=home, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # nothing but JSON on stdout


# --- the command, on homes of its own -------------------------------------------------------------


def test_json_of_a_fresh_home(tmp_path: Path) -> None:
    report = status_json(tmp_path)
    assert report["home"] == str(tmp_path.resolve())
    assert report["version"]
    assert report["supervisor"]["running"] is False and report["supervisor"]["leftovers"] == []
    assert report["database"] == {"ready": False, "error": system.NOT_SET_UP, "raw_traces": {}}
    assert report["redis"]["ok"] is False and report["stream"] is None
    assert report["slowpath"] is None and report["failing"] is None
    assert report["spool"] == {"files": 0, "bytes": 0, "oldest_age_s": None}
    assert report["warnings"] == []  # nothing runs, and nothing should: a state, not a fault


def test_after_a_killed_supervisor_it_names_what_still_runs_and_how_to_stop_it(tmp_path: Path) -> None:
    home = tmp_path.resolve()
    # One of ours (this home in its environment), one of another install that took a listed pid.
    ours = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, "BLUEPLANE_HOME": str(home)}, process_group=0
    )
    stranger = subprocess.Popen(["sleep", "300"], process_group=0)
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        (home / "run").mkdir()
        (home / "run" / "supervisor.pid").write_text(f"{dead.pid}\n")
        (home / "run" / "processes.json").write_text(
            json.dumps(
                {
                    "supervisor": dead.pid,
                    "ready": True,
                    "port": 1,
                    "redis": "embedded",
                    "redis_started": True,
                    "processes": {
                        "fastpath": {"pid": ours.pid, "restarts": 0},
                        "web": {"pid": stranger.pid, "restarts": 2},
                    },
                }
            )
        )
        result = blueplane("status", home=home)
        assert result.returncode == 0, result.stderr
        assert (
            f"supervisor  not running, but processes it started still run: fastpath (pid {ours.pid})\n"
            in (result.stdout)
        )
        assert "stop them with: blueplane down" in result.stdout
        assert str(stranger.pid) not in result.stdout

        report = status_json(home)
        assert [(p["name"], p["pid"]) for p in report["supervisor"]["leftovers"]] == [("fastpath", ours.pid)]
        assert report["supervisor"]["leftover_redis"] is False  # nothing answers on this home's socket
        assert any("blueplane down" in w for w in report["warnings"])

        down = blueplane("down", home=home)
        assert down.returncode == 0, down.stderr
        assert ours.wait(timeout=30) is not None
        assert stranger.poll() is None  # not ours: left alone
        after = blueplane("status", home=home)
        assert "supervisor  not running (start it with: blueplane up)" in after.stdout
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()


def test_warns_when_the_database_disk_runs_low(tmp_path: Path, tmpfs) -> None:
    """The database on a small file system of its own (a tmpfs), the home on a large one."""
    db_dir = tmpfs(tmp_path / "small", "16m")
    env = {
        "BLUEPLANE_DATABASE_URL": f"sqlite:///{db_dir}/telemetry.db",
        "BLUEPLANE_DISK_WARN_BYTES": str(2**26),
    }
    home = tmp_path / "home"
    report = status_json(home, **env)
    disks = {d["what"]: d for d in report["disk"]}
    assert disks["database"]["path"] == str(db_dir.resolve())
    assert disks["database"]["low"] is True and disks["database"]["total_bytes"] == 16 * 2**20
    assert disks["home"]["low"] is False
    assert [w for w in report["warnings"] if "disk" in w] == [
        f"low disk space for the database: {disks['database']['free_bytes'] / 2**20:.0f} MiB free in {db_dir.resolve()}"
    ]
    text = blueplane("status", home=home, **env).stdout
    assert "warning     low disk space for the database" in text
    assert "home" not in next(line for line in text.splitlines() if line.startswith("warning"))
    # Below the default threshold (1 GiB) too.
    assert status_json(home, BLUEPLANE_DATABASE_URL=env["BLUEPLANE_DATABASE_URL"])["disk"][0]["low"] is True


def test_shows_what_waits_in_the_spool(tmp_path: Path) -> None:
    home = tmp_path.resolve()
    for n in range(3):
        spool_append(str(home), json.dumps(envelope(payload={"n": n})).encode())
    spool_append(str(home), b"{}", name="cursor")
    count, waiting, _ = spool_state(str(home))
    files = list((home / "spool").iterdir())
    assert count == 2 == len(files)
    assert waiting == sum(f.stat().st_size for f in files)

    report = status_json(home)
    assert report["spool"]["files"] == 2
    assert any("wait in the spool" in w and "blueplane up" in w for w in report["warnings"])
    assert "spool       2 files" in blueplane("status", home=home).stdout


# --- the figures, on the test database and the real Redis -----------------------------------------


@pytest.mark.django_db
def test_slow_path_lag_counts_stored_events_not_derived_yet(redis) -> None:
    publish(
        redis,
        [envelope(session_id="lag-a") for _ in range(5)] + [envelope(session_id="lag-b") for _ in range(2)],
    )
    drain(make_consumer(redis))
    RawChunk.objects.update(created_ms=int(time.time() * 1000) - 3_600_000)  # stored an hour ago
    state = system.pipeline_state()
    lag = state["slowpath"]
    assert lag["dirty_sessions"] == 2
    assert (lag["sessions_behind"], lag["events_behind"], lag["exact"]) == (2, 7, True)
    assert lag["oldest_waiting_s"] >= 3600
    assert any("slow path is 60 min behind (7 events)" in w for w in state["warnings"])

    tasks.sessions_catch_up()  # the worker's task, run here
    lag = system.pipeline_state()["slowpath"]
    assert (lag["dirty_sessions"], lag["sessions_behind"], lag["events_behind"]) == (0, 0, 0)
    assert lag["oldest_waiting_s"] is None


@pytest.mark.django_db
def test_slow_path_lag_is_a_lower_bound_past_its_budget(redis, monkeypatch) -> None:
    publish(redis, [envelope(session_id=f"s{i % 3}") for i in range(30)])
    drain(make_consumer(redis))
    monkeypatch.setattr(system, "LAG_EVENTS_MAX", 12)
    monkeypatch.setattr(system, "LAG_SESSIONS_MAX", 2)
    lag = system.pipeline_state()["slowpath"]
    assert lag["exact"] is False
    assert lag["events_behind"] == 12  # counted up to the budget, no further
    assert lag["sessions_behind"] == 3


@pytest.mark.django_db
def test_failing_sessions_and_dead_letters(redis) -> None:
    retry = datetime(2030, 1, 1, tzinfo=UTC)
    SessionProgress.objects.create(
        platform="claude_code", session_id="fine", raw_through_seq=4, processed_seq=4
    )
    for n in range(7):
        SessionProgress.objects.create(
            platform="claude_code", session_id=f"bad-{n}", failures=n + 1, last_error=f"ValueError: turn {n}",
            retry_at=retry,
        )  # fmt: skip
    for n in range(3):
        redis.xadd(DLQ_STREAM, {"reason": "invalid", "n": n})
    state = system.pipeline_state()
    failing = state["failing"]
    assert failing["sessions"] == 7
    assert len(failing["newest"]) == system.FAILING_SHOWN
    assert failing["newest"][0] == {
        "platform": "claude_code", "session_id": "bad-6", "failures": 7, "last_error": "ValueError: turn 6",
        "retry_at": retry,
    }  # fmt: skip
    assert state["stream"]["dead_letters"] == 3
    assert "7 sessions fail to derive (newest error: ValueError: turn 6)" in state["warnings"]
    assert f"3 events were dead-lettered (not stored) in {DLQ_STREAM}" in state["warnings"]


@pytest.mark.django_db
def test_redis_down_still_shows_what_the_database_says(redis, settings, tmp_path) -> None:
    SessionProgress.objects.create(platform="claude_code", session_id="bad", failures=2, last_error="boom")
    settings.REDIS_URL = f"unix://{tmp_path}/nobody-listens.sock"
    redis_client_quick.cache_clear()
    try:
        state = system.pipeline_state()
    finally:
        redis_client_quick.cache_clear()
    assert state["redis"]["ok"] is False and "ConnectionError" in state["redis"]["error"]
    assert state["stream"] is None
    assert state["database"]["ready"] is True
    assert state["failing"]["sessions"] == 1
    assert state["slowpath"]["dirty_sessions"] is None


@pytest.mark.django_db
def test_raw_trace_counts_come_from_the_id_span_without_counting(redis) -> None:
    publish(redis, [envelope() for _ in range(40)])
    drain(make_consumer(redis))
    with CaptureQueriesContext(connection) as ctx:
        state = system.pipeline_state()
    assert state["database"]["raw_traces"] == {"claude_code": 40, "cursor": 0}
    raw = [q["sql"] for q in ctx.captured_queries if "_raw_traces" in q["sql"]]
    assert raw and not any("COUNT(*)" in sql.upper() and "LIMIT" not in sql.upper() for sql in raw)


@pytest.mark.django_db
def test_a_migrated_database_is_checked_once_per_process(monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    built = []

    class Counting(MigrationExecutor):  # the real check, counted: each one reads every migration file
        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(system, "_MIGRATED", set())
    monkeypatch.setattr(system, "MigrationExecutor", Counting)
    assert system.database_ready() and system.database_ready() and system.database_ready()
    assert len(built) == 1

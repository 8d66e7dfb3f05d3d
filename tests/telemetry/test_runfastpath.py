"""`manage.py runfastpath` as a real process: --once drains and exits, SIGTERM stops it cleanly, with
and without its reader process; a dead reader or writer loses nothing and leaves no process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from telemetry.models import ClaudeRawTrace
from telemetry.wire import EVENTS_STREAM, GROUP
from tests.factories import entry, envelope

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def fastpath(*args: str, reader_process: bool = True) -> subprocess.Popen:
    env = {
        **os.environ,
        "BLUEPLANE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "BLUEPLANE_FASTPATH_READER_PROCESS": "1" if reader_process else "0",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runfastpath", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def publish(redis, n: int) -> None:
    pipe = redis.pipeline(transaction=False)
    for _ in range(n):
        pipe.xadd(EVENTS_STREAM, entry(envelope()))
    pipe.execute()


def pending(redis) -> int:
    return redis.xpending(EVENTS_STREAM, GROUP)["pending"]


def children(pid: int) -> list[int]:
    """Live (not zombie) child processes of pid."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("reader_process", [True, False], ids=["reader-process", "one-process"])
def test_once_drains_what_is_queued_and_exits(redis, reader_process):
    publish(redis, 1050)  # several full batches: the reader reads ahead
    proc = fastpath("--once", "--consumer", "once", reader_process=reader_process)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert ClaudeRawTrace.objects.count() == 1050
    assert pending(redis) == 0


@pytest.mark.parametrize("reader_process", [True, False], ids=["reader-process", "one-process"])
def test_sigterm_during_a_backlog_commits_everything_read(redis, reader_process):
    total = 30_000
    publish(redis, total)
    proc = fastpath("--consumer", "busy", reader_process=reader_process)
    try:
        wait_for(lambda: ClaudeRawTrace.objects.count() > 0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    # Nothing was left read and uncommitted: every delivered entry is stored and acknowledged.
    assert pending(redis) == 0
    last_delivered = redis.xinfo_groups(EVENTS_STREAM)[0]["last-delivered-id"].decode()
    delivered = total - len(redis.xrange(EVENTS_STREAM, f"({last_delivered}", "+"))
    assert 0 < delivered < total, "the stop came mid-backlog"
    assert ClaudeRawTrace.objects.count() == delivered
    assert f"stopped after {delivered} entries" in out


def test_a_killed_reader_stops_the_fast_path_and_a_restart_loses_nothing(redis):
    publish(redis, 3000)
    proc = fastpath("--consumer", "same-name")
    try:
        wait_for(lambda: ClaudeRawTrace.objects.count() > 0)
        (reader,) = children(proc.pid)
        os.kill(reader, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert "CommandError: the fast-path reader exited with code -9" in out
    assert "Traceback" not in out
    # What the reader had read stays pending under the consumer's name; a restart reads it again.
    again = fastpath("--once", "--consumer", "same-name")
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0, out
    assert ClaudeRawTrace.objects.count() == 3000
    assert pending(redis) == 0


def test_the_reader_leaves_when_the_writer_is_killed(redis):
    proc = fastpath("--consumer", "orphan")
    try:
        wait_for(lambda: len(children(proc.pid)) == 1)
        (reader,) = children(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        wait_for(lambda: not Path(f"/proc/{reader}").exists() or _zombie(reader), timeout=10)
    finally:
        proc.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_sigterm_finishes_the_batch_and_exits_cleanly(redis):
    proc = fastpath("--consumer", "live")
    try:
        redis.xadd(EVENTS_STREAM, entry(envelope()))
        deadline = time.monotonic() + 30
        while ClaudeRawTrace.objects.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ClaudeRawTrace.objects.count() == 1
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "stopped after 1 entries" in out
    assert redis.xpending(EVENTS_STREAM, GROUP)["pending"] == 0

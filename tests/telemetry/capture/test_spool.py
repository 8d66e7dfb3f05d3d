"""The hook spool: incremental replay that survives being killed, whole lines only, and its size reported."""

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from django.conf import settings

from telemetry.capture.claude_events import hook_envelope
from telemetry.capture.loop import CaptureLoop
from telemetry.capture.privacy import Privacy
from telemetry.capture.spool import spool_append, spool_dir, spool_replay, spool_state
from telemetry.models import ClaudeRawTrace
from telemetry.wire import EVENTS_STREAM

from .helpers import drain, hook_calls

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
PRIVACY = Privacy(b"spool-salt" * 4)
HOUR_NS = 3600 * 10**9

# The replayer as runcapture runs it, in a process of its own so that it can be killed.
REPLAYER = """
import sys
import redis
from telemetry.capture.spool import spool_replay
spool_replay(redis.Redis.from_url(sys.argv[1]), sys.argv[2], stream=sys.argv[3], settle_s=0, batch=int(sys.argv[4]))
"""


def envelopes(n: int, *, start_ns: int) -> list[bytes]:
    """n distinct hook envelopes, as the hook would spool them (capture times one ms apart)."""
    calls = hook_calls()
    return [
        orjson.dumps(
            hook_envelope(calls[i % len(calls)][0], capture_ns=start_ns + i * 10**6, privacy=PRIVACY)
        )
        for i in range(n)
    ]


def spooled(home: Path) -> list[Path]:
    return sorted(p for p in Path(spool_dir(str(home))).iterdir() if p.name.endswith(".jsonl"))


def test_a_replay_killed_halfway_resends_nothing_already_stored(redis, tmp_path):
    home, total, batch = tmp_path / "home", 20_000, 100
    for line in envelopes(total, start_ns=time.time_ns() - HOUR_NS):
        spool_append(str(home), line)
    replayer = subprocess.Popen(
        [sys.executable, "-c", REPLAYER, settings.REDIS_URL, str(home), EVENTS_STREAM, str(batch)], cwd=ROOT
    )
    try:
        while redis.xlen(EVENTS_STREAM) < total // 4:
            assert replayer.poll() is None, "the replayer ended before it could be stopped halfway"
            time.sleep(0.001)
        # Redis holds every write from here on: the replayer is stuck inside a batch when it is killed.
        redis.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        try:
            sent_before_kill = redis.xlen(EVENTS_STREAM)
            replayer.send_signal(signal.SIGKILL)
            replayer.wait(timeout=30)
        finally:
            redis.execute_command("CLIENT", "UNPAUSE")
    finally:
        if replayer.poll() is None:
            replayer.kill()
            replayer.wait()
    assert 0 < sent_before_kill < total

    [aside] = spooled(home)
    size, (files, waiting, _) = aside.stat().st_size, spool_state(str(home))

    resent = spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0, batch=batch)
    assert redis.xlen(EVENTS_STREAM) == sent_before_kill + resent
    # The second replay sent the rest, plus at most the batch that was in flight when it was killed.
    assert total - sent_before_kill <= resent <= total - sent_before_kill + batch
    assert (files, 0 < waiting < size) == (1, True)  # status saw only what was left
    assert spooled(home) == []
    assert spool_state(str(home)) == (0, 0, None)
    assert not any(Path(spool_dir(str(home))).iterdir())  # the offset file went with its spool file

    drain(redis)
    assert ClaudeRawTrace.objects.count() == total


def test_a_half_written_line_is_skipped_and_the_next_record_starts_on_its_own_line(redis, tmp_path, caplog):
    home = tmp_path / "home"
    lines = envelopes(5, start_ns=time.time_ns())
    for line in lines[:3]:
        spool_append(str(home), line)
    # A hook killed in the middle of its write leaves a line without its end.
    with open(spool_dir(str(home)) + "/claude_code.jsonl", "ab") as f:
        f.write(lines[0][:40])
    for line in lines[3:]:
        spool_append(str(home), line)
    with caplog.at_level(logging.WARNING, logger="telemetry.capture.spool"):
        assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 5
    assert "1 broken lines skipped" in caplog.text
    assert sorted(f[b"event"] for _, f in redis.xrange(EVENTS_STREAM)) == sorted(lines)
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 5


@pytest.fixture
def small_disk(tmp_path, tmpfs):
    """A 256 KiB file system of the test's own."""
    return tmpfs(tmp_path / "disk", "256k")


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)


def test_a_write_cut_short_by_a_full_disk_raises_and_never_glues_onto_the_next(redis, small_disk):
    home = small_disk
    small = envelopes(4, start_ns=time.time_ns())
    big = orjson.dumps({**orjson.loads(small[0]), "event_id": "cc:h:big", "padding": "y" * 20_000})
    spool_append(str(home), small[0])
    spool_append(str(home), small[1])
    (home / "gap").write_bytes(b"g" * 8192)
    _fill(home / "filler")
    (home / "gap").unlink()  # two pages free: less than the big record
    with pytest.raises(OSError, match="disk full"):
        spool_append(str(home), big)
    (home / "filler").unlink()
    spool_append(str(home), small[2])
    spool_append(str(home), small[3])

    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 4
    assert sorted(f[b"event"] for _, f in redis.xrange(EVENTS_STREAM)) == sorted(small)
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 4


def test_a_spool_file_another_replayer_holds_is_left_to_it(redis, tmp_path):
    home = tmp_path / "home"
    spool_append(str(home), envelopes(1, start_ns=time.time_ns())[0])
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=3600) == 0  # renamed aside
    [aside] = spooled(home)
    with open(aside, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 0
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 1


def test_spool_state_says_how_much_waits_and_since_when(redis, tmp_path, caplog):
    home = tmp_path / "home"
    assert spool_state(str(home)) == (0, 0, None)
    lines = envelopes(50, start_ns=time.time_ns() - 2 * HOUR_NS)
    for line in lines:
        spool_append(str(home), line)
    files, waiting, oldest_s = spool_state(str(home))
    assert (files, waiting) == (1, sum(len(line) + 1 for line in lines))
    assert oldest_s >= 2 * 3600  # the first envelope's capture time, not the file's

    # runcapture says so once when the spool passes its warning size, and drops nothing.
    loop = CaptureLoop(tailer=None, client=redis, home=str(home), spool_warn_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="telemetry.capture.loop"):
        loop.spool_check()
        loop.spool_check()
    assert len([r for r in caplog.records if "BLUEPLANE_SPOOL_WARN_BYTES" in r.message]) == 1
    assert spool_state(str(home))[1] == waiting
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 50
    assert spool_state(str(home)) == (0, 0, None)

"""The embedded Redis: one server per home, whether it answers or not; it keeps queued events across
a restart; a frozen one is waited for and stopped, never answered by a second one."""

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py
from django.core.management import CommandError, call_command

from blueplane.redis_server import EmbeddedRedis, RedisStartError, redis_binary


@pytest.fixture
def server() -> Iterator[EmbeddedRedis]:
    """A server of its own home, started; whatever the test leaves (frozen too) is stopped."""
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bp-r-")))
    assert server.start() is True
    yield server
    for pid in server.pids():
        os.kill(pid, signal.SIGCONT)
    server.stop()


def frozen(server: EmbeddedRedis) -> int:
    """SIGSTOP the server (it keeps running, it answers nothing); returns its pid."""
    [pid] = server.pids()
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_restart_of_embedded_redis_loses_no_queued_event(server: EmbeddedRedis) -> None:
    assert server.start() is False  # already running: reused, not started twice
    client = redis_py.Redis.from_url(server.url)
    ids = [client.xadd("telemetry:events", {"event": f"e{i}"}) for i in range(500)]
    client.close()
    assert server.stop() is True
    assert not server.ping()

    assert server.start() is True
    client = redis_py.Redis.from_url(server.url)
    assert [sid for sid, _ in client.xrange("telemetry:events")] == ids
    client.close()


def test_embedded_redis_listens_on_no_tcp_port(server: EmbeddedRedis) -> None:
    client = redis_py.Redis.from_url(server.url)
    assert client.config_get("port")["port"] == "0"
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.close()


def test_a_frozen_redis_is_never_answered_by_a_second_one(server: EmbeddedRedis) -> None:
    pid = frozen(server)
    other = EmbeddedRedis(server.dir.parent)  # what a restarted fast path does at start-up
    with pytest.raises(RedisStartError) as failed:
        other.start(wait_s=1)
    message = str(failed.value)
    assert f"does not answer and still runs (pid {pid})" in message
    assert "never started" in message and "\n" not in message
    assert server.pids() == [pid]
    assert (server.dir / "redis.pid").read_text().strip() == str(pid)
    assert server.socket_path.exists()


def test_start_waits_for_a_frozen_redis_and_goes_on_when_it_answers(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    pid = frozen(server)
    caplog.set_level(logging.INFO, logger="blueplane.redis_server")

    def resume_once_waiting() -> None:
        deadline = time.monotonic() + 60
        while "waiting up to" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pid, signal.SIGCONT)

    resumer = threading.Thread(target=resume_once_waiting)
    resumer.start()
    try:
        assert EmbeddedRedis(server.dir.parent).start(wait_s=60) is False
    finally:
        resumer.join()
    assert server.pids() == [pid]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("waiting up to 60s" in line for line in lines) == 1
    assert sum("answers again after" in line for line in lines) == 1


def test_a_wait_ends_when_it_is_cancelled(server: EmbeddedRedis, caplog: pytest.LogCaptureFixture) -> None:
    """How Ctrl-C or `blueplane down` ends the wait of a `blueplane up` on a frozen Redis."""
    pid = frozen(server)
    cancel = threading.Event()

    def cancel_once_waiting() -> None:
        while "waiting up to" not in caplog.text:
            time.sleep(0.05)
        cancel.set()

    canceller = threading.Thread(target=cancel_once_waiting, daemon=True)
    canceller.start()
    with (
        caplog.at_level(logging.WARNING, logger="blueplane.redis_server"),
        pytest.raises(RedisStartError) as failed,
    ):
        EmbeddedRedis(server.dir.parent).start(wait_s=600, cancel=cancel)
    assert str(failed.value).endswith("stopped waiting for it")
    assert server.pids() == [pid]


def test_a_process_starting_the_server_is_waited_for(server: EmbeddedRedis) -> None:
    server.stop()
    lock = server._lock_take()  # as a process does from taking the lock until its server answers
    assert lock is not None
    try:
        with pytest.raises(RedisStartError, match="another process is starting it"):
            EmbeddedRedis(server.dir.parent).start(wait_s=1)
        assert server.pids() == []
    finally:
        os.close(lock)


def test_the_server_holds_the_lock_not_the_process_that_started_it(server: EmbeddedRedis) -> None:
    server.stop()
    starter = subprocess.run(
        [sys.executable, "-c", "import sys; from blueplane.redis_server import EmbeddedRedis; "
         "print(EmbeddedRedis(sys.argv[1]).start())", str(server.dir.parent)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert starter.stdout.strip() == "True"  # it started the server, then exited
    [pid] = server.pids()
    assert server._lock_take() is None  # its starter is gone; the server still owns the home

    os.kill(pid, signal.SIGKILL)  # a crashed server blocks nobody: the kernel drops its lock
    while server.pids():
        time.sleep(0.02)
    assert server.socket_path.exists()  # left behind by the crash
    assert server.start() is True
    assert server.pids() != [pid] and len(server.pids()) == 1


def test_a_redis_started_outside_the_lock_is_not_replaced(server: EmbeddedRedis) -> None:
    """A server the lock does not cover (started by an older version) counts by its process alone."""
    server.stop()
    legacy = subprocess.Popen(
        [redis_binary(), "--port", "0", "--unixsocket", str(server.socket_path), "--dir", str(server.dir),
         "--appendonly", "yes", "--save", ""],
        cwd=server.dir, stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        while not server.ping():
            time.sleep(0.02)
        os.kill(legacy.pid, signal.SIGSTOP)
        with pytest.raises(RedisStartError, match=f"pid {legacy.pid}"):
            server.start(wait_s=1)
        assert server.pids() == [legacy.pid]
        assert server.stop() is True  # frozen: by signals
        assert legacy.wait(timeout=30) is not None
    finally:
        if legacy.poll() is None:
            legacy.kill()
            legacy.wait()


def test_stop_ends_a_frozen_redis_and_removes_its_socket_and_pid_file(server: EmbeddedRedis) -> None:
    client = redis_py.Redis.from_url(server.url)
    client.xadd("telemetry:events", {"event": "kept"})
    client.close()
    frozen(server)
    assert server.stop() is True
    assert server.pids() == []
    assert not server.socket_path.exists()
    assert not (server.dir / "redis.pid").exists()
    assert not (server.dir / "redis.owner").exists()
    # SIGTERM after SIGCONT let it shut down cleanly: nothing it had was lost.
    assert server.start() is True
    client = redis_py.Redis.from_url(server.url)
    assert client.xlen("telemetry:events") == 1
    client.close()


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["runfastpath", "runcapture"])
def test_commands_wait_for_a_frozen_redis_then_fail_in_one_line(
    server: EmbeddedRedis, settings, command: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.BLUEPLANE_HOME = server.dir.parent
    settings.REDIS_WAIT_S = 1
    pid = frozen(server)
    with (
        caplog.at_level(logging.WARNING, logger="blueplane.redis_server"),
        pytest.raises(CommandError) as failed,
    ):
        call_command(command, "--once")
    assert f"(pid {pid})" in str(failed.value) and "gave up after 1s" in str(failed.value)
    assert "waiting up to 1s" in caplog.text
    assert server.pids() == [pid]


def test_import_waits_for_a_frozen_redis_then_fails_in_one_line(
    server: EmbeddedRedis, settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from telemetry.capture.commands import import_history

    settings.BLUEPLANE_HOME = server.dir.parent
    settings.REDIS_WAIT_S = 1
    (tmp_path / "session.jsonl").write_text("{}\n")
    pid = frozen(server)
    assert import_history("claude-code", str(tmp_path)) == 2
    # The log may say when the wait began; the reason it gave up is the last line, and one line.
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("blueplane: the embedded redis")
    assert f"(pid {pid})" in line and "gave up after 1s" in line
    assert server.pids() == [pid]


def test_an_external_redis_that_does_not_answer_is_waited_for_then_named_not_shown(
    server: EmbeddedRedis, settings, caplog: pytest.LogCaptureFixture
) -> None:
    from blueplane.redis_server import redis_url_ensure

    settings.BLUEPLANE_REDIS_URL = server.url
    settings.REDIS_WAIT_S = 1
    frozen(server)
    with (
        caplog.at_level(logging.WARNING, logger="blueplane.redis_server"),
        pytest.raises(RedisStartError) as failed,
    ):
        redis_url_ensure()
    # The URL may hold a password: the variable is named, its value never shown.
    assert str(failed.value).startswith("the Redis at BLUEPLANE_REDIS_URL does not answer")
    assert server.url not in str(failed.value) and server.url not in caplog.text
    assert "waiting up to 1s" in caplog.text

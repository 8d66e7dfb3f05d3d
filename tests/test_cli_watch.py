"""`blueplane watch` with real processes: the fast path and a Celery worker as subprocesses, events
published to the stream, and the watch (its stdout a pipe, so plain lines) showing them as they arrive
and the figures the slow path derived from them; Ctrl-C ends it with exit 0."""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.support.stores import ROOT, store_build, store_env

pytestmark = pytest.mark.e2e
BLUEPLANE = Path(sys.executable).parent / "blueplane"
DEADLINE_S = 120


class Output:
    """A process's stdout lines, collected as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, *parts: str) -> bool:
        return any(all(p in line for p in parts) for line in list(self.lines))


def wait_for(condition: Callable[[], bool], what: str, output: Output) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; the watch said: {output.lines[-20:]}")


@pytest.fixture
def home(tmp_path: Path, redis_server: str) -> Path:
    empty = tmp_path / "projects"
    empty.mkdir()
    return store_build(tmp_path / "home", redis_server, projects=empty)


def test_watch_shows_new_events_and_the_derived_figures(home, redis_server, redis):
    env = {**store_env(home, redis_server), "BLUEPLANE_LOG_LEVEL": "WARNING"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
    fastpath = subprocess.Popen([sys.executable, "manage.py", "runfastpath", "--consumer", "watch"], **quiet)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "blueplane", "worker", "--pool=solo", "-n", "watch@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        **quiet,
    )  # fmt: skip
    watch = subprocess.Popen(
        [str(BLUEPLANE), "watch", "--tz", "UTC", "--timeout", str(DEADLINE_S * 2)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        out = Output(watch)
        wait_for(lambda: out.has("today ", "0 tool calls"), "the first view", out)
        assert out.has("session: none yet")  # an empty store
        now = datetime.now(UTC).isoformat()
        payload = {"tool_name": "Bash", "tool_use_id": "toolu_watch1", "tool_input": {"command_bytes": 3}}
        for kind in ("PreToolUse", "PostToolUse"):
            event = envelope(
                session_id="watch-e2e", event_type=kind, hook_type=kind, timestamp=now, payload=payload
            )
            redis.xadd(EVENTS_STREAM, entry(event))
        wait_for(lambda: out.has("event ", "claude_code watch-e2e PostToolUse"), "the events", out)
        assert out.has("event ", "watch-e2e PreToolUse")
        # The worker derives the session; the live metrics it rewrites make the watch read the figures.
        wait_for(
            lambda: out.has("session watch-e2e (claude_code)", "1 tool calls"), "the session's figures", out
        )
        wait_for(lambda: out.has("today ", "1 tool calls"), "today's figures", out)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
        assert "Traceback" not in watch.stderr.read()
    finally:
        for proc in (watch, worker, fastpath):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_watch_stops_after_its_frames_and_without_redis_says_so_in_one_line(home, redis_server):
    env = store_env(home, redis_server)
    done = subprocess.run([str(BLUEPLANE), "watch", "--frames", "1", "--tz", "UTC"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("today ") and done.stderr == ""
    down = {**env, "BLUEPLANE_REDIS_URL": f"unix://{home}/no-such.sock"}
    failed = subprocess.run([str(BLUEPLANE), "watch", "--frames", "1"], env=down, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("blueplane: Redis cannot be reached") and failed.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [["--tz", "Mars/Olympus"], ["--frames", "0"], ["--timeout", "-1"], ["--timeout", "nan"], ["--bogus"]],
)
def test_watch_bad_input_is_one_line(home, redis_server, args):
    done = subprocess.run([str(BLUEPLANE), "watch", *args], env=store_env(home, redis_server),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    said = [line for line in done.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(said) == 1 and said[0].startswith("blueplane")

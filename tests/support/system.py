"""A whole Blueplane install in a home of its own, run as a user runs it: the `blueplane` console script,
embedded Redis on a unix socket under the home, SQLite in it, a web server on a free port (never 7531).
Used by the supervisor's tests and by the dashboard's browser tests (`system_up`)."""

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from blueplane.pids import pids_working_in
from blueplane.redis_server import EmbeddedRedis
from telemetry.wire import DIRTY_KEYS, EVENTS_STREAM, GROUP

BLUEPLANE = Path(sys.executable).parent / "blueplane"
CLAUDE_PROJECTS = Path(__file__).resolve().parents[1] / "fixtures" / "claude-real" / "projects"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Install:
    """One BLUEPLANE_HOME and how to run `blueplane` against it."""

    home: Path
    port: int
    otlp_port: int = field(default_factory=free_port)  # the OTLP receiver's: never 4318

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "BLUEPLANE_HOME": str(self.home),
            "BLUEPLANE_PORT": str(self.port),
            "BLUEPLANE_OTLP_PORT": str(self.otlp_port),
            "CLAUDE_CONFIG_DIR": str(self.home / "claude"),  # the capture must not read the user's
        }
        for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
            env.pop(name, None)  # this is about the embedded defaults
        return env

    def run(self, *args: str, timeout_s: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BLUEPLANE), *args], env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=timeout_s, check=False,
        )  # fmt: skip

    def redis(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.home / "redis" / "redis.sock"), socket_timeout=5)

    def redis_up(self) -> bool:
        try:
            return bool(self.redis().ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def redis_pids(self) -> list[int]:
        """Every redis-server working in this home, answering or not."""
        return pids_working_in(self.home / "redis", name="redis-server")

    def redis_leftovers(self) -> list[str]:
        """Files that should have gone with the server: its socket, pid and owner files."""
        return sorted(
            p.name for p in (self.home / "redis").glob("redis.*") if p.suffix not in (".aof", ".log", ".lock")
        )

    def state(self) -> dict | None:
        try:
            return json.loads((self.home / "run" / "processes.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def query(self, sql: str, *params: Any) -> list[tuple]:
        db = sqlite3.connect(self.home / "telemetry.db", timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []  # not migrated yet
        finally:
            db.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def caught_up(self) -> bool:
        """Whether everything stored is derived: nothing waiting in the stream, no dirty session, and
        every session's watermark at its newest raw event."""
        client = self.redis()
        try:
            if (
                any(client.hlen(key) for key in DIRTY_KEYS)
                or client.xpending(EVENTS_STREAM, GROUP)["pending"]
            ):
                return False
            lag = client.xinfo_groups(EVENTS_STREAM)[0].get("lag")
            if lag:
                return False
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
            return False
        raw = self.query("SELECT count(*) FROM claude_raw_traces")
        behind = self.query("SELECT count(*) FROM session_progress WHERE processed_seq < raw_through_seq")
        return bool(raw and raw[0][0]) and bool(behind) and behind[0][0] == 0

    def log_tail(self) -> str:
        log = self.home / "logs" / "blueplane.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)"

    def wait_for(self, check: Callable[[], Any], *, what: str, timeout_s: float = 90) -> Any:
        deadline = time.monotonic() + timeout_s
        while not (result := check()):
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout_s:.0f}s; log:\n{self.log_tail()}")
            time.sleep(0.2)
        return result


@contextlib.contextmanager
def install_home(prefix: str = "bp-e2e-") -> Iterator[Install]:
    """A fresh install in its own short home (the Redis socket path must stay under 107 bytes), taken
    down and removed afterwards, whatever the test left running."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    inst = Install(home=home, port=free_port())
    try:
        yield inst
    finally:
        inst.run("down")
        for pid in inst.redis_pids():
            os.kill(pid, signal.SIGCONT)  # a test that froze it may have failed before resuming it
        EmbeddedRedis(home).stop()
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def system_up(projects: Path = CLAUDE_PROJECTS) -> Iterator[Install]:
    """`blueplane up --detach` in a fresh home, then `blueplane import claude-code` of the transcripts
    under projects through the real pipeline; yields once the slow path has derived all of it (no
    dirty session left and every stored session's watermark at its last event)."""
    with install_home("bp-sys-") as inst:
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr + inst.log_tail()
        imported = inst.run("import", "claude-code", str(projects), timeout_s=300)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        inst.wait_for(inst.caught_up, what="the imported events derived", timeout_s=180)
        yield inst

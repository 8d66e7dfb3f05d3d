"""Controlling the supervisor from another process: `blueplane up --detach` and `blueplane down`."""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .pids import pid_alive
from .redis_server import EmbeddedRedis
from .runstate import AlreadyRunning, SupervisorError, leftovers_stop, log_path, state_read, supervisor_pid

logger = logging.getLogger(__name__)

# Fresh databases migrate in a few seconds; slow CI machines need more.
DETACH_READY_TIMEOUT_S = 120.0
# The supervisor's own shutdown takes up to STOP_TIMEOUT_S plus the Redis shutdown.
DOWN_TIMEOUT_S = 60.0


def up_detached(
    *, home: Path, roles: list[str] | None = None, timeout_s: float = DETACH_READY_TIMEOUT_S
) -> int:
    """Start the supervisor (of these roles; all when none) in a new session and return its pid once
    Redis answers and every child was started."""
    if (pid := supervisor_pid(home)) is not None:
        raise AlreadyRunning(pid)
    log = log_path(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        log_offset = out.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "blueplane.cli", "up", *(f"--role={role}" for role in roles or [])],
            cwd=home,
            env={**os.environ, "BLUEPLANE_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        state = state_read(home)
        if state and state.get("ready") and state.get("supervisor") == proc.pid:
            return proc.pid
        if (code := proc.poll()) is not None:
            reason = _last_error(log, log_offset) or f"the supervisor exited with code {code} while starting"
            raise SupervisorError(f"{reason} (log: {log})")
        if time.monotonic() > deadline:
            proc.terminate()
            raise SupervisorError(f"not up after {timeout_s:.0f}s; stopped it (log: {log})")
        time.sleep(0.1)


def _last_error(log: Path, offset: int) -> str | None:
    """The `blueplane: <message>` line the failed supervisor wrote, without its prefix."""
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    errors = [line.removeprefix("blueplane: ") for line in lines if line.startswith("blueplane: ")]
    return errors[-1] if errors else None


def down(*, home: Path, timeout_s: float = DOWN_TIMEOUT_S) -> int | None:
    """Stop the running supervisor and wait until it has exited. Returns its pid; None if none ran
    (then whatever a killed supervisor left behind is stopped, its embedded Redis included)."""
    pid = supervisor_pid(home)
    server = EmbeddedRedis(home)
    if pid is None:
        stale = leftovers_stop(home)
        # An older supervisor's server has no redis.owner; its state file said whether it started it.
        if (server.supervised() or (stale and stale.get("redis_started"))) and server.stop():
            logger.warning("stopped the embedded redis left by a supervisor that was killed")
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise SupervisorError(
                f"the supervisor (pid {pid}) still runs after {timeout_s:.0f}s; see {log_path(home)}"
            )
        time.sleep(0.1)
    if server.supervised() and server.stop():  # the supervisor died before it could stop its Redis
        logger.warning("stopped the embedded redis the supervisor (pid %d) left running", pid)
    return pid

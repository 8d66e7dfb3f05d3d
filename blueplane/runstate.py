"""What a running supervisor leaves under <home>/run, and the clean-up after one that was killed.

`blueplane up` takes <home>/run/supervisor.pid (one supervisor per home) and keeps its children's pids in
<home>/run/processes.json; `status` reads both, and `up` and `down` stop what a killed supervisor left.
"""

import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path

from .pids import pid_alive

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # SIGTERM, then SIGKILL after this long


class SupervisorError(RuntimeError):
    """`blueplane up` or `down` could not do its job; the message says why."""


class AlreadyRunning(SupervisorError):
    def __init__(self, pid: int) -> None:
        super().__init__(f"Blueplane is already running (pid {pid}); `blueplane down` stops it")
        self.pid = pid


def pid_path(home: Path) -> Path:
    return home / "run" / "supervisor.pid"


def state_path(home: Path) -> Path:
    return home / "run" / "processes.json"


def log_path(home: Path) -> Path:
    return home / "logs" / "blueplane.log"


def supervisor_pid(home: Path) -> int | None:
    """The pid of the supervisor running for this home, or None. A stale pid file is removed."""
    path = pid_path(home)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if pid_alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def state_read(home: Path) -> dict | None:
    """The running supervisor's processes.json: its children, their pids and restarts."""
    try:
        return json.loads(state_path(home).read_text())
    except (FileNotFoundError, ValueError):
        return None


def pid_file_take(home: Path) -> None:
    path = pid_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if (pid := supervisor_pid(home)) is not None:
                raise AlreadyRunning(pid) from None
            continue  # the stale file was removed: try again
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return
    raise SupervisorError(f"cannot take {path}: another `blueplane up` is starting")


def child_of_home(pid: int, home: Path) -> bool:
    """Whether pid is a live process with this home in its environment: one a supervisor of this home
    started, not a pid the system has since given to another program."""
    if not pid_alive(pid, marker=None):
        return False
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"BLUEPLANE_HOME={home}".encode() in environ


def leftovers_stop(home: Path) -> dict | None:
    """Clean up after a supervisor that was killed: stop the children its processes.json lists that
    still run with this home in their environment (SIGTERM, then SIGKILL). Returns that stale state
    (None if there was none), which also says whether it had started the embedded Redis."""
    state = state_read(home)
    if state is None:
        return None
    owner = state.get("supervisor")
    if owner == os.getpid() or (owner is not None and pid_alive(owner)):
        return None  # its supervisor runs: nothing was left behind
    pids = [
        pid
        for proc in state.get("processes", {}).values()
        if (pid := proc.get("pid")) is not None and child_of_home(pid, home)
    ]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(pid_alive(pid, marker=None) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    if pids:
        logger.warning("stopped %d processes left by a supervisor that was killed: %s", len(pids), pids)
    state_path(home).unlink(missing_ok=True)
    state["stopped"] = pids
    return state

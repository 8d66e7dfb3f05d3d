"""Is a process still there? Shared by the supervisor and the embedded Redis's shutdown wait."""

import os
from pathlib import Path


def pid_alive(pid: int, *, marker: bytes | None = b"blueplane") -> bool:
    """Whether pid is a live process whose command line holds marker (so a reused pid is not taken
    for ours). A zombie is not alive: its command line is empty."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc: trust kill(0)
    except OSError:
        return True
    return bool(cmdline) and (marker is None or marker in cmdline)

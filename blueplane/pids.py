"""Is a process still there, and which processes work in a folder? Shared by the supervisor and the
embedded Redis (its start, its stop and `blueplane down`)."""

import os
from pathlib import Path

PROC = Path("/proc")


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
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return not (PROC / "self").exists()  # no /proc: trust kill(0)
    except OSError:
        return True
    return bool(cmdline) and (marker is None or marker in cmdline)


def pids_working_in(folder: Path, *, name: str) -> list[int]:
    """Live processes called `name` whose working directory is `folder`, in pid order; a child of
    one of them (a redis-server's fork for an append-only-file rewrite) is left out. Empty when
    there is no /proc to look in."""
    target = str(Path(folder).resolve())
    found: dict[int, int] = {}  # pid -> parent pid
    try:
        entries = os.listdir(PROC)
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        base = PROC / entry
        try:
            if (base / "comm").read_text().strip() != name or os.readlink(base / "cwd") != target:
                continue
            stat = (base / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # The state and parent pid follow the command name, which may itself hold ") ".
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state not in ("Z", "X"):
            found[int(entry)] = int(ppid)
    return sorted(pid for pid, ppid in found.items() if ppid not in found)

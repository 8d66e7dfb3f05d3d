"""Loaded with `-p tests.environment` before Django settings are read: every test run gets its own
BLUEPLANE_HOME (database, embedded Redis, spool) and Claude Code folder, never the user's
~/.blueplane or ~/.claude. Folders made here are removed when the run ends."""

import atexit
import os
import shutil
import tempfile


def _own_temp_dir(variable: str, prefix: str) -> None:
    # An xdist worker inherits the controller's folders: it gets its own (its own database, embedded
    # Redis and Claude Code folder), so the two workers never share state.
    if variable in os.environ and not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    # Short, so the embedded Redis's unix socket path stays under the 107-byte limit.
    path = tempfile.mkdtemp(prefix=prefix)
    os.environ[variable] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


_own_temp_dir("BLUEPLANE_HOME", "bp-test-")
_own_temp_dir("CLAUDE_CONFIG_DIR", "bp-claude-")
# Tasks called synchronously in tests need no coalescing window (bench/slowpath.py measures it).
os.environ.setdefault("BLUEPLANE_SLOWPATH_COALESCE_MS", "0")


def _free_otlp_port() -> None:
    # `blueplane up` in tests starts the OTLP receiver too: never on 4318, which the user's own
    # Blueplane (or another collector) may hold.
    if "BLUEPLANE_OTLP_PORT" in os.environ and not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        os.environ["BLUEPLANE_OTLP_PORT"] = str(s.getsockname()[1])


_free_otlp_port()

"""The connection to a team server, as `blueplane connect` recorded it in $BLUEPLANE_HOME/team.json.

The file (mode 0600) holds the token, and is the only place that does: nothing here logs it, and
`Team.__repr__` leaves it out. Besides it the forwarder keeps its own files under $BLUEPLANE_HOME/forward:
the cursor (batches.py), its state for `blueplane status`, and the events the server refused.
"""

import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

TEAM_NAME = "team.json"  # telemetry.capture.runtime.TEAM_NAME and hook.py say the same
FORWARD_DIR = "forward"
LEVELS = ("counts", "metadata", "content")
DEFAULT_LEVEL = "metadata"


@dataclass(frozen=True)
class Team:
    url: str
    token: str = field(repr=False)
    level: str
    machine_id: str
    user: str
    server: str = ""
    ca_file: str | None = None


def team_path(home: Path) -> Path:
    return Path(home) / TEAM_NAME


def forward_dir(home: Path) -> Path:
    return Path(home) / FORWARD_DIR


def team_read(home: Path) -> Team | None:
    """The connection, or None when this machine is not connected (or the file is unreadable)."""
    try:
        data = json.loads(team_path(home).read_text())
        return Team(**{k: data.get(k) for k in Team.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError):
        return None


def file_write_private(path: Path, body: bytes) -> None:
    """Write a file readable by its owner only (0600), atomically, durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def team_write(home: Path, team: Team) -> None:
    file_write_private(team_path(home), json.dumps(asdict(team), indent=2).encode() + b"\n")


def machine_id_new() -> str:
    """This machine's id: its host name's safe characters and a random suffix, [A-Za-z0-9._-]{1,64}."""
    host = "".join(c for c in socket.gethostname() if c.isascii() and (c.isalnum() or c in "._-"))[:40]
    return f"{host or 'machine'}-{secrets.token_hex(4)}"


def machine_id_kept(home: Path) -> str:
    """The machine id made at the first connect, kept across disconnects and reconnects (in
    forward/machine_id, which disconnect leaves)."""
    path = forward_dir(home) / "machine_id"
    try:
        kept = path.read_text().strip()
        if kept:
            return kept
    except OSError:
        pass
    machine = machine_id_new()
    file_write_private(path, machine.encode() + b"\n")
    return machine


def salt_adopt(home: Path, team_salt: bytes) -> None:
    """Make the team salt this machine's ($home/salt, which the hook reads on every call); the machine's
    own is kept as salt.local the first time (a reconnect does not overwrite it)."""
    salt, local = Path(home) / "salt", Path(home) / "salt.local"
    if salt.exists() and not local.exists():
        os.link(salt, local)
    file_write_private(salt, team_salt)

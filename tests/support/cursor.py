"""The Cursor fixture (tests/fixtures/cursor, generated from docs on Cursor's formats: its README says
how): a fake home with all three storage generations, the hook payloads with the replies an
observe-only hook prints, and the ground truth a correct reader reports.

Tests never read the fixture in place: opening a WAL database, even read-only, rewrites its `-shm`
and may create `-wal`/`-shm` beside ai-code-tracking.db. `cursor_home` copies it first.
"""

import json
import shutil
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "cursor"
GROUND_TRUTH = json.loads((FIXTURE / "ground_truth.json").read_text())
HOOK_CALLS = [json.loads(line) for line in (FIXTURE / "hooks.jsonl").read_text().splitlines() if line]
# Paths inside the data (workspace.json URIs, hook payloads) use this home, which does not exist here.
DATA_HOME = GROUND_TRUTH["fake_home"]


def cursor_home(tmp_path: Path) -> Path:
    """A private copy of the fixture's fake home; point HOME at it."""
    target = tmp_path / "cursor-fixture"
    shutil.copytree(FIXTURE, target, symlinks=True)
    return target / GROUND_TRUTH["fake_home_in_fixture"]


def main_files(home: Path) -> dict[str, bytes]:
    """The bytes of every Cursor database main file under a fake home (not `-wal`/`-shm`), by path
    relative to the home: what the monitor must leave byte-for-byte unchanged."""
    out = {}
    for path in sorted(home.rglob("*")):
        if path.is_file() and (path.name.endswith((".vscdb", ".db")) or path.name.endswith("-wal")):
            out[str(path.relative_to(home))] = path.read_bytes()
    return out

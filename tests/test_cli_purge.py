"""`blueplane purge` as a user runs it, on a copy of a store the real pipeline filled: it asks on a terminal
(or needs --yes), says what it removed, and a mistake is one line. tests/telemetry/processing/test_purge.py checks
what a purge leaves behind."""

import json
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stores import store_build, store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"


@pytest.fixture(scope="module")
def built(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return store_build(tmp_path_factory.mktemp("purge-store"), redis_server)


@pytest.fixture
def home(built: Path, tmp_path: Path, redis) -> Path:
    """A home of this test's own, holding a copy of the built store."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(built / "telemetry.db", home / "telemetry.db")
    return home


def run(home: Path, redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BLUEPLANE), "purge", *args],
        env={**store_env(home, redis_url), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sessions(home: Path) -> dict[str, str]:
    """session id -> project name, read straight from the file."""
    with sqlite3.connect(home / "telemetry.db") as db:
        rows = db.execute(
            "SELECT s.session_id, p.name FROM sessions s JOIN projects p ON p.id = s.project_id"
        )
        return dict(rows.fetchall())


def raw_events(home: Path) -> int:
    with sqlite3.connect(home / "telemetry.db") as db:
        return db.execute("SELECT COUNT(*) FROM claude_raw_traces").fetchone()[0]


def test_dry_run_says_what_would_go_and_removes_nothing(home, redis_server):
    before = sessions(home)
    victim = sorted(before)[0]
    result = run(home, redis_server, "--session", victim, "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["would_remove"]["sessions"] == 1 and report["would_remove"]["raw_events"] > 0
    assert sessions(home) == before


def test_without_a_terminal_it_needs_yes(home, redis_server):
    before, events = sessions(home), raw_events(home)
    victim = sorted(before)[0]
    result = run(home, redis_server, "--session", victim)
    assert result.returncode == 1
    assert (
        result.stderr
        == "blueplane: purge asks for confirmation on a terminal: add --yes to purge without asking\n"
    )
    assert sessions(home) == before and raw_events(home) == events
    result = run(home, redis_server, "--session", victim, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    removed = json.loads(result.stdout)["removed"]
    assert removed["sessions"] == 1
    assert raw_events(home) == events - removed["raw_events"]
    assert set(sessions(home)) == set(before) - {victim}
    # Again: the session is gone, so it is unknown now; nothing else changes.
    again = run(home, redis_server, "--session", victim, "--yes")
    assert (again.returncode, again.stderr.count("\n")) == (2, 1)
    assert f"no session '{victim}'" in again.stderr


def test_a_project_on_a_terminal_after_typing_yes(home, redis_server):
    before = sessions(home)
    project = sorted(before.values())[0]
    mine = {s for s, p in before.items() if p == project}
    for answer, code in ((b"no\n", 1), (b"yes\n", 0)):
        primary, replica = pty.openpty()
        os.write(primary, answer)
        result = subprocess.run(
            [str(BLUEPLANE), "purge", "--project", project],
            env=store_env(home, redis_server),
            stdin=replica,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(primary)
        os.close(replica)
        assert result.returncode == code, result.stderr
        assert "Type yes to remove them for good" in result.stderr
    assert "removed" in result.stdout and "sessions" in result.stdout
    assert set(sessions(home)) == set(before) - mine


def test_everything(home, redis_server):
    result = run(home, redis_server, "--all", "--yes")
    assert result.returncode == 0, result.stderr
    assert sessions(home) == {} and raw_events(home) == 0
    result = run(home, redis_server, "--all", "--yes")
    assert result.returncode == 0 and "nothing" in result.stdout


def test_a_span_keeps_sessions_across_its_edges(home, redis_server):
    result = run(home, redis_server, "--since", "2026-11-26", "--tz", "UTC", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"]["sessions"] == 0
    result = run(home, redis_server, "--until", "2026-11-25", "--tz", "UTC", "--yes", "--json")
    assert json.loads(result.stdout)["removed"]["sessions"] == 21
    assert sessions(home) == {}


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        ([], 2, "blueplane: say what to purge: --session ID, --project NAME, --since/--until, or --all"),
        (["--all", "--session", "x"], 2, "blueplane: --all and --session each stand alone"),
        (["--session", "no-such-session"], 2, "blueplane: no session 'no-such-session'"),
        (["--project", "no-such-project"], 2, "blueplane: no project 'no-such-project'"),
        (["--since", "2026-02-30"], 2, "argument --since: not a date (YYYY-MM-DD): '2026-02-30'"),
        (["--since", "2026-11-01", "--tz", "Nowhere/Land"], 2, "blueplane: unknown time zone 'Nowhere/Land'"),
        (["--since", "2026-11-30", "--until", "2026-11-01"], 1, "blueplane: --since 2026-11-30 is after"),
        (["--until", "9999-12-31", "--dry-run"], 0, ""),
        (["--since", "0001-01-01", "--until", "0001-01-02", "--dry-run"], 0, ""),
        (["--session", "x" * 100_000], 2, "no session"),
        (["--yes", "--bogus"], 2, "unrecognized arguments: --bogus"),
    ],
    ids=["nothing", "two", "session", "project", "date", "zone", "reversed", "year-9999", "year-1", "100-kb",
         "option"],
)  # fmt: skip
def test_bad_input_is_one_line(home, redis_server, args, code, error):
    before = sessions(home)
    result = run(home, redis_server, *args)
    assert result.returncode == code, result.stderr[:300]
    assert "Traceback" not in result.stderr
    assert error in result.stderr
    if code == 1 or error.startswith("blueplane:"):
        assert len(result.stderr.splitlines()) == 1
    assert sessions(home) == before


def test_redis_down_is_one_line_and_removes_nothing(home, redis_server, tmp_path):
    before = sessions(home)
    down = f"unix://{tmp_path}/no-redis.sock"
    result = run(home, redis_server, "--all", "--yes", BLUEPLANE_REDIS_URL=down)
    assert result.returncode == 1
    assert result.stderr.startswith("blueplane: Redis is not answering") and result.stderr.count("\n") == 1
    assert sessions(home) == before

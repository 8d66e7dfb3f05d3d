"""Stores filled by the real pipeline in a home of their own, for tests that run the `blueplane`
command (or a server) in another process and so need committed data, not a test transaction's."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAUDE_PROJECTS = ROOT / "tests" / "fixtures" / "claude-real" / "projects"

# Run in a child process with the home's settings: migrate, import the transcripts into Redis, drain
# the stream with the fast path's consumer, then the slow path's catch-up, as `blueplane up` would.
_BUILD = """
import sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from telemetry import tasks
from telemetry.capture.importer import history_import
from telemetry.capture.privacy import Privacy
from telemetry.connections import redis_client
from telemetry.ingest.consumer import StreamConsumer
client = redis_client()
client.flushdb()
history_import(sys.argv[1], client=client, privacy=Privacy(b"reports"), progress=False)
consumer = StreamConsumer(client=client, consumer="store", flush_ms=20)
while consumer.run_once():
    pass
while tasks.sessions_catch_up():  # one run is bounded (100 sessions): run until none is left
    pass
client.flushdb()
"""


def store_env(home: Path, redis_url: str, database_url: str | None = None) -> dict[str, str]:
    """The environment of a process using the store at home (its Redis is the tests' one; its database
    the home's SQLite file unless database_url names another)."""
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_REDIS_URL": redis_url,
           "CLAUDE_CONFIG_DIR": str(home / "claude"), "DJANGO_SETTINGS_MODULE": "blueplane.settings"}  # fmt: skip
    env.pop("BLUEPLANE_DATABASE_URL", None)
    if database_url:
        env["BLUEPLANE_DATABASE_URL"] = database_url
    return env


def store_build(
    home: Path, redis_url: str, projects: Path = CLAUDE_PROJECTS, *, database_url: str | None = None
) -> Path:
    """Fill home's store (or the database at database_url) with the Claude Code transcripts under
    projects. Returns home."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", _BUILD, str(projects)],
        env=store_env(home, redis_url, database_url),
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    return home

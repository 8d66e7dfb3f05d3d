"""The Django models, migrations and the fast path's writer on PostgreSQL (BLUEPLANE_DATABASE_URL).

Runs against the server named by BLUEPLANE_TEST_POSTGRES_URL (default: a local server on
127.0.0.1:5432 as user postgres). A machine without PostgreSQL skips these tests, saying so: the
product itself never needs PostgreSQL.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BLUEPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _server_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _server_available(), reason=f"no PostgreSQL server at {ADMIN_URL}"),
]


@pytest.fixture
def postgres_url():
    name = f"blueplane_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_migrations_and_fast_path_run_on_postgresql(postgres_url, redis):
    migrated = manage(postgres_url, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    events = [envelope(session_id="pg-session") for _ in range(40)]
    for e in events + events[:10]:  # ten delivered twice
        redis.xadd(EVENTS_STREAM, entry(e))
    drained = manage(postgres_url, "runfastpath", "--once", "--consumer", "pg")
    assert drained.returncode == 0, drained.stderr

    check = manage(
        postgres_url,
        "shell",
        "-c",
        "from telemetry.models import ClaudeRawTrace, RawChunk; from telemetry.store import units;"
        "seq = ClaudeRawTrace.objects.order_by('seq').first().seq;"
        "print(ClaudeRawTrace.objects.count(), RawChunk.objects.count() > 0,"
        " units.event_load(platform='claude_code', seq=seq)['session_id'])",
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().splitlines()[-1].split() == ["40", "True", "pg-session"]

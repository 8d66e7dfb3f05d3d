"""The access, ingest and ops tests again, on PostgreSQL: a pytest run of their own with
BLUEPLANE_DATABASE_URL set to a database of this test's own (and a home of its own, so its own Redis).
Skipped, saying so, where no PostgreSQL server answers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import database, needs_postgres

pytestmark = [pytest.mark.e2e, needs_postgres, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
FILES = ["tests/api/test_access.py", "tests/api/test_ingest.py", "tests/api/test_ops.py"]


def test_access_ingest_and_ops_pass_on_postgresql():
    with database() as (url, _):
        env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
        for own in ("BLUEPLANE_HOME", "CLAUDE_CONFIG_DIR", "BLUEPLANE_REDIS_URL"):
            env.pop(own, None)  # tests/environment.py gives the run its own
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not e2e", *FILES],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]

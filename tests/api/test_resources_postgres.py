"""The resource API's tests again, on PostgreSQL (BLUEPLANE_DATABASE_URL), in a pytest of their own: the
keyset conditions, NULL ordering, money sums and time bounds are SQL that each engine reads its own way.

Runs against the server tests/support/postgres.py names; a machine without one skips it, saying so.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import database, needs_postgres

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["tests/api/test_sessions.py", "tests/api/test_rows.py"]

pytestmark = [pytest.mark.e2e, needs_postgres]


@pytest.mark.skipif(
    bool(os.environ.get("BLUEPLANE_DATABASE_URL")), reason="this run is on BLUEPLANE_DATABASE_URL already"
)
@pytest.mark.timeout(600)
def test_resource_api_tests_pass_on_postgresql():
    with database() as (url, _):
        # A home of its own (tests/environment.py makes one): its own embedded Redis, not this run's.
        env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
        for own in ("BLUEPLANE_HOME", "CLAUDE_CONFIG_DIR", "BLUEPLANE_REDIS_URL"):
            env.pop(own, None)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=580,
        )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1]

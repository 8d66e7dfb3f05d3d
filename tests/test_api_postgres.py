"""The API tests (tests/api/) and the dashboard pages' plain tests once more on PostgreSQL: every endpoint and its error cases over a
database of their own on the server tests/support/postgres.py names (skipped, saying so, where there is
none). SQLite forgives what PostgreSQL refuses (a number past a column's range, text in a number's
place, an unindexed sort), so an endpoint that is fine on one can answer 500 on the other.

The run is a second pytest in a subprocess: the database engine is chosen when Django reads its settings,
once per process. It gets a home of its own (its own embedded Redis), and its test database (pytest-django's
name for it, beside the fresh one named by BLUEPLANE_DATABASE_URL) is a clone of the migrated template
(tests/support/postgres.py) that it reuses (--reuse-db) instead of migrating one itself; this test drops it
once it has seen it was used. The tests that start real servers
(runweb, the fuzz run, the network namespace; marked e2e) run on SQLite only, to keep the suite short:
what they test is the server, not the engine."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import ADMIN_URL, database, database_clone, needs_postgres

ROOT = Path(__file__).resolve().parents[1]

# The API tests whose answers rest on SQL the two engines read their own way (filters, keysets, sums,
# time bounds, the ingest's and health's queries). The access rules, the schema, the root and the row
# renderers are the same code whatever the engine; the 40,000-row streaming tests measure memory, not SQL.
# Runs of about a minute, so the two xdist workers can share them: one alone would be the suite's
# longest test (over three minutes), and could leave one worker idle at the end.
ENGINE_BOUND = {
    "api-reads": [f"tests/api/test_{name}.py" for name in ("sessions", "rows")],
    "api-reports": [f"tests/api/test_{name}.py" for name in ("reports", "blocks", "insights", "ledger_api")],
    "api-writes": [f"tests/api/test_{name}.py" for name in ("export", "ingest", "ops", "cursor_api")],
    # The dashboard's pages read through selectors of their own (usage by hour, session counts, the
    # sessions list's filters, raw events by seq, failures by day): their plain tests, not the browser's.
    "dashboard": [
        *(
            f"tests/dashboard/test_{name}.py"
            for name in ("overview", "projects", "sessions", "tools", "cursor")
        ),
        "tests/telemetry/test_dashboard_selectors.py",
        "tests/telemetry/test_selectors_pages.py",
    ],
}

pytestmark = [pytest.mark.e2e, needs_postgres, pytest.mark.timeout(900)]


@pytest.mark.parametrize("part", sorted(ENGINE_BOUND))
def test_the_api_tests_pass_on_postgresql(part: str) -> None:
    with database() as (url, name):
        env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
        for variable in ("BLUEPLANE_HOME", "CLAUDE_CONFIG_DIR", "BLUEPLANE_REDIS_URL"):
            env.pop(variable, None)  # tests/environment.py makes fresh ones for the run
        test_database = f"test_{name}"  # pytest-django's name for it
        database_clone(test_database)
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", *ENGINE_BOUND[part], "-q", "-x", "-p", "no:cacheprovider", "--reuse-db",
                 "-m", "not e2e", "-k", "not a_large and not asgi_server_gets"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
            )  # fmt: skip
            report = run.stdout[-20000:] + run.stderr[-5000:]
            assert run.returncode == 0, report
            assert " passed" in run.stdout.splitlines()[-1], report
            # The run really was on PostgreSQL: its tests rolled back their transactions in the test
            # database (a clone starts with no statistics of its own; a backend reports its own as it exits).
            with psycopg.connect(ADMIN_URL) as admin:
                rolled_back = admin.execute(
                    "SELECT xact_rollback FROM pg_stat_database WHERE datname = %s", (test_database,)
                ).fetchone()
            assert rolled_back is not None and rolled_back[0] >= 10, rolled_back
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{test_database}" WITH (FORCE)')

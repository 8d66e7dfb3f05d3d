"""A PostgreSQL server for the tests that need one: BLUEPLANE_TEST_POSTGRES_URL (default: a local server
on 127.0.0.1:5432 as user postgres). A machine without one skips those tests, saying so: the product
itself never needs PostgreSQL.

Migrating an empty database takes ~20 s on PostgreSQL (a commit, and so an fsync, per migration), and
cloning a migrated one takes half a second: `database(migrated=True)` clones a template migrated once
(CREATE DATABASE ... TEMPLATE). The template is named after a digest of the migrations, so a changed
migration makes a new one, and it stays on the server for the next run; the tests of the migrations
themselves still migrate an empty database."""

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import django
import psycopg
import pytest

ADMIN_URL = os.environ.get("BLUEPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parents[2]
# Held (pg_advisory_lock, on the server) while a template is made: two xdist workers, or two checkouts
# running their suites, make it once.
_TEMPLATE_LOCK = 0x62707470  # "bptp"


def server_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


# For tests that need the server: `pytestmark = [needs_postgres]` or `@needs_postgres`.
needs_postgres = pytest.mark.skipif(not server_available(), reason=f"no PostgreSQL server at {ADMIN_URL}")


def url_of(name: str) -> str:
    """The URL of the database called name on the tests' server."""
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _migrations_digest() -> str:
    digest = hashlib.sha256(django.__version__.encode())
    for path in sorted(ROOT.glob("*/migrations/*.py")) + sorted(ROOT.glob("*/*/migrations/*.py")):
        if ".venv" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _exists(admin: psycopg.Connection, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def template_ensure() -> str:
    """The name of a database migrated to this checkout's migrations, made (once) if missing."""
    name = f"blueplane_template_{_migrations_digest()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        if _exists(admin, name):
            return name
        admin.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
        try:
            if _exists(admin, name):  # made by another process while this one waited
                return name
            # Migrated under another name, renamed once complete: a template is never half-made.
            building = f"{name}_building"
            admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{building}"')
            env = {**os.environ, "BLUEPLANE_DATABASE_URL": url_of(building)}
            migrated = subprocess.run(
                [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if migrated.returncode != 0:
                admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                raise RuntimeError(f"migrating the template database failed:\n{migrated.stderr[-3000:]}")
            admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            admin.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))
    return name


def database_clone(name: str) -> None:
    """Create the database name, migrated: a copy of the template."""
    template = template_ensure()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


@contextmanager
def database(template: str | None = None, *, migrated: bool = False) -> Iterator[tuple[str, str]]:
    """A new database of the test's own: empty, migrated (migrated=True), or a copy of the database named
    template (which no one may be connected to). Yields (its URL, its name); dropped afterwards."""
    name = f"blueplane_test_{uuid.uuid4().hex[:8]}"
    if migrated:
        database_clone(name)
    else:
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield url_of(name), name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

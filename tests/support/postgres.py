"""A PostgreSQL server for the tests that need one: BLUEPLANE_TEST_POSTGRES_URL (default: a local server
on 127.0.0.1:5432 as user postgres). A machine without one skips those tests, saying so: the product
itself never needs PostgreSQL."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get("BLUEPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def server_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


# For tests that need the server: `pytestmark = [needs_postgres]` or `@needs_postgres`.
needs_postgres = pytest.mark.skipif(not server_available(), reason=f"no PostgreSQL server at {ADMIN_URL}")


@contextmanager
def database(template: str | None = None) -> Iterator[tuple[str, str]]:
    """A new, empty database of the test's own (or a copy of the database named template, which no one
    may be connected to): yields (its URL, its name); dropped afterwards."""
    name = f"blueplane_test_{uuid.uuid4().hex[:8]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}", name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

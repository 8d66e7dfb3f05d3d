"""Shared fixtures: a real Redis (the embedded server, or BLUEPLANE_REDIS_URL) and clean keys per test."""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_py
from django.conf import settings

from blueplane.redis_server import EmbeddedRedis
from telemetry.connections import redis_client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The Redis URL every test uses; the embedded server is started once per run and stopped after."""
    if settings.BLUEPLANE_REDIS_URL:
        yield settings.BLUEPLANE_REDIS_URL
        return
    server = EmbeddedRedis(settings.BLUEPLANE_HOME)
    started = server.start()
    yield server.url
    if started:
        server.stop()


@pytest.fixture
def redis(redis_server: str) -> Iterator[redis_py.Redis]:
    """The project's Redis client, on an empty database."""
    client = redis_client()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """mount(path, size) -> path: a small file system of the test's own at path (size in mount's
    notation: "256k", "24m"), for disk-full and read-only faults; unmounted (remounted writable first)
    after the test. Mounting needs root: without it the test is skipped, saying so. As root, a mount
    that fails fails the test rather than skipping it, so a fault test never passes unseen."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (these fault tests run as root in CI)")
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        )
        assert done.returncode == 0, f"cannot mount a tmpfs at {path}: {done.stderr.decode().strip()}"
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True)
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # still busy: detach it


CLAUDE_PROJECTS = Path(__file__).parent / "fixtures" / "claude-real" / "projects"


@pytest.fixture(scope="session")
def corpus_home(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BLUEPLANE_HOME whose store holds the repository's Claude Code transcripts, committed, for the
    command or a server run in another process (tests.support.stores.store_env gives its environment).
    Built once per run; tests must not change it."""
    from tests.support.stores import store_build

    return store_build(tmp_path_factory.mktemp("corpus-home"), redis_server)


@pytest.fixture
def corpus(redis) -> None:
    """The repository's real Claude Code transcripts, through the real pipeline: imported into Redis,
    stored by the fast path, derived by the slow path's catch-up (called in-process). What ccusage
    reports for the same files is in tests/fixtures/claude-real/ccusage/."""
    corpus_load(redis)


def corpus_load(client: redis_py.Redis) -> None:
    """The corpus fixture's work, for a fixture of a wider scope (with the database unblocked)."""
    from telemetry import tasks
    from telemetry.capture.importer import history_import
    from telemetry.capture.privacy import Privacy
    from tests.telemetry.test_consumer import drain, make_consumer

    history_import(str(CLAUDE_PROJECTS), client=client, privacy=Privacy(b"reports"), progress=False)
    drain(make_consumer(client))
    tasks.sessions_catch_up()

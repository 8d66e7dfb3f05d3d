"""The team server's service definitions, run for real: the exact command lines of deploy/systemd/*.service
and deploy/compose.yaml (their environment filled in for this machine) as processes on the test's
PostgreSQL and Redis, and an event posted to the web role's ingest with a token comes out derived.

No docker daemon runs here, so the compose services run as the processes their containers would run
(the image's environment, then the service's env file and command). Skipped without PostgreSQL.
"""

import configparser
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from tests.factories import envelope
from tests.support.postgres import database, needs_postgres

pytestmark = [pytest.mark.e2e, needs_postgres, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
SERVER_ROLES = ("web", "fastpath", "worker", "beat")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def settings_for_here(example: dict[str, str], *, database_url: str, redis_url: str, port: int) -> dict:
    """The example env file with this machine's database, Redis and a free port."""
    assert {"BLUEPLANE_DATABASE_URL", "BLUEPLANE_REDIS_URL", "BLUEPLANE_PORT"} <= example.keys()
    return {
        **example,
        "BLUEPLANE_DATABASE_URL": database_url,
        "BLUEPLANE_REDIS_URL": redis_url,
        "BLUEPLANE_PORT": str(port),
    }


def systemd_roles(settings: dict[str, str], root: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each unit's ExecStart and environment (Environment=, then EnvironmentFile=, which wins), with the
    install's paths moved to this checkout's virtualenv and a temp folder."""
    roles = {}
    for role in SERVER_ROLES:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(DEPLOY / "systemd" / f"blueplane-{role}.service")
        service = unit["Service"]
        assert service["EnvironmentFile"] == "/etc/blueplane/env"
        assert service["Restart"] == "always" and service["User"] == "blueplane"
        env = dict(v.split("=", 1) for v in shlex.split(service["Environment"]))
        env.update(settings)
        env["BLUEPLANE_HOME"] = env["BLUEPLANE_HOME"].replace("/var/lib/blueplane", str(root))
        argv = shlex.split(service["ExecStart"])
        assert argv[0] == "/opt/blueplane/.venv/bin/blueplane"
        roles[role] = ([str(BIN / "blueplane"), *argv[1:]], env)
    return roles


def compose_roles(settings: dict[str, str], root: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each blueplane service's command and environment: the image's ENV (BLUEPLANE_HOME; one home per
    container, so one per service here), then its env file."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    roles = {}
    for role in SERVER_ROLES:
        service = compose["services"][role]
        assert service["env_file"] == "blueplane.env" and service["restart"] == "always"
        argv = service["command"]
        assert argv[0] == "blueplane"
        env = {"BLUEPLANE_HOME": str(root / role), **settings}
        roles[role] = ([str(BIN / "blueplane"), *argv[1:]], env)
    return roles


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLUEPLANE_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env={**base, **env}, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def request(url: str, *, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with database() as (url, _):
        yield url


@pytest.mark.parametrize("definitions", [systemd_roles, compose_roles], ids=["systemd", "compose"])
def test_service_definitions_run_the_pipeline(
    definitions, postgres_url, redis, redis_server, tmp_path
) -> None:
    port = free_port()
    example = env_file(
        DEPLOY / ("systemd/env.example" if definitions is systemd_roles else "blueplane.env.example")
    )
    settings = settings_for_here(example, database_url=postgres_url, redis_url=redis_server, port=port)
    roles = definitions(settings, tmp_path)
    processes = []
    try:
        # All at once, the web role last: the others wait for its migrations instead of failing.
        for role in ("fastpath", "worker", "beat", "web"):
            argv, env = roles[role]
            processes.append(start(argv, env, tmp_path / f"{role}.log"))
        web_env = roles["web"][1]
        made = subprocess.run(
            [str(BIN / "blueplane"), "token", "create", "deploy-test", "--json"],
            env={**os.environ, **web_env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]

        base = f"http://127.0.0.1:{port}"
        events = [envelope(session_id="deploy-session") for _ in range(2)]
        deadline = time.monotonic() + 120
        while (status := request(f"{base}/api/v1/events", token=token, body=orjson.dumps(events))[0]) != 202:
            assert all(p.poll() is None for p in processes), _logs(tmp_path)
            assert time.monotonic() < deadline, f"ingest answered {status}\n{_logs(tmp_path)}"
            time.sleep(0.2)
        while True:
            status, body = request(f"{base}/api/v1/sessions/", token=token)
            if status == 200 and "deploy-session" in body.decode():
                break
            assert time.monotonic() < deadline, f"not derived: {status} {body[:300]!r}\n{_logs(tmp_path)}"
            time.sleep(0.3)

        # `status` of one role's home shows that role's process alone.
        shown = subprocess.run(
            [str(BIN / "blueplane"), "status", "--json"], env={**os.environ, **roles["worker"][1]},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        report = json.loads(shown.stdout)
        assert [p["name"] for p in report["supervisor"]["processes"]] == ["worker"]
        assert report["redis"]["ok"]
        # No role started an embedded Redis: BLUEPLANE_REDIS_URL is set.
        assert not any((tmp_path / role / "redis").exists() for role in SERVER_ROLES)
    finally:
        stop(processes)


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(folder.glob("*.log"))
    )


def test_migrations_started_together_take_turns(postgres_url) -> None:
    env = {**os.environ, "BLUEPLANE_DATABASE_URL": postgres_url}
    argv = [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"]
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=150), p.stderr.read().decode()) for p in runs]
    assert [code for code, _ in results] == [0, 0], results

"""Access from another host, for real: a network namespace joined to this one by a veth pair, runweb
(uvicorn) bound to the host side's address, requests from inside the namespace with curl.

Needs root and iproute2 (CI runs as root); skipped, saying why, elsewhere. The namespace and the veth
pair are removed whatever happens.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from telemetry.wire import EVENTS_STREAM, WORKER_HEARTBEAT
from tests.factories import envelope

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
BLUEPLANE = Path(sys.executable).parent / "blueplane"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass
class Namespace:
    name: str
    host_ip: str  # this side of the veth pair, where the server listens
    peer_ip: str  # the namespace's side: the client's address as the server sees it

    def curl(
        self, method: str, url: str, *, token: str | None = None, body: bytes | None = None, headers=()
    ) -> tuple[int, bytes]:
        """(status, body) of a request made from inside the namespace."""
        argv = ["ip", "netns", "exec", self.name, "curl", "-sS", "-m", "20", "-X", method, "-o", "-",
                "-w", "\n%{http_code}", url]  # fmt: skip
        for header in headers:
            argv += ["-H", header]
        if token is not None:
            argv += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        done = subprocess.run(argv, input=body, capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr.decode()
        payload, _, code = done.stdout.rpartition(b"\n")
        return int(code), payload


@pytest.fixture
def netns() -> Iterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root (this test runs as root in CI)")
    for tool in ("ip", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"no `{tool}` on this machine (iproute2 and curl are needed)")
    tag = f"{os.getpid() % 100000}"
    name, host_dev, peer_dev = f"bpns{tag}", f"bpv{tag}h", f"bpv{tag}n"
    subnet = f"10.213.{os.getpid() % 250}"
    ns = Namespace(name, f"{subnet}.1", f"{subnet}.2")
    probe = _run("ip", "netns", "add", name, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not allow network namespaces: {probe.stderr.strip()}")
    try:
        _run("ip", "link", "add", host_dev, "type", "veth", "peer", "name", peer_dev)
        _run("ip", "link", "set", peer_dev, "netns", name)
        _run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", host_dev)
        _run("ip", "link", "set", host_dev, "up")
        _run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns.peer_ip}/30", "dev", peer_dev)
        _run("ip", "netns", "exec", name, "ip", "link", "set", peer_dev, "up")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield ns
    finally:
        _run("ip", "netns", "del", name, check=False)  # takes the namespace's end of the pair with it
        _run("ip", "link", "del", host_dev, check=False)


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _answers(ip: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=1):
        return True
    return False


def test_other_host_needs_a_valid_unrevoked_token(netns: Namespace, redis, redis_server: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="bp-ns-", dir="/tmp"))
    port = _free_port(netns.host_ip)
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(home),
        "BLUEPLANE_REDIS_URL": redis_server,  # the test's Redis, to count what was queued
        "BLUEPLANE_BIND": netns.host_ip,
        "BLUEPLANE_PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "blueplane.settings",
    }
    env.pop("BLUEPLANE_DATABASE_URL", None)
    runweb = [sys.executable, str(ROOT / "manage.py"), "runweb"]
    log_path = home / "web.log"
    server = None
    token = None
    try:
        # No token yet: the server will not listen off loopback.
        refused = subprocess.run(runweb, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode != 0
        assert f"refusing to listen on {netns.host_ip}" in refused.stderr

        def cli(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(BLUEPLANE), *argv], env=env, capture_output=True, text=True, timeout=60
            )

        made = cli("token", "create", "netns-client", "--json")
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]

        with log_path.open("wb") as log:
            server = subprocess.Popen(runweb, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not _answers(netns.host_ip, port):
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        base = f"http://{netns.host_ip}:{port}"
        batch = orjson.dumps([envelope(), envelope()])

        # No token: refused, nothing queued.
        status, body = netns.curl("POST", f"{base}/api/v1/events", body=batch)
        assert status == 401, body
        assert netns.peer_ip in json.loads(body)["message"]
        assert netns.curl("GET", f"{base}/healthz")[0] == 401
        assert netns.curl("GET", f"{base}/metrics", token="bp_wrong")[0] == 401
        # Claiming to be forwarded from loopback changes nothing: the header is believed from 127.0.0.1 only.
        spoofed = ["X-Forwarded-For: 127.0.0.1", "Forwarded: for=127.0.0.1", "X-Real-IP: 127.0.0.1"]
        assert netns.curl("GET", f"{base}/healthz", headers=spoofed)[0] == 401
        assert redis.exists(EVENTS_STREAM) == 0

        # A valid token: queued, and the GETs answer.
        status, body = netns.curl("POST", f"{base}/api/v1/events", token=token, body=batch)
        assert (status, json.loads(body)) == (202, {"queued": 2})
        assert redis.xlen(EVENTS_STREAM) == 2
        redis.set(WORKER_HEARTBEAT, time.time())  # as a worker would: this test runs none
        status, body = netns.curl("GET", f"{base}/healthz", token=token)
        assert status == 200, body
        status, body = netns.curl("GET", f"{base}/metrics", token=token)
        assert status == 200 and b"blueplane_stream_entries 2.0" in body

        # Revoked while the server runs: refused from the next request on.
        assert cli("token", "revoke", "netns-client").returncode == 0
        status, body = netns.curl("POST", f"{base}/api/v1/events", token=token, body=batch)
        assert (status, json.loads(body)["error"]) == (401, "token_revoked")
        assert netns.curl("GET", f"{base}/healthz", token=token)[0] == 401
        assert redis.xlen(EVENTS_STREAM) == 2
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        logged = log_path.read_text() if log_path.exists() else ""
        shutil.rmtree(home, ignore_errors=True)
    assert token and token not in logged  # uvicorn and Django logged nothing that carries it

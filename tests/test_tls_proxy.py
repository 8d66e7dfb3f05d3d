"""TLS by a reverse proxy, for real: deploy/nginx/blueplane.conf rendered for a temp folder, nginx on a free
loopback port in front of runweb, a certificate made here and verified by the client, and the token
kept out of every log (nginx's access and error logs in the example's format, runweb's output).

Needs nginx (`apt-get install nginx`) and openssl: skipped, saying so, where either is absent.
"""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.factories import envelope
from tests.support.debian import apt_install
from tests.support.web import listening_url, runweb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "nginx" / "blueplane.conf"
OPENSSL = shutil.which("openssl")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),  # the first test may install nginx
    pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed"),
]


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


@pytest.fixture(scope="module")
def nginx_path() -> str:
    """nginx, installed with apt-get when missing (as the deploy README tells a user to). Skips saying
    why when it cannot be, unless BLUEPLANE_TEST_NGINX=required (CI sets it), where it fails."""
    why = None if _nginx() else apt_install("nginx")
    if why is None and _nginx() is None:
        why = "apt-get installed nginx, but it is not on PATH"
    if why is not None:
        if os.environ.get("BLUEPLANE_TEST_NGINX") == "required":
            pytest.fail(f"no nginx: {why}")
        pytest.skip(f"no nginx: {why}")
    return _nginx()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA) and its key."""
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=blueplane-test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def nginx_config(folder: Path, *, port: int, upstream_port: int, cert: Path, key: Path) -> Path:
    """The example as it is, with this test's port, certificate, upstream and log files put in."""
    text = EXAMPLE.read_text()
    replacements = {
        "listen 443 ssl": f"listen 127.0.0.1:{port} ssl",
        "server 127.0.0.1:7531;": f"server 127.0.0.1:{upstream_port};",
        "/etc/blueplane/tls/fullchain.pem": str(cert),
        "/etc/blueplane/tls/privkey.pem": str(key),
        "/var/log/nginx/": f"{folder}/",
    }
    for old, new in replacements.items():
        assert old in text, f"the example no longer holds {old!r}: update this test's rendering"
        text = text.replace(old, new)
    (folder / "blueplane.conf").write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log {folder}/main.error.log warn;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  include {folder}/blueplane.conf;\n}}\n"
    )
    return main


@dataclass
class Proxied:
    url: str  # https://127.0.0.1:PORT
    token: str
    context: ssl.SSLContext
    folder: Path
    web_log: Path

    def request(
        self, path: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def logs(self) -> dict[str, str]:
        files = [*sorted(self.folder.glob("*.log")), self.web_log]
        return {f.name: f.read_text(errors="replace") for f in files if f.exists()}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def proxied(redis_server, tmp_path_factory, nginx_path) -> Iterator[Proxied]:
    tmp_path = tmp_path_factory.mktemp("proxied")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(home),
        "BLUEPLANE_REDIS_URL": redis_server,
        "DJANGO_SETTINGS_MODULE": "blueplane.settings",
    }
    env.pop("BLUEPLANE_DATABASE_URL", None)  # a SQLite database of the test's own, in its home
    made = subprocess.run(
        [sys.executable, "-m", "blueplane.cli", "token", "create", "proxy-test", "--json"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]

    web_log = tmp_path / "web.log"
    web = runweb("--bind", "127.0.0.1", "--port", "0", env=env, log=web_log)
    nginx = None
    try:
        url = listening_url(web, web_log)
        assert url is not None, web_log.read_text()
        folder = tmp_path / "nginx"
        folder.mkdir()
        cert, key = certificate(folder)
        port = free_port()
        config = nginx_config(folder, port=port, upstream_port=int(url.rsplit(":", 1)[1]), cert=cert, key=key)
        checked = subprocess.run(
            [nginx_path, "-t", "-c", str(config), "-p", str(folder)], capture_output=True
        )
        assert checked.returncode == 0, checked.stderr.decode()
        nginx = subprocess.Popen(
            [nginx_path, "-c", str(config), "-p", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert nginx.poll() is None, nginx.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        context = ssl.create_default_context(cafile=str(cert))  # verifies the chain and the name
        yield Proxied(f"https://127.0.0.1:{port}", token, context, folder, web_log)
    finally:
        if nginx is not None:
            stop(nginx)
        stop(web)


def test_ingest_and_reads_go_through_tls_and_the_token_reaches_no_log(proxied: Proxied, redis) -> None:
    from telemetry.wire import EVENTS_STREAM

    bearer = {"Authorization": f"Bearer {proxied.token}"}
    events = [envelope(session_id="tls-session") for _ in range(3)]
    status, body = proxied.request(
        "/api/v1/events",
        method="POST",
        body=orjson.dumps(events),
        headers={**bearer, "Content-Type": "application/json"},
    )
    assert (status, json.loads(body)) == (202, {"queued": 3})
    assert redis.xlen(EVENTS_STREAM) == 3

    status, body = proxied.request("/api/v1/sessions/", headers=bearer)
    assert status == 200, body
    # The header is passed on and checked behind the proxy: a wrong token is refused there.
    status, body = proxied.request("/api/v1/sessions/", headers={"Authorization": "Bearer bp_wrong"})
    assert status == 401, body
    # The dashboard's one-time link carries the token in the query string.
    proxied.request(f"/?token={proxied.token}")

    logs = proxied.logs()
    assert "POST /api/v1/events" in logs["blueplane.access.log"]  # the requests were logged...
    assert "GET / " in logs["blueplane.access.log"]
    for name, text in logs.items():
        assert proxied.token not in text, f"the token is in {name}"  # ...without the token
        assert proxied.token[:12] not in text, f"part of the token is in {name}"


def test_a_certificate_the_client_does_not_trust_is_refused(proxied: Proxied) -> None:
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(proxied.url + "/healthz", timeout=30, context=ssl.create_default_context())

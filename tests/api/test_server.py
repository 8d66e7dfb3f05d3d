"""The web server as `blueplane up` runs it (runweb: uvicorn, one ASGI process), over real HTTP: the schema,
Swagger UI and ReDoc with every asset from our own server, the admin's CSS, /healthz, JSON 404s under
/api/, the address it listens on, and a clean stop on SIGTERM."""

import http.client
import json
import re
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from drf_spectacular.validation import validate_schema

from blueplane.supervisor import banner, processes_default
from telemetry.wire import EVENTS_STREAM
from tests.factories import envelope
from tests.support.web import Web, listening_url, runweb, server_env, web_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, redis_server, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    with web_server(log=tmp_path_factory.mktemp("web") / "web.log", env=env) as server:
        yield server


class Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]


def links(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.found


def test_the_schema_is_a_valid_openapi_3_document(web: Web) -> None:
    answer = web.request("/api/v1/schema/")
    assert answer.status == 200
    schema = yaml.safe_load(answer.body)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on a document OpenAPI 3 does not allow
    as_json = web.request("/api/v1/schema/?format=json")
    assert json.loads(as_json.body) == schema
    asked = web.request("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert json.loads(asked.body) == schema


@pytest.mark.parametrize(
    ("path", "method", "headers", "status"),
    [
        ("/api/v1/schema/?format=xml", "GET", {}, 400),
        ("/api/v1/schema/?format=" + "x" * 60_000, "GET", {}, 400),
        ("/api/v1/schema/?format=" + "x" * 100_000, "GET", {}, 400),  # past the server's URL limit
        ("/api/v1/schema/", "GET", {"Accept": "text/html"}, 406),
        ("/api/v1/schema/", "POST", {}, 405),
        ("/api/v1/docs/", "DELETE", {}, 405),
        ("/api/v1/redoc/", "GET", {"Accept": "application/xml"}, 406),
    ],
)
def test_the_schema_and_its_viewers_refuse_in_json(web: Web, path: str, method: str, headers, status) -> None:
    answer = web.request(path, method=method, headers=headers)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.body)
    assert body["status"] == status and body["message"]
    assert len(answer.body) < 2000  # a refused value is quoted short, not echoed whole


@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/", "/admin/login/"])
def test_every_asset_a_page_references_comes_from_our_server(web: Web, page: str) -> None:
    answer = web.request(page)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.body.decode()
    ours = urlsplit(web.url).netloc
    # The machine may be offline, and a privacy-first tool's page asks no third party for anything.
    urls = re.findall(r"""https?://[^\s"'<>)]+""", html)
    foreign = [u for u in urls if urlsplit(u).netloc not in {ours, "www.w3.org"}]  # w3.org: XML namespaces
    assert foreign == []
    assets = [link for link in links(html) if not link.startswith(("#", "data:"))]
    scripts_and_styles = [a for a in assets if a.endswith((".js", ".css"))]
    assert scripts_and_styles, f"{page} references no script or stylesheet: {assets}"
    for asset in assets:
        path = urlsplit(urljoin(web.url + page, asset)).path
        fetched = web.request(path)
        assert fetched.status == 200, (page, asset)
        assert fetched.body, (page, asset)
        if asset.endswith(".js"):
            assert "javascript" in fetched.headers["content-type"], asset
        if asset.endswith(".css"):
            assert fetched.headers["content-type"].startswith("text/css"), asset


def test_swagger_ui_loads_the_schema_from_our_server_and_sends_nothing_to_swagger_io(web: Web) -> None:
    html = web.request("/api/v1/docs/").body.decode()
    assert re.search(r'url: "/api/v1/schema/"', html)
    assert '"validatorUrl": null' in html  # or Swagger UI shows a badge fetched from validator.swagger.io


def test_healthz_answers_json(web: Web) -> None:
    answer = web.request("/healthz")
    assert answer.status in {200, 503}  # 503 names the failing checks: no fast path or worker runs here
    assert answer.headers["content-type"].startswith("application/json")
    assert json.loads(answer.body)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/no-such-thing/", "/api/v2/sessions/", "/api/", "/api/v1/" + "x" * 5000, "/api/v1/%00/"],
)
def test_an_unknown_api_url_is_a_json_404(web: Web, path: str) -> None:
    answer = web.request(path)
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.body)
    assert body["status"] == 404 and body["error"] == "not_found"
    assert "/api/v1/schema/" in body["message"]


def test_a_request_the_server_cannot_parse_is_refused_in_json(web: Web) -> None:
    host, port = urlsplit(web.url).hostname, urlsplit(web.url).port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"BREW /pot HTTP/9.9\r\n\r\n")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head
    assert json.loads(body)["status"] == 400
    assert web.request("/healthz").status in {200, 503}


def test_no_server_header_names_the_software(web: Web) -> None:
    assert "server" not in web.request("/healthz").headers


def test_sigterm_stops_it_cleanly_with_a_connection_open(
    django_db_setup, django_db_blocker, redis_server, tmp_path: Path
) -> None:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    with web_server(log=tmp_path / "web.log", env=env) as server:
        assert server.request("/api/v1/schema/").status == 200
        idle = socket.create_connection(urlsplit(server.url)[1].split(":"), timeout=5)  # a keep-alive client
        try:
            assert server.stop() == 0
        finally:
            idle.close()
        log = server.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log


def test_a_port_in_use_is_refused_in_one_line(
    web: Web, django_db_blocker, redis_server, tmp_path: Path
) -> None:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    port = urlsplit(web.url).port
    log = tmp_path / "second.log"
    second = runweb("--bind", "127.0.0.1", "--port", str(port), env=env, log=log)
    assert listening_url(second, log) is None
    assert second.returncode != 0
    assert "address already in use" in log.read_text().lower()
    assert web.request("/healthz").status in {200, 503}  # the first one is untouched


@pytest.mark.parametrize("port", ["-1", "65536", "99999999999999999999999"])
def test_a_port_out_of_range_is_refused(django_db_blocker, redis_server, tmp_path: Path, port: str) -> None:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    log = tmp_path / "web.log"
    process = runweb("--port", port, env=env, log=log)
    assert process.wait(timeout=60) != 0
    assert "--port must be between 0 and 65535" in log.read_text()


def test_up_runs_the_web_server_on_blueplane_bind_and_the_banner_says_so(settings) -> None:
    [web] = [p for p in processes_default(port=8123, bind="::1") if p.name == "web"]
    assert web.argv[-5:] == ["runweb", "--bind", "::1", "--port", "8123"]
    assert "http://[::1]:8123/api/v1/docs/" in banner(port=8123, home=Path("/h"), bind="::1")
    local = banner(port=8123, home=Path("/h"), bind="127.0.0.1")
    assert "http://127.0.0.1:8123/healthz" in local and "token" not in local
    # Every address: the banner shows the loopback one (which answers) and says others need a token.
    every = banner(port=8123, home=Path("/h"), bind="0.0.0.0")
    assert "http://127.0.0.1:8123/admin/" in every and "need an API token" in every


def test_a_websocket_path_without_a_feed_is_refused_cleanly(web: Web) -> None:
    """/ws/events and /ws/metrics are the live feed (tests/live); any other path is closed with 4404 and
    a message, not a routing error's 500."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(web.url.replace("http://", "ws://") + "/live/", open_timeout=10) as socket:
        message = json.loads(socket.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert message["type"] == "error" and "/live/" in message["message"]
    assert closed.value.rcvd.code == 4404
    assert "Traceback" not in web.log_text()


def chunked_post(url: str, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST a body in chunks without Content-Length, as a client streaming it does."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "POST", path, body=iter(chunks), headers={"Content-Type": "application/json"}, encode_chunked=True
    )
    answer = connection.getresponse()
    return answer.status, answer.read()


def test_a_chunked_body_reaches_the_api_whole(web: Web, redis) -> None:
    """A client that streams its body (Transfer-Encoding: chunked, no Content-Length) is read whole:
    Django's WSGI side reads Content-Length bytes, which blueplane/asgi.py supplies."""
    events = [envelope(session_id="chunked") for _ in range(30)]
    raw = json.dumps(events).encode()
    status, body = chunked_post(
        web.url, "/api/v1/events", [raw[i : i + 100] for i in range(0, len(raw), 100)]
    )
    assert (status, json.loads(body)) == (202, {"queued": 30})
    assert redis.xlen(EVENTS_STREAM) == 30


def test_a_chunked_body_over_the_limit_is_refused_with_a_json_413(
    django_db_blocker, redis_server, tmp_path: Path
) -> None:
    with django_db_blocker.unblock():
        env = server_env(redis_server, BLUEPLANE_API_INGEST_MAX_MB="1")
    with web_server(log=tmp_path / "web.log", env=env) as server:
        status, body = chunked_post(server.url, "/api/v1/events", [b"[" + b" " * 65536] * 20 + [b"]"])
        assert server.request("/healthz").status in {200, 503}  # and the server goes on
    assert status == 413
    answer = json.loads(body)
    assert answer["status"] == 413 and "1,048,576-byte limit" in answer["message"]

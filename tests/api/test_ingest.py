"""POST /api/v1/events: a batch validated whole by the fast path's rules, queued at once, stored once by
the real fast path however often it is posted; every bad input a 4xx JSON error, Redis down a 503."""

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from telemetry.connections import redis_client_quick
from telemetry.models import ClaudeRawTrace, CursorRawTrace
from telemetry.selectors.traces import trace_event
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer

pytestmark = pytest.mark.django_db

URL = "/api/v1/events"


def post(client, body, *, content_type: str = "application/json", **extra):
    data = body if isinstance(body, bytes | str) else orjson.dumps(body)
    return client.post(URL, data, content_type=content_type, **extra)


def refused(response, status: int, code: str) -> dict:
    """The response is the API's JSON error with this status and code; returns its body."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert (answer["status"], answer["error"]) == (status, code), answer
    assert answer["message"] and "\n" not in answer["message"]
    return answer


def queued(redis) -> list[dict]:
    return [orjson.loads(fields[b"event"]) for _, fields in redis.xrange(EVENTS_STREAM)]


def test_good_batch_is_queued_and_stored_once_when_posted_twice(client, redis):
    batch = [envelope(session_id="s-1") for _ in range(5)] + [
        envelope(platform="cursor", event_type="afterFileEdit", session_id="composer-1")
    ]
    first = post(client, batch)
    assert (first.status_code, first.json()) == (202, {"queued": 6})
    assert [e["event_id"] for e in queued(redis)] == [e["event_id"] for e in batch]
    consumer = make_consumer(redis)
    assert drain(consumer) == 6
    assert (ClaudeRawTrace.objects.count(), CursorRawTrace.objects.count()) == (5, 1)

    again = post(client, batch)
    assert again.status_code == 202
    assert drain(consumer) == 6
    assert (ClaudeRawTrace.objects.count(), CursorRawTrace.objects.count()) == (5, 1)
    assert consumer.last_flush.inserted == 0
    assert redis.xlen(DLQ_STREAM) == 0


def test_stored_event_is_the_envelope_as_posted(client, redis):
    event = envelope(payload={"tool_name": "Bash", "n": 2**64 - 1, "m": -(2**63), "text": "é\u2028"})
    assert post(client, [event]).status_code == 202
    drain(make_consumer(redis))
    assert trace_event(trace=ClaudeRawTrace.objects.get()) == event


def test_one_bad_envelope_refuses_the_whole_batch(client, redis):
    batch = [envelope(), envelope(), envelope(timestamp="2025-10-20T08:00:00"), envelope()]
    answer = refused(post(client, batch), 400, "invalid_envelope")
    assert answer["detail"] == {
        "index": 2,
        "reason": "field 'timestamp' has no time zone: '2025-10-20T08:00:00'",
    }
    assert answer["message"].startswith("event 2: ") and "nothing was queued" in answer["message"]
    assert redis.exists(EVENTS_STREAM) == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, "missing field 'event_id'"),
        ({"event_id": ""}, "field 'event_id' must be 1-256 characters, got 0"),
        ({"event_id": "x" * 257}, "field 'event_id' must be 1-256 characters, got 257"),
        ({"platform": "vscode"}, "unknown platform 'vscode'"),
        ({"source": "carrier-pigeon"}, "unknown source 'carrier-pigeon'"),
        ({"session_id": 7}, "field 'session_id' must be a string, got int"),
        ({"payload": []}, "field 'payload' must be an object"),
        ({"payload": None}, "missing field 'payload'"),
        ({"hook_type": 1}, "field 'hook_type' must be a string or null"),
        ({"metadata": "x"}, "field 'metadata' must be an object or null"),
        ({"timestamp": "yesterday"}, "field 'timestamp' is not ISO 8601"),
        ({"timestamp": "10000-01-01T00:00:00Z"}, "field 'timestamp' is not ISO 8601"),
    ],
)
def test_each_wire_rule_is_the_fast_paths(client, redis, change, reason):
    event = envelope()
    event.update(change)
    if change.get("payload", 0) is None:
        del event["payload"]
    answer = refused(post(client, [envelope(), event]), 400, "invalid_envelope")
    assert answer["detail"]["index"] == 1
    assert reason in answer["detail"]["reason"]
    assert redis.exists(EVENTS_STREAM) == 0


@pytest.mark.parametrize("item", [[], "event", 7, None, True])
def test_an_envelope_that_is_not_an_object_is_refused(client, redis, item):
    answer = refused(post(client, [envelope(), item]), 400, "invalid_envelope")
    assert answer["detail"]["index"] == 1 and "must be a JSON object" in answer["message"]


def test_source_left_out_is_http_and_a_given_one_is_kept(client, redis):
    bare = envelope()
    del bare["source"]
    assert post(client, [bare, envelope(source="transcript")]).status_code == 202
    assert [e["source"] for e in queued(redis)] == ["http", "transcript"]


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59.999999Z"]
)
def test_timestamps_at_the_calendars_ends_are_stored(client, redis, timestamp):
    assert post(client, [envelope(timestamp=timestamp)]).status_code == 202
    drain(make_consumer(redis))
    assert ClaudeRawTrace.objects.count() == 1
    assert redis.xlen(DLQ_STREAM) == 0


@pytest.mark.parametrize(
    ("number", "where"),
    [
        ("18446744073709551616", "payload.n"),  # 2**64
        ("-9223372036854775809", "payload.n"),  # -2**63 - 1
        ("1" * 5000, "payload.n"),
        ("1e400", "payload.n"),
        ("-1e400", "payload.n"),
    ],
)
def test_numbers_the_store_cannot_keep_exactly_are_refused_with_their_place(client, redis, number, where):
    body = orjson.dumps([envelope(), envelope(payload={"n": 0})]).decode()
    body = body[: body.rindex('"n":0') + 4] + number + body[body.rindex('"n":0') + 5 :]
    answer = refused(post(client, body), 400, "invalid_envelope")
    assert answer["detail"]["index"] == 1
    assert f"the number at {where} does not fit in 64 bits" in answer["message"]
    assert redis.exists(EVENTS_STREAM) == 0


def test_long_digit_runs_inside_strings_are_fine(client, redis):
    event = envelope(event_id="cc:t:" + "9" * 40, payload={"id": "-" + "1" * 30})
    assert post(client, [event]).status_code == 202
    assert queued(redis) == [event]


@pytest.mark.parametrize(
    "body",
    [b"", b"[", b"[1,]", b"{'a': 1}", b"[NaN]", b"[Infinity]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000],
)
def test_malformed_json_is_refused(client, redis, body):
    # The test client leaves an empty body without a content type unless told.
    answer = refused(post(client, body, CONTENT_TYPE="application/json"), 400, "malformed_json")
    assert answer["message"].startswith("the body is not valid JSON")


def test_lone_surrogate_is_refused_with_its_index(client, redis):
    body = orjson.dumps([envelope()]).decode().replace('"PreToolUse"', '"\\ud800"', 1)
    answer = refused(post(client, body), 400, "invalid_envelope")
    assert answer["detail"]["index"] == 0


@pytest.mark.parametrize("body", [{"event_id": "x"}, "events", 3, None])
def test_body_that_is_not_an_array_is_refused(client, redis, body):
    answer = refused(post(client, json.dumps(body)), 400, "invalid_batch")
    assert "must be a JSON array of envelopes" in answer["message"]


def test_empty_batch_queues_nothing(client, redis):
    response = post(client, [])
    assert (response.status_code, response.json()) == (202, {"queued": 0})


def test_too_many_events_is_413(client, redis, settings):
    settings.API_INGEST_MAX_EVENTS = 3
    assert post(client, [envelope() for _ in range(3)]).status_code == 202
    answer = refused(post(client, [envelope() for _ in range(4)]), 413, "too_many_events")
    assert "4 events, over the limit of 3" in answer["message"]
    assert redis.xlen(EVENTS_STREAM) == 3


def test_event_over_the_size_limit_is_413_with_its_index(client, redis, settings):
    limit = settings.FASTPATH_MAX_EVENT_BYTES
    big = envelope(payload={"text": "x" * (limit - 1000)})  # a megabyte string, just within the limit
    too_big = envelope(payload={"text": "x" * limit})
    assert post(client, [big]).status_code == 202
    answer = refused(post(client, [envelope(), too_big]), 413, "event_too_large")
    assert answer["detail"]["index"] == 1
    drain(make_consumer(redis))
    assert ClaudeRawTrace.objects.count() == 1


def test_body_over_the_limit_is_413(client, redis, settings):
    settings.API_INGEST_MAX_BYTES = 4096
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    answer = refused(post(client, [envelope(payload={"text": "x" * 5000})]), 413, "too_large")
    assert "4,096-byte limit" in answer["message"]
    assert redis.exists(EVENTS_STREAM) == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/xml"]
)
def test_wrong_content_type_is_415(client, redis, content_type):
    answer = refused(post(client, [envelope()], content_type=content_type), 415, "unsupported_media_type")
    assert "application/json" in answer["message"]


def test_other_methods_are_405_json(client, redis):
    refused(client.get(URL), 405, "method_not_allowed")
    refused(client.put(URL, b"[]", content_type="application/json"), 405, "method_not_allowed")


def test_megabyte_header_is_no_5xx(client, redis):
    response = post(
        client, [envelope()], HTTP_X_NOISE="x" * 2**20, HTTP_AUTHORIZATION="Bearer " + "y" * 2**20
    )
    refused(response, 401, "not_authenticated")


def test_redis_down_is_503_and_nothing_is_half_queued(client, redis, settings):
    url = settings.REDIS_URL
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    redis_client_quick.cache_clear()
    try:
        response = post(client, [envelope(), envelope()])
    finally:
        settings.REDIS_URL = url
        redis_client_quick.cache_clear()
    answer = refused(response, 503, "unavailable")
    assert "retry" in answer["message"] and response["Retry-After"]
    assert post(client, [envelope()]).status_code == 202


# --- over the real ASGI server: limits that only hold before Django reads the body ------------------


@pytest.fixture
def web(redis, redis_server) -> Iterator[tuple[str, int]]:
    """runweb (uvicorn) on a free loopback port of a home of its own, with a 1 MiB body limit, queueing on
    the test's Redis. Yields (host, port)."""
    home = Path(tempfile.mkdtemp(prefix="bp-web-", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_REDIS_URL": redis_server,
           "BLUEPLANE_API_INGEST_MAX_MB": "1", "DJANGO_SETTINGS_MODULE": "blueplane.settings"}  # fmt: skip
    env.pop("BLUEPLANE_DATABASE_URL", None)
    argv = [
        sys.executable,
        str(Path(__file__).resolve().parents[2] / "manage.py"),
        "runweb",
        "--port",
        str(port),
    ]
    log = (home / "web.log").open("wb")
    server = subprocess.Popen(argv, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert server.poll() is None and time.monotonic() < deadline, (home / "web.log").read_text()
            time.sleep(0.2)
        yield "127.0.0.1", port
        assert server.poll() is None, "the server died"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _request(web, method: str, path: str, *, body=None, headers: dict | None = None, chunked: bool = False):
    connection = http.client.HTTPConnection(*web, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    except (ConnectionResetError, BrokenPipeError):
        # The server may close before reading all we send: then read what it answered, if anything.
        return None, None, b""
    finally:
        connection.close()


@pytest.mark.e2e
def test_over_uvicorn_a_good_batch_is_queued(web, redis):
    status, kind, body = _request(
        web,
        "POST",
        URL,
        body=orjson.dumps([envelope(), envelope()]),
        headers={"Content-Type": "application/json"},
    )
    assert (status, kind, orjson.loads(body)) == (202, "application/json", {"queued": 2})
    assert redis.xlen(EVENTS_STREAM) == 2


@pytest.mark.e2e
def test_over_uvicorn_a_local_proxy_forwarding_a_remote_client_needs_a_token(web, redis):
    """A reverse proxy on this machine that says whom it forwards gets that client judged, not itself."""
    headers = {"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.10"}
    status, _, body = _request(web, "POST", URL, body=b"[]", headers=headers)
    assert status == 401 and "192.0.2.10" in orjson.loads(body)["message"]


@pytest.mark.e2e
def test_over_uvicorn_a_body_declared_too_large_is_413_json(web, redis):
    big = b"[" + b" " * (2 * 2**20) + b"]"
    status, kind, body = _request(web, "POST", URL, body=big, headers={"Content-Type": "application/json"})
    assert (status, kind) == (413, "application/json")
    assert orjson.loads(body)["error"] == "too_large"
    assert redis.exists(EVENTS_STREAM) == 0


@pytest.mark.e2e
def test_over_uvicorn_a_chunked_body_past_the_limit_is_413_json(web, redis):
    """No Content-Length: the cap counts the chunks as they arrive (Django alone would read them all)."""

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(40):
            yield orjson.dumps(envelope(payload={"text": "x" * 60_000})) + b","
        yield orjson.dumps(envelope()) + b"]"

    status, kind, body = _request(
        web, "POST", URL, body=chunks(), headers={"Content-Type": "application/json"}, chunked=True
    )
    assert (status, kind) == (413, "application/json"), body[:300]
    assert orjson.loads(body)["error"] == "too_large"
    assert redis.exists(EVENTS_STREAM) == 0


@pytest.mark.e2e
def test_over_uvicorn_megabyte_headers_get_no_5xx(web, redis):
    json_type = {"Content-Type": "application/json"}
    status, kind, _ = _request(web, "POST", URL, body=b"[]", headers={**json_type, "X-Noise": "x" * 2**20})
    assert status is None or (status, kind) == (202, "application/json")  # a server may also hang up
    status, kind, body = _request(
        web, "POST", URL, body=b"[]", headers={**json_type, "Authorization": "Bearer " + "y" * 2**20}
    )
    assert status is None or (status, orjson.loads(body)["error"]) == (401, "not_authenticated")
    # And the server still serves.
    status, kind, _ = _request(web, "POST", URL, body=b"[]", headers=json_type)
    assert (status, kind) == (202, "application/json")


@pytest.mark.parametrize("path", [URL, "/healthz"])
def test_a_host_name_the_server_does_not_answer_to_is_400_json(client, redis, path):
    answer = refused(
        client.post(path, b"[]", content_type="application/json", HTTP_HOST="evil.example"),
        400,
        "bad_request",
    )
    assert "BLUEPLANE_ALLOWED_HOSTS" in answer["message"]

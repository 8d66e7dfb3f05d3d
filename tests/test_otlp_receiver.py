"""The OTLP receiver against a real Redis: the fixture's 98 recorded requests in every encoding, the
4xx answers, partial success, the spool when Redis cannot take an export, and never half a request."""

import gzip
import json
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from telemetry.capture.otlp_receiver import Receiver, redis_client_otlp
from telemetry.capture.privacy import Privacy
from telemetry.capture.spool import spool_dir, spool_replay
from telemetry.models import ClaudeRawTrace
from telemetry.wire import EVENTS_STREAM, OTLP_METRICS
from tests.support.otel import EXPECTED, otlp_json_bytes, otlp_requests
from tests.support.otlp_receiver import Client, receiver_running, request_body
from tests.telemetry.capture.helpers import drain

PRIVACY = Privacy(b"otlp-receiver-salt" * 2)
REQUESTS = otlp_requests()
RECORDS = 1445  # log records + spans + metric points in the fixture (its README's counts)


def receiver(client, home: Path, **kwargs) -> Receiver:
    return Receiver(client=client, home=str(home), privacy=PRIVACY, **kwargs)


def replay(port: int, *, encoding: str, gzipped: bool = False) -> list[dict]:
    """Post every fixture request on one keep-alive connection; the decoded replies."""
    client = Client(port)
    replies = []
    try:
        for request in REQUESTS:
            body, headers = request_body(request, encoding=encoding, gzipped=gzipped)
            answer = client.post(request["path"], body, headers)
            assert answer.status == 200, answer.body
            replies.append(answer)
    finally:
        client.close()
    return replies


def stream_ids(redis) -> list[str]:
    return [orjson.loads(fields[b"event"])["event_id"] for _, fields in redis.xrange(EVENTS_STREAM)]


@pytest.mark.parametrize(("encoding", "gzipped"), [("json", False), ("protobuf", False), ("protobuf", True)])
def test_every_fixture_request_becomes_its_records_on_the_stream(redis, tmp_path, encoding, gzipped):
    with receiver_running(receiver(redis, tmp_path)) as server:
        replies = replay(server.server_port, encoding=encoding, gzipped=gzipped)
    ids = stream_ids(redis)
    assert len(ids) == RECORDS == len(set(ids))
    # A full success answers an empty Export*ServiceResponse in the request's encoding.
    if encoding == "json":
        assert {r.body for r in replies} == {b"{}"}
        assert {r.content_type for r in replies} == {"application/json"}
    else:
        assert {r.body for r in replies} == {b""}
        assert {r.content_type for r in replies} == {"application/x-protobuf"}
    assert sum(":log:" in i for i in ids) == sum(EXPECTED["otlp"]["log_events"].values())
    assert sum(":span:" in i for i in ids) == sum(EXPECTED["otlp"]["spans"].values())
    counters = {k.decode(): int(v) for k, v in redis.hgetall(OTLP_METRICS).items()}
    assert counters["requests:logs"] == 34 and counters["requests:metrics"] == 35
    assert counters["requests:traces"] == 29
    assert sum(v for k, v in counters.items() if k.startswith("records:")) == RECORDS


@pytest.mark.django_db
def test_the_ids_are_the_same_whatever_the_encoding_and_a_replay_stores_nothing_new(redis, tmp_path):
    with receiver_running(receiver(redis, tmp_path)) as server:
        replay(server.server_port, encoding="json")
        first = stream_ids(redis)
        replay(server.server_port, encoding="protobuf", gzipped=True)
        replay(server.server_port, encoding="protobuf")
    ids = stream_ids(redis)
    assert ids == first * 3
    drain(redis)
    assert ClaudeRawTrace.objects.filter(source="otel").count() == RECORDS


def test_bad_requests_get_a_4xx_with_a_message_and_store_nothing(redis, tmp_path):
    logs = next(r for r in REQUESTS if r["path"] == "/v1/logs")
    body = otlp_json_bytes(logs)
    with receiver_running(receiver(redis, tmp_path, max_bytes=256 * 1024)) as server:
        client = Client(server.server_port)
        json_headers = {"Content-Type": "application/json"}
        cases = [
            ("POST", "/v1/nothing", body, json_headers, 404, "no such path"),
            ("GET", "/v1/logs", b"", {}, 405, "POST only"),
            ("PUT", "/v1/traces", body, json_headers, 405, "POST only"),
            ("POST", "/v1/logs", body, {"Content-Type": "text/plain"}, 415, "unsupported content type"),
            ("POST", "/v1/logs", body, {**json_headers, "Content-Encoding": "br"}, 415, "content encoding"),
            ("POST", "/v1/logs", b"{not json", json_headers, 400, "not JSON"),
            ("POST", "/v1/logs", b"[1, 2]", json_headers, 400, "not an OTLP export object"),
            ("POST", "/v1/logs", b'{"resourceLogs": 3}', json_headers, 400, "resourceLogs"),
            ("POST", "/v1/metrics", b'{"resourceMetrics": [{"scopeMetrics": "x"}]}', json_headers, 400, "list"),
            ("POST", "/v1/logs", b"\x00\x01garbage", json_headers, 400, "not JSON"),
            ("POST", "/v1/logs", gzip.compress(body)[:-9], {**json_headers, "Content-Encoding": "gzip"}, 400, "gzip"),
            ("POST", "/v1/logs", b"x" * (300 * 1024), json_headers, 413, "over 262144 bytes"),
            # A gzip bomb: 40 kB that would inflate to 64 MB stops at the limit.
            ("POST", "/v1/logs", gzip.compress(b" " * (64 << 20)), {**json_headers, "Content-Encoding": "gzip"}, 413, "once inflated"),
        ]  # fmt: skip
        for method, path, data, headers, status, message in cases:
            answer = client.post(path, data, headers, method=method)
            assert answer.status == status, (method, path, answer.body)
            assert message in json.loads(answer.body)["message"], answer.body
            assert json.loads(answer.body)["code"] == status
        client.close()
        # A protobuf request that does not parse is answered in protobuf: a google.rpc.Status.
        answer = Client(server.server_port).post(
            "/v1/traces", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}
        )
        assert answer.status == 400 and answer.content_type == "application/x-protobuf"
        assert answer.body[:1] == b"\x08" and b"not an OTLP traces protobuf export" in answer.body
    assert redis.xlen(EVENTS_STREAM) == 0
    counters = {k.decode(): int(v) for k, v in redis.hgetall(OTLP_METRICS).items()}
    assert counters["errors:400"] == 7 and counters["errors:413"] == 2 and counters["errors:415"] == 2


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes on a connection of their own; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


def test_a_body_past_the_limit_is_refused_before_it_is_read(redis, tmp_path):
    with receiver_running(receiver(redis, tmp_path, max_bytes=4096)) as server:
        # Announces a gigabyte and sends none of it: answered at once, and the connection closed.
        reply = raw_exchange(
            server.server_port,
            b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n",
        )
    assert reply.startswith(b"HTTP/1.1 413") and b"Connection: close" in reply
    assert b"body over 4096 bytes" in reply


def test_a_chunked_body_is_read(redis, tmp_path):
    request = next(r for r in REQUESTS if r["path"] == "/v1/traces")
    body = otlp_json_bytes(request)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 1000]), body[i : i + 1000]) for i in range(0, len(body), 1000)
    )
    with receiver_running(receiver(redis, tmp_path)) as server:
        reply = raw_exchange(
            server.server_port,
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked + b"0\r\n\r\n",
        )
    assert reply.startswith(b"HTTP/1.1 200")
    assert redis.xlen(EVENTS_STREAM) > 0


def other_service(doc: dict) -> dict:
    copy = json.loads(json.dumps(doc))
    for attribute in copy["resourceLogs"][0]["resource"]["attributes"]:
        if attribute["key"] == "service.name":
            attribute["value"] = {"stringValue": "some-other-app"}
    return copy


def test_refused_records_come_back_in_partial_success_and_the_rest_is_stored(redis, tmp_path):
    logs = [r for r in REQUESTS if r["path"] == "/v1/logs"][:2]
    theirs = other_service(logs[0]["body"])
    n_theirs = sum(len(s["logRecords"]) for s in theirs["resourceLogs"][0]["scopeLogs"])
    # One request with our resource and theirs, and one record of ours without a session.id.
    ours = json.loads(json.dumps(logs[1]["body"]))
    record = ours["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["attributes"] = [a for a in record["attributes"] if a["key"] != "session.id"]
    n_ours = sum(len(s["logRecords"]) for s in ours["resourceLogs"][0]["scopeLogs"])
    doc = {"resourceLogs": theirs["resourceLogs"] + ours["resourceLogs"]}
    with receiver_running(receiver(redis, tmp_path)) as server:
        client = Client(server.server_port)
        answer = client.post("/v1/logs", orjson.dumps(doc), {"Content-Type": "application/json"})
        assert answer.status == 200
        partial = json.loads(answer.body)["partialSuccess"]
        assert partial["rejectedLogRecords"] == str(n_theirs + 1)
        assert "not from claude-code" in partial["errorMessage"]
        assert "session.id" in partial["errorMessage"]
        assert redis.xlen(EVENTS_STREAM) == n_ours - 1
        # The same in protobuf.
        request = {"path": "/v1/logs", "body": doc}
        body, headers = request_body(request, encoding="protobuf")
        answer = client.post("/v1/logs", body, headers)
        reply = logs_service_pb2.ExportLogsServiceResponse.FromString(answer.body)
        assert reply.partial_success.rejected_log_records == n_theirs + 1
        assert "not from claude-code" in reply.partial_success.error_message
        client.close()
    counters = {k.decode(): int(v) for k, v in redis.hgetall(OTLP_METRICS).items()}
    assert counters["refused:logs"] == 2 * (n_theirs + 1)


def test_redis_down_spools_the_export_and_still_answers_200_then_the_replay_sends_it(redis, tmp_path):
    traces = [r for r in REQUESTS if r["path"] == "/v1/traces"]
    down = redis_client_otlp(f"unix://{tmp_path}/nothing-here.sock")
    home = tmp_path / "home"
    with receiver_running(receiver(down, home)) as server:
        client = Client(server.server_port)
        for request in traces:
            body, headers = request_body(request, encoding="protobuf", gzipped=True)
            answer = client.post(request["path"], body, headers)
            assert answer.status == 200
            assert (
                trace_service_pb2.ExportTraceServiceResponse.FromString(
                    answer.body
                ).partial_success.rejected_spans
                == 0
            )
        client.close()
    assert os.listdir(spool_dir(str(home))) == ["otel.jsonl"]
    assert redis.xlen(EVENTS_STREAM) == 0
    # runcapture's replay sends it, every span once.
    sent = spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0)
    spans = sum(len(s["spans"]) for r in traces for b in r["body"]["resourceSpans"] for s in b["scopeSpans"])
    assert sent == spans == redis.xlen(EVENTS_STREAM) == len(set(stream_ids(redis)))


def test_a_full_disk_with_redis_down_answers_503(tmp_path, tmpfs):
    home = tmpfs(tmp_path / "home", "64k")
    (home / "spool").mkdir()
    (home / "filler").write_bytes(b"\0" * (60 * 1024))
    down = redis_client_otlp(f"unix://{tmp_path}/nothing-here.sock")
    big = max((r for r in REQUESTS if r["path"] == "/v1/logs"), key=lambda r: len(otlp_json_bytes(r)))
    with receiver_running(receiver(down, home)) as server:
        answer = Client(server.server_port).post(
            "/v1/logs", otlp_json_bytes(big), {"Content-Type": "application/json"}
        )
    assert answer.status == 503 and "cannot store" in json.loads(answer.body)["message"]


def _upstream(redis_url: str) -> socket.socket:
    """A connection to the test's Redis, on its unix socket or its TCP address."""
    if redis_url.startswith("unix://"):
        up = socket.socket(socket.AF_UNIX)
        up.connect(redis_url.removeprefix("unix://").partition("?")[0])
        return up
    parsed = urlsplit(redis_url)
    return socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379))


def cutting_proxy(listen: Path, upstream: str, *, cut_after: int) -> threading.Thread:
    """A unix-socket proxy to Redis (at the URL `upstream`) that passes the first `cut_after` bytes a
    client sends, then hangs up: a connection lost in the middle of a transaction."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(listen))
    server.listen(8)

    def serve() -> None:
        conn, _ = server.accept()
        up = _upstream(upstream)
        passed = 0
        while passed < cut_after:
            data = conn.recv(65536)
            if not data:
                break
            data = data[: cut_after - passed]
            up.sendall(data)
            passed += len(data)
        up.close()
        conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_an_export_cut_off_mid_transaction_leaves_no_entry_and_is_spooled_whole(
    redis, redis_server, tmp_path
):
    logs = max((r for r in REQUESTS if r["path"] == "/v1/logs"), key=lambda r: len(otlp_json_bytes(r)))
    proxy = tmp_path / "proxy.sock"
    # Half the transaction (MULTI and some XADDs) reaches Redis, EXEC never does.
    cutting_proxy(proxy, redis_server, cut_after=len(otlp_json_bytes(logs)) // 2)
    home = tmp_path / "home"
    with receiver_running(receiver(redis_client_otlp(f"unix://{proxy}"), home)) as server:
        answer = Client(server.server_port).post(
            "/v1/logs", otlp_json_bytes(logs), {"Content-Type": "application/json"}
        )
    assert answer.status == 200
    assert redis.xlen(EVENTS_STREAM) == 0
    sent = spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0)
    assert sent == sum(len(s["logRecords"]) for b in logs["body"]["resourceLogs"] for s in b["scopeLogs"])


def test_a_bug_while_handling_an_export_is_answered_500_and_the_next_request_still_works(
    redis, tmp_path, monkeypatch
):
    broken = receiver(redis, tmp_path)
    real_export = broken.export
    calls = []

    def export(**kwargs):
        calls.append(kwargs["path"])
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_export(**kwargs)

    monkeypatch.setattr(broken, "export", export)
    request = REQUESTS[0]
    body, headers = request_body(request, encoding="json")
    with receiver_running(broken) as server:
        client = Client(server.server_port)
        first = client.post(request["path"], body, headers)
        assert first.status == 500 and b"internal error" in first.body
        assert client.post(request["path"], body, headers).status == 200

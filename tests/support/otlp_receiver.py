"""An OTLP receiver for tests: the real server (telemetry/capture/otlp_receiver.py) on a free port in a
thread, and a keep-alive client that posts the fixture's requests to it."""

import gzip
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from telemetry.capture.otlp_decode import protobuf_from_json
from telemetry.capture.otlp_receiver import OtlpServer, Receiver, server_make

from .otel import otlp_json_bytes


@contextmanager
def receiver_running(receiver: Receiver) -> Iterator[OtlpServer]:
    """The server on 127.0.0.1, port chosen by the kernel (server.server_port); stopped on exit."""
    server = server_make(bind="127.0.0.1", port=0, receiver=receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def request_body(request: dict, *, encoding: str, gzipped: bool = False) -> tuple[bytes, dict[str, str]]:
    """A fixture request's body and headers, as an exporter would send it in `encoding`."""
    signal = request["path"].rsplit("/", 1)[1]
    if encoding == "protobuf":
        body = protobuf_from_json(request["body"], signal=signal)
        headers = {"Content-Type": "application/x-protobuf"}
    else:
        body = otlp_json_bytes(request)
        headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


class Client:
    """One keep-alive connection, as Claude Code's exporter keeps one."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str], *, method: str = "POST") -> Answer:
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = Answer(response.status, response.getheader("Content-Type") or "", response.read())
        if response.will_close:
            self.connection.close()
        return answer

    def close(self) -> None:
        self.connection.close()

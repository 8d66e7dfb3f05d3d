"""The OTLP/HTTP receiver behind `manage.py runotlp`: Claude Code's OpenTelemetry exports in, envelopes
on `telemetry:events` out (docs/wire-format.md, "OpenTelemetry events").

Guarantees:
- All or nothing per request: every envelope of one export goes to Redis in one MULTI/EXEC, or the
  whole request goes to the spool (runcapture replays it), so no export is ever half-stored.
- Fast answers: Claude Code holds its exit up to ~2 s on a receiver that does not answer, and never
  retries. Redis gets REDIS_TIMEOUT_S in all (no retries); a Redis that is down or frozen costs one
  timeout, then the request is spooled and still answered 200. Only when even the spool cannot be
  written (disk full) is the answer 503, and the exporter's data is lost, as it would be anyway.
- Bad input gets a 4xx with a message and stores nothing (otlp_decode says which).

The counters in wire.OTLP_METRICS (requests, records, refused, errors, spooled) are best-effort: they
ride along in the same transaction on success and are written after the reply otherwise.
"""

import logging
import socket
import socketserver
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..wire import EVENTS_STREAM, OTLP_METRICS
from .otlp_decode import (
    JSON,
    PROTOBUF,
    OtlpError,
    encoding_of,
    export_decode,
    inflated,
    response_body,
    status_body,
)
from .otlp_records import SIGNALS, otlp_envelopes
from .privacy import Privacy
from .spool import spool_append

logger = logging.getLogger(__name__)

SPOOL_NAME = "otel"  # $BLUEPLANE_HOME/spool/otel.jsonl, replayed by runcapture like the hooks' files
# A local Redis stores a request's few hundred entries in a few ms; past this it is frozen or gone. More
# than the hook's 50 ms (one entry): a request carries up to a few hundred, and Claude Code waits ~2 s.
REDIS_TIMEOUT_S = 0.2
MAX_BYTES_DEFAULT = 8 * 1024 * 1024
PATHS = {f"/v1/{signal}": signal for signal in SIGNALS}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    # Counter increments for OTLP_METRICS that still have to be written (none when the store wrote them).
    counters: dict[str, int] = field(default_factory=dict)


def redis_client_otlp(url: str, *, timeout_s: float = REDIS_TIMEOUT_S) -> redis.Redis:
    """A client that gives up after `timeout_s` and never retries: the exporter is waiting."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


@dataclass
class Receiver:
    """What one OTLP request becomes; the HTTP server around it only moves bytes."""

    client: redis.Redis
    home: str
    privacy: Privacy
    max_bytes: int = MAX_BYTES_DEFAULT
    stream: str = EVENTS_STREAM

    def export(
        self, *, path: str, content_type: str | None, content_encoding: str | None, body: bytes
    ) -> Reply:
        """Answer one POST. Never raises for what the client sent: errors are replies."""
        signal = PATHS.get(path.partition("?")[0])
        encoding = encoding_guess(content_type)
        try:
            if signal is None:
                raise OtlpError(
                    404, f"no such path {path[:80]!r}: POST to /v1/logs, /v1/metrics or /v1/traces"
                )
            encoding = encoding_of(content_type)
            if len(body) > self.max_bytes:
                raise OtlpError(413, f"body over {self.max_bytes} bytes")
            doc = export_decode(
                inflated(body, content_encoding=content_encoding, max_bytes=self.max_bytes),
                signal=signal,
                encoding=encoding,
            )
            try:
                conversion = otlp_envelopes(
                    doc, signal=signal, privacy=self.privacy, capture_ns=time.time_ns()
                )
            except ValueError as exc:
                raise OtlpError(400, str(exc)) from None
        except OtlpError as exc:
            return error_reply(exc, encoding=encoding)
        counters = {
            f"requests:{signal}": 1,
            f"records:{signal}": len(conversion.envelopes),
            f"refused:{signal}": conversion.rejected,
        }
        lines = [orjson.dumps(envelope) for envelope in conversion.envelopes]
        try:
            stored = self.store(lines, counters)
        except OSError as exc:
            logger.error("otlp: neither Redis nor the spool took %d records: %s", len(lines), exc)
            return error_reply(OtlpError(503, "cannot store the export now (disk full?)"), encoding=encoding)
        return Reply(
            200,
            response_body(
                signal=signal, encoding=encoding, rejected=conversion.rejected, message=conversion.message
            ),
            PROTOBUF if encoding == "protobuf" else JSON,
            {} if stored else {**counters, "spooled": 1},
        )

    def store(self, lines: list[bytes], counters: dict[str, int]) -> bool:
        """Every line to the stream in one transaction (with the counters); True. When Redis cannot take
        them: all of them to the spool; False. Raises OSError when the spool fails too."""
        try:
            pipe = self.client.pipeline(transaction=True)
            for line in lines:
                pipe.xadd(self.stream, {"event": line})
            for name, n in counters.items():
                if n:
                    pipe.hincrby(OTLP_METRICS, name, n)
            pipe.execute()
            return True
        except redis.RedisError as exc:
            # A timeout may come after Redis applied the transaction: the spooled copy is then a second
            # delivery of the same ids, which the store ignores.
            logger.warning("otlp: redis unavailable (%s); spooling %d records", exc, len(lines))
        if lines:
            # One write: the lines of one request land together, never interleaved with another's.
            spool_append(self.home, b"\n".join(lines), name=SPOOL_NAME)
        return False

    def count(self, counters: dict[str, int]) -> None:
        """Add to OTLP_METRICS, best-effort (the reply has gone out already)."""
        if not counters:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, n in counters.items():
                if n:
                    pipe.hincrby(OTLP_METRICS, name, n)
            pipe.execute()
        except redis.RedisError:
            pass


def encoding_guess(content_type: str | None) -> str:
    """The encoding an error reply is written in: protobuf for a protobuf request, else JSON."""
    return "protobuf" if "protobuf" in (content_type or "").lower() else "json"


def error_reply(exc: OtlpError, *, encoding: str) -> Reply:
    return Reply(
        exc.status,
        status_body(code=exc.status, message=exc.message, encoding=encoding),
        PROTOBUF if encoding == "protobuf" else JSON,
        {f"errors:{exc.status}": 1},
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the exporter sends its three signals on one connection
    # An idle keep-alive connection holds a thread: closed after this long. Long, because an exporter
    # that reuses a connection just as it is closed loses that export (Claude Code never retries).
    timeout = 300
    # The reply goes out as two writes (head, body): with Nagle's algorithm the second waits for the
    # client's delayed ACK, up to 40 ms a request.
    disable_nagle_algorithm = True
    server: "OtlpServer"

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        try:
            reply = self.server.receiver.export(
                path=self.path,
                content_type=self.headers.get("Content-Type"),
                content_encoding=self.headers.get("Content-Encoding"),
                body=body,
            )
        except Exception:  # a bug of ours: answered and logged, so the exporter is not left waiting
            logger.exception("otlp: the export to %s could not be handled", self.path[:80])
            encoding = encoding_guess(self.headers.get("Content-Type"))
            reply = error_reply(OtlpError(500, "internal error: see the receiver's log"), encoding=encoding)
        self._send(reply)
        self.server.receiver.count(reply.counters)

    def _refuse(self) -> None:
        known = self.path.partition("?")[0] in PATHS
        status, message = (
            (405, f"method {self.command} not allowed: POST only") if known else (404, "no such path")
        )
        self.close_connection = True  # whatever body came with it is not read
        self._send(error_reply(OtlpError(status, message), encoding="json"), allow=known)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse

    def _body(self) -> bytes | None:
        """The request body, or None when a reply (411/413/400) has been sent instead."""
        limit = self.server.receiver.max_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            self._reply_error(OtlpError(411, "Content-Length required"))
            return None
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._reply_error(OtlpError(400, "bad Content-Length"))
            return None
        if length > limit:
            # Not read: the connection closes after the reply instead.
            self.close_connection = True
            self._reply_error(OtlpError(413, f"body over {limit} bytes"))
            return None
        return self.rfile.read(length)

    def _chunked(self, limit: int) -> bytes | None:
        out = bytearray()
        try:
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return bytes(out)
                if len(out) + size > limit:
                    self.close_connection = True
                    self._reply_error(OtlpError(413, f"body over {limit} bytes"))
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(8)
        except ValueError:
            self.close_connection = True
            self._reply_error(OtlpError(400, "bad chunked body"))
            return None

    def _reply_error(self, exc: OtlpError) -> None:
        reply = error_reply(exc, encoding=encoding_guess(self.headers.get("Content-Type")))
        self._send(reply)
        self.server.receiver.count(reply.counters)

    def _send(self, reply: Reply, *, allow: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if allow:
            self.send_header("Allow", "POST")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("otlp: " + format, *args)  # one line per request is noise at INFO


class OtlpServer(ThreadingHTTPServer):
    """A thread per connection; connections are kept alive between requests."""

    daemon_threads = True  # a stop does not wait on an idle keep-alive connection
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own also looks the host's name up (getfqdn), which can wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def server_make(*, bind: str, port: int, receiver: Receiver) -> OtlpServer:
    """The bound server (serve_forever() runs it). Raises OSError when the address is taken."""
    return OtlpServer((bind, port), receiver)

"""OTLP/HTTP request bodies into the OTLP/JSON shape otlp_records reads, and replies back out.

A body is JSON (`application/json`) or protobuf (`application/x-protobuf`, `application/protobuf`),
plain or gzip (`Content-Encoding: gzip`). Protobuf is parsed with the `opentelemetry-proto` messages and
turned into the dict OTLP/JSON would have given, by message_dict(): protobuf's own JSON mapping
(json_format) spells trace and span ids in base64 where OTLP/JSON spells them in hex, and costs ~3x
the conversion itself; enums stay integers and int64 stays an int, which the converter reads as it
reads OTLP/JSON's strings.

Every failure is an OtlpError carrying the HTTP status and a one-line message: 415 for an encoding
we do not read, 413 for a body over the limit, compressed or once inflated (a gzip bomb stops at the
limit, it is never inflated whole), 400 for a body that does not parse.
"""

import base64
import zlib
from dataclasses import dataclass

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
CONTENT_TYPES = {JSON: "json", PROTOBUF: "protobuf", "application/protobuf": "protobuf"}

# signal: (request message, response message, the response's partial-success count field)
MESSAGES: dict[str, tuple[type[Message], type[Message], str]] = {
    "logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "rejected_log_records",
    ),
    "metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "rejected_spans",
    ),
}
# Where bytes fields (ids) sit in each export: (path of list keys down to the record, id keys).
_ID_PATHS = {
    "logs": (("resourceLogs", "scopeLogs", "logRecords"), ("traceId", "spanId")),
    "traces": (("resourceSpans", "scopeSpans", "spans"), ("traceId", "spanId", "parentSpanId")),
}


@dataclass
class OtlpError(Exception):
    """A request the receiver refuses: its HTTP status and a one-line message for the reply."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def encoding_of(content_type: str | None) -> str:
    """`json` or `protobuf` for a Content-Type header (parameters such as charset ignored)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in CONTENT_TYPES:
        shown = media[:80] or "none"
        raise OtlpError(
            415, f"unsupported content type {shown!r}: send application/json or application/x-protobuf"
        )
    return CONTENT_TYPES[media]


def inflated(body: bytes, *, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body without its Content-Encoding (gzip or none), at most `max_bytes` once inflated."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise OtlpError(415, f"unsupported content encoding {coding[:40]!r}: send gzip or none")
    out = bytearray()
    rest = body
    try:
        while rest:  # gzip allows several members one after another
            inflater = zlib.decompressobj(wbits=31)
            chunk = inflater.decompress(rest, max_bytes + 1 - len(out))
            out += chunk
            if len(out) > max_bytes:
                raise OtlpError(413, f"body over {max_bytes} bytes once inflated")
            if not inflater.eof:
                # Either the output limit stopped it (inflating more would pass the limit) or the data
                # ended early.
                if inflater.unconsumed_tail:
                    raise OtlpError(413, f"body over {max_bytes} bytes once inflated")
                raise OtlpError(400, "gzip body cut short")
            rest = inflater.unused_data
    except zlib.error as exc:
        raise OtlpError(400, f"gzip body does not inflate: {exc}") from None
    return bytes(out)


def export_decode(body: bytes, *, signal: str, encoding: str) -> dict:
    """An export (already inflated) as the OTLP/JSON dict. Raises OtlpError(400) when it does not parse."""
    if encoding == "json":
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OtlpError(400, f"body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise OtlpError(400, f"body is a JSON {type(doc).__name__}, not an OTLP export object")
        return doc
    request_type = MESSAGES[signal][0]
    try:
        message = request_type.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OtlpError(400, f"body is not an OTLP {signal} protobuf export: {exc}") from None
    return message_dict(message)


# Bytes fields that OTLP/JSON spells in hex; any other bytes (AnyValue.bytesValue) stay base64.
_HEX_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def message_dict(message: Message) -> dict:
    """A message as its OTLP/JSON object: the fields that are set, by their JSON names."""
    out = {}
    for descriptor, value in message.ListFields():
        name = descriptor.json_name
        kind = descriptor.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            value = [message_dict(v) for v in value] if descriptor.is_repeated else message_dict(value)
        elif kind == FieldDescriptor.TYPE_BYTES:
            spell = bytes.hex if name in _HEX_FIELDS else _base64
            value = [spell(v) for v in value] if descriptor.is_repeated else spell(value)
        elif descriptor.is_repeated:
            value = list(value)
        out[name] = value
    return out


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def protobuf_from_json(doc: dict, *, signal: str) -> bytes:
    """The protobuf body of an OTLP/JSON export (hex ids), as an exporter using http/protobuf sends it:
    for tests and the benchmark, which replay the recorded JSON both ways."""
    copy = orjson.loads(orjson.dumps(doc))
    _ids_respelled(copy, signal, _hex_to_base64)
    message = json_format.ParseDict(copy, MESSAGES[signal][0](), ignore_unknown_fields=True)
    return message.SerializeToString()


def response_body(*, signal: str, encoding: str, rejected: int, message: str) -> bytes:
    """The Export*ServiceResponse: empty on full success, else its partialSuccess."""
    if encoding == "protobuf":
        response = MESSAGES[signal][1]()
        if rejected or message:
            setattr(response.partial_success, MESSAGES[signal][2], rejected)
            response.partial_success.error_message = message
        return response.SerializeToString()
    if not (rejected or message):
        return b"{}"
    field = {"logs": "rejectedLogRecords", "metrics": "rejectedDataPoints", "traces": "rejectedSpans"}[signal]
    # int64 in OTLP/JSON is a string.
    return orjson.dumps({"partialSuccess": {field: str(rejected), "errorMessage": message}})


def status_body(*, code: int, message: str, encoding: str) -> bytes:
    """An error reply: google.rpc.Status (`code` field 1, `message` field 2), encoded by hand for
    protobuf (two fields do not warrant another package), as JSON otherwise."""
    if encoding != "protobuf":
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _ids_respelled(doc: dict, signal: str, spell) -> None:
    if signal not in _ID_PATHS:
        return
    (top, scopes, items), keys = _ID_PATHS[signal]
    for block in _dicts(doc.get(top)):
        for scope in _dicts(block.get(scopes)):
            for record in _dicts(scope.get(items)):
                _respell(record, keys, spell)
                for link in _dicts(record.get("links")):
                    _respell(link, ("traceId", "spanId"), spell)


def _respell(record: dict, keys: tuple[str, ...], spell) -> None:
    for key in keys:
        if isinstance(record.get(key), str) and record[key]:
            record[key] = spell(record[key])


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return value

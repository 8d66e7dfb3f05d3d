"""GET /api/v1/export/: sessions and their derived rows over a span as JSON, JSON Lines, CSV or Parquet,
streamed: rows come from a database cursor (telemetry.selectors.export) and leave as they are written, so
the response never holds the export whole, whatever its size.

- json: one document, {"span": {...}, "sessions": [...], "turns": [...], "tool_calls": [...],
  "code_changes": [...]}, written incrementally (one table with table=...).
- jsonl: JSON Lines, one row per line with its table named: {"table": "turns", ...}.
- csv and parquet hold one table each (table=sessions by default): a header and the rows; a Parquet
  file written record batch by record batch (each a row group), money as decimal(18, 8), times as UTC
  timestamps.
Children name their session by `platform` and `session_id`, so the tables join."""

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from telemetry.selectors import export

from ..errors import ErrorSerializer
from .base import Choice, ReportParams, ReportView, parsed

FORMATS = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
TABLE_CHOICES = ("all", *export.TABLES)
FLUSH_BYTES = 64 * 1024  # what the text formats gather before handing a piece to the server
BATCH_ROWS = 10_000  # rows per Parquet record batch (and row group)


class ExportParams(ReportParams):
    format = Choice(choices=tuple(FORMATS), default="json", help_text="the file's format")
    table = Choice(
        choices=TABLE_CHOICES,
        required=False,
        help_text="which table: all (json and jsonl only; their default) or one (csv and parquet hold "
        "one; default sessions)",
    )

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        one_table = attrs["format"] in ("csv", "parquet")
        table = attrs.get("table") or ("sessions" if one_table else "all")
        if one_table and table == "all":
            raise serializers.ValidationError(
                {"table": f"a {attrs['format']} file holds one table: choose one of {list(export.TABLES)}"}
            )
        attrs["tables"] = list(export.TABLES) if table == "all" else [table]
        return attrs


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # money as a JSON number, as every answer of the API writes it
    raise TypeError


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default)


def _pieces(parts: Iterable[bytes]) -> Iterator[bytes]:
    """Small writes gathered into pieces of about FLUSH_BYTES."""
    buffer: list[bytes] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= FLUSH_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _records(table: str, sessions: Any) -> Iterator[dict]:
    names = [name for name, _, _ in export.TABLES[table]]
    for row in export.export_rows(table=table, sessions=sessions):
        yield dict(zip(names, row, strict=True))


def json_document(values: dict, sessions: Any) -> Iterator[bytes]:
    days = values["local_days"]
    yield b'{"span":' + _dumps({"since": days.since, "until": days.until, "tz": days.tz})
    for table in values["tables"]:
        yield b',"' + table.encode() + b'":['
        first = True
        for record in _records(table, sessions):
            yield (b"" if first else b",") + _dumps(record)
            first = False
        yield b"]"
    yield b"}\n"


def json_lines(values: dict, sessions: Any) -> Iterator[bytes]:
    for table in values["tables"]:
        for record in _records(table, sessions):
            yield _dumps({"table": table, **record}) + b"\n"


def _csv_cell(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "time":
        return value.isoformat()
    if kind == "bool":
        return "true" if value else "false"
    if kind == "json":
        return orjson.dumps(value).decode()
    return value


def csv_table(values: dict, sessions: Any) -> Iterator[bytes]:
    (table,) = values["tables"]
    columns = export.TABLES[table]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([name for name, _, _ in columns])
    for row in export.export_rows(table=table, sessions=sessions):
        writer.writerow([_csv_cell(v, kind) for v, (_, _, kind) in zip(row, columns, strict=True)])
        if text.tell() >= FLUSH_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


_ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "cost": pa.decimal128(18, 8),  # Decimal(16, 8) columns, exact
    "time": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "json": pa.string(),
}


class _Drain:
    """A file pyarrow writes to whose bytes are taken away as they come: `take()` returns what was
    written since the last call, so the Parquet file leaves in pieces while it is being written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        part = bytes(data)
        self._parts.append(part)
        self._position += len(part)
        return len(part)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts = []
        return out


def parquet_table(values: dict, sessions: Any) -> Iterator[bytes]:
    (table,) = values["tables"]
    columns = export.TABLES[table]
    schema = pa.schema([(name, _ARROW_TYPES[kind]) for name, _, kind in columns])
    json_columns = [i for i, (_, _, kind) in enumerate(columns) if kind == "json"]
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    rows: list[tuple] = []

    def batch() -> pa.RecordBatch:
        cells = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
        arrays = []
        for i, (_, _, kind) in enumerate(columns):
            column = cells[i]
            if i in json_columns:
                column = [None if v is None else orjson.dumps(v).decode() for v in column]
            arrays.append(pa.array(column, type=_ARROW_TYPES[kind]))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    for row in export.export_rows(table=table, sessions=sessions):
        rows.append(row)
        if len(rows) >= BATCH_ROWS:
            writer.write_batch(batch())
            rows = []
            yield sink.take()
    if rows:
        writer.write_batch(batch())
    writer.close()
    yield sink.take()


def _next_piece(pieces: Iterator[bytes]) -> bytes | None:
    return next(pieces, None)


async def _served_async(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The pieces for an ASGI server, each made in the request's thread (where its database connection
    is). Django would read a synchronous iterator whole into a list before sending the first byte."""
    step = sync_to_async(_next_piece, thread_sensitive=True)
    while (piece := await step(pieces)) is not None:
        yield piece


WRITERS = {"json": json_document, "jsonl": json_lines, "csv": csv_table, "parquet": parquet_table}


class ExportView(ReportView):
    @extend_schema(
        operation_id="export",
        summary="Export sessions and their turns, tool calls and code changes (JSON, JSON Lines, CSV, Parquet)",
        description="The sessions with activity in the span, with all their rows, streamed. json: one "
        'document {"span", "sessions", "turns", "tool_calls", "code_changes"}; jsonl: one row a line with '
        'its "table"; csv and parquet: one table (table=...). Children name their session by platform '
        "and session_id.",
        parameters=[ExportParams],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            400: OpenApiResponse(ErrorSerializer, description="a parameter is not valid"),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        values = parsed(ExportParams, request)
        days = values["local_days"]
        sessions = export.export_sessions(
            start=days.start, end=days.end, platform=values.get("platform"), project_key=values.get("project")
        )
        fmt = values["format"]
        body = WRITERS[fmt](values, sessions)
        pieces = body if fmt == "parquet" else _pieces(body)
        if isinstance(request._request, ASGIRequest):
            pieces = _served_async(pieces)
        response = StreamingHttpResponse(pieces, content_type=FORMATS[fmt])
        what = values["tables"][0] if len(values["tables"]) == 1 else "export"
        name = f"blueplane-{what}-{days.since}-{days.until}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

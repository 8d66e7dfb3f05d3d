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

from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from telemetry.selectors import export, export_formats
from telemetry.selectors.export_formats import FLUSH_BYTES

from ..errors import ErrorSerializer
from .base import Choice, ReportParams, ReportView, parsed, people_of

FORMATS = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
TABLE_CHOICES = ("all", *export.TABLES)


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


def _next_piece(pieces: Iterator[bytes]) -> bytes | None:
    return next(pieces, None)


async def _served_async(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The pieces for an ASGI server, each made in the request's thread (where its database connection
    is). Django would read a synchronous iterator whole into a list before sending the first byte."""
    step = sync_to_async(_next_piece, thread_sensitive=True)
    while (piece := await step(pieces)) is not None:
        yield piece


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
            start=days.start, end=days.end, platform=values.get("platform"), project_key=values.get("project"),
            **people_of(values),
        )  # fmt: skip
        fmt = values["format"]
        body = export_formats.WRITERS[fmt](values, sessions)
        pieces = body if fmt == "parquet" else _pieces(body)
        if isinstance(request._request, ASGIRequest):
            pieces = _served_async(pieces)
        response = StreamingHttpResponse(pieces, content_type=FORMATS[fmt])
        what = values["tables"][0] if len(values["tables"]) == 1 else "export"
        name = f"blueplane-{what}-{days.since}-{days.until}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

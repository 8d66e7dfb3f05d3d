"""The export's file formats: sessions and their derived rows (telemetry.selectors.export) as JSON, JSON
Lines, CSV, Markdown or Parquet, made piece by piece from a database cursor, so no table is ever whole
in memory. The API's GET /api/v1/export/ sends them and `blueplane export` writes them to a file, so
both give the same bytes for the same span and filters.

Each writer takes (values, sessions): `values["local_days"]` (spans.LocalDays) and `values["tables"]`
(names in export.TABLES; CSV, Markdown and Parquet hold one), and the sessions QuerySet. Money is a JSON
number in JSON, exact decimal(18, 8) in Parquet; times are ISO 8601 or UTC timestamps.
"""

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson

from . import export

FLUSH_BYTES = 64 * 1024  # what the text formats gather before handing a piece on
BATCH_ROWS = 10_000  # rows per Parquet record batch (and row group)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # money as a JSON number, as every answer of the API writes it
    raise TypeError


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default)


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


def _arrow_types() -> dict:
    import pyarrow as pa  # ~0.15 s: only for a Parquet file

    return {
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = _arrow_types()
    (table,) = values["tables"]
    columns = export.TABLES[table]
    schema = pa.schema([(name, arrow_types[kind]) for name, _, kind in columns])
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
            arrays.append(pa.array(column, type=arrow_types[kind]))
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


def _md_cell(value: object, kind: str) -> str:
    """A Markdown table cell: the CSV's text, with pipes escaped and line breaks as spaces."""
    if value is None:
        return ""
    if kind == "time":
        text = value.isoformat()
    elif kind == "bool":
        text = "true" if value else "false"
    elif kind == "json":
        text = orjson.dumps(value).decode()
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(values: dict, sessions: object) -> Iterator[bytes]:
    """One table as a GitHub-flavoured Markdown table, numbers right-aligned."""
    (table,) = values["tables"]
    columns = export.TABLES[table]
    yield ("| " + " | ".join(name for name, _, _ in columns) + " |\n").encode()
    yield (
        "|" + "|".join("---:" if kind in ("int", "cost") else "---" for _, _, kind in columns) + "|\n"
    ).encode()
    for row in export.export_rows(table=table, sessions=sessions):
        cells = (_md_cell(v, kind) for v, (_, _, kind) in zip(row, columns, strict=True))
        yield ("| " + " | ".join(cells) + " |\n").encode()


WRITERS = {"json": json_document, "jsonl": json_lines, "csv": csv_table, "md": markdown_table,
           "parquet": parquet_table}  # fmt: skip

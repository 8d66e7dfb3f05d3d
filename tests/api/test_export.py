"""GET /api/v1/export/ over the real corpus: every format round-trips to the stored rows (a large export:
tests/api/test_export_large.py)."""

import csv
import io
import json
from datetime import datetime
from decimal import Decimal

import orjson
import pyarrow.parquet as pq
import pytest
from django.http import StreamingHttpResponse

from telemetry.models import Session
from telemetry.selectors import export
from telemetry.selectors.spans import LocalDays

pytestmark = pytest.mark.django_db

SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
COUNTS = {"sessions": 21, "turns": 95, "tool_calls": 42, "code_changes": 13}


def stored(table: str) -> list[dict]:
    """What the export should hold: the selector's rows, values as Python has them."""
    days = LocalDays(datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date(), "UTC")
    names = [name for name, _, _ in export.TABLES[table]]
    sessions = export.export_sessions(start=days.start, end=days.end)
    return [dict(zip(names, row, strict=True)) for row in export.export_rows(table=table, sessions=sessions)]


def typed(table: str, row: dict, *, text: bool) -> dict:
    """A row read back from a file, in the types the database gave: from JSON (text=False) or CSV
    (text=True, where every value is a string and an empty one is null)."""
    out = {}
    for name, _, kind in export.TABLES[table]:
        value = row[name]
        if text and value == "" and kind != "str":
            value = None
        elif value is None:
            pass
        elif kind == "time":
            value = datetime.fromisoformat(value)
        elif kind == "cost":
            value = Decimal(value if text else repr(value))
        elif kind == "int" and text:
            value = int(value)
        elif kind == "bool" and text:
            value = {"true": True, "false": False}[value]
        elif kind == "json" and text:
            value = json.loads(value)
        out[name] = value
    return out


def body(response) -> bytes:
    assert response.status_code == 200, response.content[:300]
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def test_json_is_one_document_of_every_table(corpus, client):
    response = client.get("/api/v1/export/", SPAN)
    assert response["Content-Type"] == "application/json"
    assert 'filename="blueplane-export-2026-11-01-2026-11-30.json"' in response["Content-Disposition"]
    document = json.loads(body(response))
    assert document["span"] == SPAN
    assert {table: len(document[table]) for table in export.TABLES} == COUNTS
    for table in export.TABLES:
        assert [typed(table, r, text=False) for r in document[table]] == stored(table), table


def test_json_lines_name_each_rows_table(corpus, client):
    response = client.get("/api/v1/export/", {**SPAN, "format": "jsonl"})
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body(response).splitlines()]
    for table in export.TABLES:
        rows = [{k: v for k, v in r.items() if k != "table"} for r in lines if r["table"] == table]
        assert [typed(table, r, text=False) for r in rows] == stored(table), table
    assert len(lines) == sum(COUNTS.values())


@pytest.mark.parametrize("table", list(export.TABLES))
def test_csv_holds_one_table_with_its_header(corpus, client, table):
    response = client.get("/api/v1/export/", {**SPAN, "format": "csv", "table": table})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(body(response).decode()))
    assert reader.fieldnames == [name for name, _, _ in export.TABLES[table]]
    assert [typed(table, r, text=True) for r in reader] == stored(table)


@pytest.mark.parametrize("table", list(export.TABLES))
def test_parquet_reads_back_with_pyarrow(corpus, client, table):
    response = client.get("/api/v1/export/", {**SPAN, "format": "parquet", "table": table})
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    read = pq.read_table(io.BytesIO(body(response)))
    assert read.column_names == [name for name, _, _ in export.TABLES[table]]
    rows = read.to_pylist()
    for row in rows:
        for name, _, kind in export.TABLES[table]:
            if kind == "json" and row[name] is not None:
                row[name] = orjson.loads(row[name])
    assert rows == stored(table)


def test_filters_and_an_empty_span(corpus, client):
    session = Session.objects.get(session_id="8c01be02-d679-455c-bd81-be73213afb61")
    one = json.loads(body(client.get("/api/v1/export/", {**SPAN, "project": session.project.key})))
    assert [s["session_id"] for s in one["sessions"]] == [session.session_id]
    assert {t["session_id"] for t in one["tool_calls"]} == {session.session_id}
    assert json.loads(body(client.get("/api/v1/export/", {**SPAN, "platform": "cursor"})))["turns"] == []
    empty = {"since": "2020-01-01", "until": "2020-01-31"}
    assert (
        pq.read_table(
            io.BytesIO(body(client.get("/api/v1/export/", {**empty, "format": "parquet"})))
        ).num_rows
        == 0
    )
    assert body(client.get("/api/v1/export/", {**empty, "format": "csv"})).count(b"\r\n") == 1  # the header
    only = json.loads(body(client.get("/api/v1/export/", {**SPAN, "table": "code_changes"})))
    assert set(only) == {"span", "code_changes"} and len(only["code_changes"]) == 13


@pytest.mark.parametrize(
    "params",
    [{"format": "xlsx"}, {"format": "csv", "table": "all"}, {"format": "parquet", "table": "all"},
     {"table": "raw_traces"}, {"format": "x" * 2**20}, {"since": "9999-12-31", "until": "0001-01-01"}],
)  # fmt: skip
def test_bad_parameters_are_a_json_400_before_anything_streams(client, params):
    response = client.get("/api/v1/export/", params)
    assert response.status_code == 400 and not response.streaming
    assert response["Content-Type"] == "application/json" and len(response.json()["message"]) < 1000


def test_an_export_holds_no_raw_event(corpus, client, django_assert_max_num_queries):
    with django_assert_max_num_queries(4) as queries:
        body(client.get("/api/v1/export/", SPAN))
    sql = " ".join(q["sql"] for q in queries.captured_queries).lower()
    assert "raw_traces" not in sql and "raw_chunk" not in sql

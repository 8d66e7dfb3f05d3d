"""A large GET /api/v1/export/ streams: pieces made from a database cursor while the response is read, in
bounded memory, also when an ASGI server asks for it."""

import csv
import io
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import AsyncClient

from telemetry.connections import redis_client
from telemetry.models import Session, Turn
from tests.api.test_export import COUNTS, SPAN
from tests.conftest import corpus_load

pytestmark = pytest.mark.django_db


BULK = 40_000


@pytest.fixture(scope="module")
def many_turns(django_db_setup, django_db_blocker, redis_server) -> Iterator[int]:
    """The corpus and BULK more turns in one of its sessions: an export far larger than one piece or chunk.
    Made once for the module's tests (it took most of each one's time), in a transaction rolled back after
    the last of them; each test's own transaction is a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        client = redis_client()
        client.flushdb()  # as the redis fixture leaves it, before and after
        corpus_load(client)
        client.flushdb()
        yield many_turns_add()
        transaction.set_rollback(True)


def many_turns_add() -> int:
    session = Session.objects.get(session_id="8c01be02-d679-455c-bd81-be73213afb61")
    conversation = session.conversations.get()
    t0 = datetime(2026, 11, 25, 11, tzinfo=UTC)
    Turn.objects.bulk_create(
        Turn(
            session=session,
            conversation=conversation,
            project=session.project,
            key=f"bulk:{i}",
            kind="user_prompt",
            timestamp=t0 + timedelta(milliseconds=i),
            hour=t0,
            chars=i,
            lines=1,
            detail={"sources": ["transcript"]},
        )
        for i in range(BULK)
    )
    return COUNTS["turns"] + BULK


PARSE = {
    "json": lambda data: json.loads(data)["turns"],
    "jsonl": lambda data: [json.loads(line) for line in data.splitlines()],
    "csv": lambda data: list(csv.DictReader(io.StringIO(data.decode()))),
}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_a_large_export_streams_in_bounded_memory(
    many_turns, client, tmp_path, fmt, django_assert_max_num_queries
):
    written = tmp_path / f"turns.{fmt}"
    with (
        django_assert_max_num_queries(4),
        written.open("wb") as out,
    ):  # one query per table, whatever the rows
        response = client.get("/api/v1/export/", {**SPAN, "format": fmt, "table": "turns"})
        assert response.streaming and not hasattr(response, "content")
        tracemalloc.start()
        try:
            pieces = peak = 0
            for piece in response.streaming_content:
                pieces += 1
                out.write(piece)
                peak = max(peak, tracemalloc.get_traced_memory()[1])
                del piece
        finally:
            tracemalloc.stop()
    size = written.stat().st_size
    assert size > 6 * 2**20 and pieces > 100
    # The export passed through whole, but at no moment was more than a fraction of it in memory.
    assert peak < size / 3, (peak, size)
    rows = PARSE[fmt](written.read_bytes())
    assert len(rows) == many_turns and rows[-1]["key"] == f"bulk:{BULK - 1}"


def test_a_large_parquet_export_is_written_batch_by_batch(many_turns, client):
    response = client.get("/api/v1/export/", {**SPAN, "format": "parquet", "table": "turns"})
    pieces = list(response.streaming_content)
    assert len(pieces) >= 5  # a piece per record batch, and the footer
    read = pq.ParquetFile(io.BytesIO(b"".join(pieces)))
    assert read.metadata.num_rows == many_turns and read.metadata.num_row_groups >= 4


def test_an_asgi_server_gets_the_pieces_as_they_are_made(many_turns):
    async def fetch() -> tuple[bool, int, int]:
        response = await AsyncClient().get("/api/v1/export/", {**SPAN, "format": "jsonl", "table": "turns"})
        pieces = lines = 0
        async for piece in response.streaming_content:
            pieces += 1
            lines += piece.count(b"\n")
        return response.is_async, pieces, lines

    is_async, pieces, lines = async_to_sync(fetch)()
    # Django would read a synchronous iterator into one list before the first byte under ASGI.
    assert is_async and pieces > 100 and lines == many_turns

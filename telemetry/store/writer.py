"""Writes one batch of compressed units and their index rows in one database transaction.

Guarantee: either the whole batch commits or nothing does (and on PostgreSQL the slow path reads none
of it before it commits: horizon.py); an event id already stored is skipped
(ON CONFLICT DO NOTHING on its unique key), so redelivered entries never make a second row. The
writer never reads a table. It uses executemany over raw SQL because the ORM's bulk_create is several
times slower on this path (measured).
"""

import time

from django.db import connection, transaction

from ..models import RAW_TRACE_MODELS
from .codec import Codec
from .horizon import raw_writes_begin
from .layout import ROW_COLUMNS, StoredUnit

_PLACEHOLDERS = ", ".join(["%s"] * len(ROW_COLUMNS))
INSERT_ROW = {
    platform: f"INSERT INTO {model._meta.db_table} ({', '.join(ROW_COLUMNS)}) VALUES ({_PLACEHOLDERS}) "
    "ON CONFLICT (event_key) DO NOTHING"
    for platform, model in RAW_TRACE_MODELS.items()
}
_CHUNK_COLUMNS = "platform, session_id, codec_id, n_events, raw_bytes, created_ms, sealed, body"
_CHUNK_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s)"
_INSERT_CHUNKS = (
    f"INSERT INTO raw_chunks ({_CHUNK_COLUMNS}) VALUES {{values}} RETURNING id, platform, session_id"
)
_INSERT_CHUNK = f"INSERT INTO raw_chunks ({_CHUNK_COLUMNS}) VALUES {_CHUNK_VALUES} RETURNING id"


def chunks_insert(cursor, chunks: list[tuple]) -> dict[tuple[str, str], int]:
    """Insert units in one statement. Returns their ids by (platform, session_id), which is unique
    within a batch (RETURNING does not promise row order, so ids are matched by key)."""
    sql = _INSERT_CHUNKS.format(values=", ".join([_CHUNK_VALUES] * len(chunks)))
    cursor.execute(sql, [value for chunk in chunks for value in chunk])
    return {(platform, session_id): chunk_id for chunk_id, platform, session_id in cursor.fetchall()}


def unit_insert(
    cursor, *, platform: str, session_id: str, codec: Codec, events: list[bytes], sealed: bool
) -> int:
    """Compress events (in order) into one unit and insert it. Returns its id. For re-packing and
    archive import; the fast path inserts a batch's units in one statement (chunks_insert)."""
    cursor.execute(
        _INSERT_CHUNK,
        (
            platform,
            session_id,
            codec.id,
            len(events),
            sum(map(len, events)),
            int(time.time() * 1000),
            sealed,
            codec.pack(events),
        ),
    )
    return cursor.fetchone()[0]


def batch_write(units: list[StoredUnit], codec_id: int) -> int:
    """Store the units and index rows in one transaction. Returns how many events were new."""
    now_ms = int(time.time() * 1000)
    chunks = [
        (u.platform, u.session_id, codec_id, len(u.rows), u.raw_bytes, now_ms, False, u.blob) for u in units
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        raw_writes_begin(cursor)
        chunk_ids = chunks_insert(cursor, chunks)
        rows: dict[str, list[tuple]] = {}
        for unit in units:
            chunk_id = chunk_ids[(unit.platform, unit.session_id)]
            rows.setdefault(unit.platform, []).extend(
                (*row, chunk_id, pos) for pos, row in enumerate(unit.rows)
            )
        inserted = 0
        for platform, platform_rows in rows.items():
            cursor.executemany(INSERT_ROW[platform], platform_rows)
            inserted += max(cursor.rowcount, 0)
    return inserted

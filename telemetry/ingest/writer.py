"""Writes one batch of compressed units and their index rows in one database transaction.

Guarantee: either the whole batch commits or nothing does; an event id already stored is skipped
(ON CONFLICT DO NOTHING on its unique key), so redelivered entries never make a second row. The
writer never reads a table. It uses executemany over raw SQL because the ORM's bulk_create is several
times slower on this path (measured).
"""

import time

from django.db import connection, transaction

from ..models import RAW_TRACE_MODELS
from .batching import Unit
from .codec import Codec

ROW_COLUMNS = (
    "event_key, session_key, source, event_type, ts_ms, model, tool_name, input_tokens, output_tokens, "
    "cache_write_tokens, cache_read_tokens, duration_ms, lines_added, lines_removed, raw_bytes, "
    "chunk_id, chunk_pos"
)
_PLACEHOLDERS = ", ".join(["%s"] * 17)
INSERT_ROW = {
    platform: f"INSERT INTO {model._meta.db_table} ({ROW_COLUMNS}) VALUES ({_PLACEHOLDERS}) "
    "ON CONFLICT (event_key) DO NOTHING"
    for platform, model in RAW_TRACE_MODELS.items()
}
_CHUNK_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s)"
_INSERT_CHUNKS = (
    "INSERT INTO raw_chunks (platform, session_id, codec_id, n_events, raw_bytes, created_ms, sealed, body) "
    "VALUES {values} RETURNING id, platform, session_id"
)


def chunks_insert(cursor, chunks: list[tuple]) -> dict[tuple[str, str], int]:
    """Insert units in one statement. Returns their ids by (platform, session_id), which is unique
    within a batch (RETURNING does not promise row order, so ids are matched by key)."""
    sql = _INSERT_CHUNKS.format(values=", ".join([_CHUNK_VALUES] * len(chunks)))
    cursor.execute(sql, [value for chunk in chunks for value in chunk])
    return {(platform, session_id): chunk_id for chunk_id, platform, session_id in cursor.fetchall()}


def units_compress(units: list[Unit], codec: Codec) -> list[bytes]:
    """One compressed blob per unit (done before the transaction, so the write lock is held briefly)."""
    return [codec.pack([e.raw for e in unit.events]) for unit in units]


def batch_write(units: list[Unit], blobs: list[bytes], codec: Codec) -> int:
    """Store the units and index rows in one transaction. Returns how many events were new."""
    now_ms = int(time.time() * 1000)
    chunks = [
        (
            u.platform,
            u.session_id,
            codec.id,
            len(u.events),
            sum(len(e.raw) for e in u.events),
            now_ms,
            False,
            blob,
        )
        for u, blob in zip(units, blobs, strict=True)
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        chunk_ids = chunks_insert(cursor, chunks)
        rows: dict[str, list[tuple]] = {}
        for unit in units:
            chunk_id = chunk_ids[(unit.platform, unit.session_id)]
            rows.setdefault(unit.platform, []).extend(
                (
                    e.event_key,
                    e.session_key,
                    e.source,
                    e.event_type,
                    e.ts_ms,
                    e.model,
                    e.tool_name,
                    e.input_tokens,
                    e.output_tokens,
                    e.cache_write_tokens,
                    e.cache_read_tokens,
                    e.duration_ms,
                    e.lines_added,
                    e.lines_removed,
                    len(e.raw),
                    chunk_id,
                    pos,
                )
                for pos, e in enumerate(unit.events)
            )
        inserted = 0
        for platform, platform_rows in rows.items():
            cursor.executemany(INSERT_ROW[platform], platform_rows)
            inserted += max(cursor.rowcount, 0)
    return inserted

"""The shape of a raw trace row, defined once for the writer, the archive and the fast path's batches."""

from dataclasses import dataclass

# The index columns of a raw trace row, in the order the fast path lays them out (batching.index_row).
INDEX_COLUMNS = (
    "event_key",
    "session_key",
    "source",
    "event_type",
    "ts_ms",
    "model",
    "tool_name",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "duration_ms",
    "lines_added",
    "lines_removed",
    "raw_bytes",
)
# A stored row: the index columns, then where the event's bytes are (its unit and position in it).
ROW_COLUMNS = (*INDEX_COLUMNS, "chunk_id", "chunk_pos")


@dataclass(slots=True)
class StoredUnit:
    """One unit ready to insert: its compressed events and their index rows (INDEX_COLUMNS), in unit
    order."""

    platform: str
    session_id: str
    raw_bytes: int
    blob: bytes
    rows: list[tuple]

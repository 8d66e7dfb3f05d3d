"""Archiving old raw traces to Parquet files, and reading them back.

Off unless BLUEPLANE_ARCHIVE_AFTER_DAYS is set: by default history stays in the database forever.

Guarantee: an event leaves the database only after a durable copy exists. A run
  1. picks whole units (raw_chunks) whose events are all older than the cutoff and already applied by
     the slow path (seq <= the session's watermark), so the live path never needs them again;
  2. writes them to a new Parquet file (temporary name, fsync, rename, fsync of the folder);
  3. in one transaction, checks the rows still point where they did (the re-packer may have moved
     them meanwhile; such units are left for the next run) and deletes the rows and their units.
A crash after 2 leaves the events in both places; readers drop copies by event key, so that is only
wasted space. Files are never rewritten (every run adds new ones), except by a purge, which writes a
file again without the purged sessions (archive_sessions_remove).

Each row of a file is one event: platform, session_id, seq, the raw index columns and `event`, the
bytes exactly as the producer sent them. Sorted by (session_id, seq), so a session's rows sit
together and Parquet's row-group statistics skip the rest when one session is read back.

`rebuild` reads a session's archived events back (archive_session_restore) and `blueplane import
archive PATH` puts files back into the raw tables (archive_import); both keep the original seq where
it is free, so merged with the live rows the events replay in their original order.
"""

import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction

from ..models import RAW_TRACE_MODELS, RawChunk, SessionProgress
from .codec import REPACK
from .keys import event_key, event_key_bounds, timestamp_ms
from .layout import INDEX_COLUMNS, ROW_COLUMNS
from .progress import session_progress_record
from .units import chunk_events
from .writer import unit_insert

logger = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("platform", pa.string()),
        ("session_id", pa.string()),
        ("seq", pa.int64()),
        ("event_key", pa.binary()),
        ("session_key", pa.int64()),
        ("source", pa.string()),
        ("event_type", pa.string()),
        ("ts_ms", pa.int64()),
        ("model", pa.string()),
        ("tool_name", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("duration_ms", pa.int64()),
        ("lines_added", pa.int64()),
        ("lines_removed", pa.int64()),
        ("raw_bytes", pa.int64()),
        ("event", pa.binary()),
    ]
)
_IN_CHUNK = 500  # ids per IN (...) list: under SQLite's bound-parameter limit
_IMPORT_BATCH = 10_000  # rows of a file read (and held) at a time by archive_import


def archive_dir() -> Path:
    return Path(settings.BLUEPLANE_ARCHIVE_DIR)


def archive_files(root: Path | None = None) -> list[Path]:
    """Every archive file under root (default: the archive folder), oldest name first; a file itself."""
    root = Path(root or archive_dir())
    if root.is_file():
        return [root]
    return sorted(root.rglob("*.parquet")) if root.exists() else []


# --- writing ----------------------------------------------------------------------------------------


@dataclass
class _Selection:
    rows: list[dict] = field(default_factory=list)  # one per event, SCHEMA's columns
    pointers: dict[int, tuple[int, int]] = field(default_factory=dict)  # seq -> (chunk, pos)
    chunks: set[int] = field(default_factory=set)


def _select(platform: str, cutoff_ms: int, max_events: int) -> _Selection:
    model = RAW_TRACE_MODELS[platform]
    _, hi = event_key_bounds(0, cutoff_ms)
    # event_key starts with the event time: old events are a range of the unique index.
    keys = list(model.objects.filter(event_key__lt=hi).values_list("session_key", flat=True).distinct())
    sel = _Selection()
    for skey in keys:
        if len(sel.rows) >= max_events:
            break
        rows = list(
            model.objects.filter(session_key=skey)
            .order_by("seq")
            .values_list("seq", "chunk_id", "chunk_pos", *INDEX_COLUMNS)
        )
        by_chunk: dict[int, list[tuple]] = defaultdict(list)
        for row in rows:
            by_chunk[row[1]].append(row)
        units = dict(RawChunk.objects.filter(id__in=list(by_chunk)).values_list("id", "session_id"))
        if not units:
            continue
        session_id = next(iter(units.values()))
        watermark = (
            SessionProgress.objects.filter(platform=platform, session_id=session_id)
            .values_list("processed_seq", flat=True)
            .first()
            or 0
        )
        ts_at = 3 + INDEX_COLUMNS.index("ts_ms")
        chosen = [
            cid
            for cid, crows in by_chunk.items()
            if cid in units and all(r[ts_at] < cutoff_ms and r[0] <= watermark for r in crows)
        ]
        bodies = RawChunk.objects.filter(id__in=chosen).values_list("id", "codec_id", "body")
        events = {cid: chunk_events(cid, codec_id, body) for cid, codec_id, body in bodies}
        for cid in chosen:
            if cid not in events:
                continue  # re-packed away since the read: the next run takes it
            sel.chunks.add(cid)
            for seq, _cid, pos, *index in by_chunk[cid]:
                row = dict(zip(INDEX_COLUMNS, index, strict=True))
                row.update(platform=platform, session_id=session_id, seq=seq, event=events[cid][pos])
                row["event_key"] = bytes(row["event_key"])
                sel.rows.append(row)
                sel.pointers[seq] = (cid, pos)
    sel.rows.sort(key=lambda r: (r["session_id"], r["seq"]))
    return sel


def _fsync_write(path: Path, table: pa.Table) -> None:
    """Write a Parquet file durably: temporary name, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    with open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd", row_group_size=10_000)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _delete(platform: str, sel: _Selection) -> int:
    """Delete the archived rows and units, in one transaction, if they have not moved. Returns rows
    deleted."""
    model = RAW_TRACE_MODELS[platform]
    table = model._meta.db_table
    seqs = list(sel.pointers)
    with transaction.atomic():
        now: dict[int, tuple[int, int]] = {}
        for i in range(0, len(seqs), _IN_CHUNK):
            part = seqs[i : i + _IN_CHUNK]
            now.update(
                (s, (c, p))
                for s, c, p in model.objects.filter(seq__in=part).values_list("seq", "chunk_id", "chunk_pos")
            )
        moved = {c for s, (c, _p) in sel.pointers.items() if now.get(s) != sel.pointers[s]}
        doomed = [s for s, (c, _p) in sel.pointers.items() if c not in moved]
        chunks = [c for c in sel.chunks if c not in moved]
        with connection.cursor() as cursor:
            for i in range(0, len(doomed), _IN_CHUNK):
                part = doomed[i : i + _IN_CHUNK]
                cursor.execute(f"DELETE FROM {table} WHERE seq IN ({', '.join(['%s'] * len(part))})", part)
        for i in range(0, len(chunks), _IN_CHUNK):
            RawChunk.objects.filter(id__in=chunks[i : i + _IN_CHUNK]).delete()
    return len(doomed)


def raw_traces_archive(
    *, older_than_days: int | None = None, now: datetime | None = None, max_events: int = 100_000
) -> int:
    """Move raw events older than the configured age to a new Parquet file per platform. Returns how
    many events left the database; 0 when archiving is off or nothing is old enough."""
    days = settings.BLUEPLANE_ARCHIVE_AFTER_DAYS if older_than_days is None else older_than_days
    if days is None:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    cutoff_ms = int(cutoff.timestamp() * 1000)
    moved = 0
    for platform in RAW_TRACE_MODELS:
        sel = _select(platform, cutoff_ms, max_events)
        if not sel.rows:
            continue
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = archive_dir() / platform / f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        _fsync_write(path, pa.Table.from_pylist(sel.rows, schema=SCHEMA))
        deleted = _delete(platform, sel)
        moved += deleted
        logger.info(
            "archived %d %s events to %s (%d left for the next run)",
            deleted,
            platform,
            path,
            len(sel.rows) - deleted,
        )
    return moved


# --- reading ----------------------------------------------------------------------------------------


class ArchiveUnreadable(ValueError):
    """A file that is not one of our Parquet archives; the message names it and says why."""


def _read(path: Path, filters: list | None = None) -> pa.Table:
    try:
        return pq.read_table(path, schema=SCHEMA, filters=filters)
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveUnreadable(f"{path}: not a readable Blueplane archive ({exc})") from None


def _read_batches(path: Path, rows: int) -> Iterator[list[dict]]:
    """A file's rows, `rows` at a time (a whole file can be larger than memory should hold)."""
    try:
        batches = ds.dataset(path, schema=SCHEMA, format="parquet").to_batches(batch_size=rows)
        for batch in batches:
            yield batch.to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveUnreadable(f"{path}: not a readable Blueplane archive ({exc})") from None


def archive_rows(
    *, root: Path | None = None, platform: str | None = None, session_id: str | None = None
) -> Iterator[dict]:
    """Archived events (dicts of SCHEMA's columns), each event key once, files in name order."""
    filters = []
    if platform:
        filters.append(("platform", "=", platform))
    if session_id:
        filters.append(("session_id", "=", session_id))
    seen: set[bytes] = set()
    for path in archive_files(root):
        for row in _read(path, filters or None).to_pylist():
            if row["event_key"] in seen:
                continue
            seen.add(row["event_key"])
            yield row


def archive_sessions(*, root: Path | None = None) -> set[tuple[str, str]]:
    """(platform, session_id) of every session with archived events."""
    out: set[tuple[str, str]] = set()
    for path in archive_files(root):
        t = pq.read_table(path, columns=["platform", "session_id"])
        out.update(zip(t.column("platform").to_pylist(), t.column("session_id").to_pylist(), strict=True))
    return out


def archive_session_events(
    *, platform: str, session_id: str, root: Path | None = None
) -> list[tuple[int, bytes]]:
    """(seq, event bytes) of a session's archived events, in seq order."""
    rows = archive_rows(root=root, platform=platform, session_id=session_id)
    return sorted((r["seq"], r["event"]) for r in rows)


# --- putting events back ------------------------------------------------------------------------------


@dataclass
class ArchiveImport:
    """What archive_import did: events put back, and the sessions they belong to."""

    events: int = 0
    skipped: int = 0  # already in the raw tables
    sessions: set[tuple[str, str]] = field(default_factory=set)
    seqs: dict[str, list[int]] = field(default_factory=dict)  # platform -> seqs inserted


def _existing(model, column: str, values: list) -> set:
    found: set = set()
    for i in range(0, len(values), _IN_CHUNK):
        found.update(
            bytes(v) if isinstance(v, memoryview) else v
            for v in model.objects.filter(**{f"{column}__in": values[i : i + _IN_CHUNK]}).values_list(
                column, flat=True
            )
        )
    return found


def _rows_restore(rows: Iterable[dict], result: ArchiveImport) -> None:
    """Insert archived events that are missing from the raw tables, keeping each one's seq where free.
    One transaction per unit written (at most REPACK_MAX_UNIT_EVENTS events), so the write lock is held
    briefly whatever the size of a session; an interrupted restore is finished by running it again
    (what is stored is skipped by its event key)."""
    by_session: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        by_session[(row["platform"], row["session_id"])].append(row)
    unit_events = settings.REPACK_MAX_UNIT_EVENTS
    for (platform, session_id), srows in sorted(by_session.items()):
        model = RAW_TRACE_MODELS[platform]
        table = model._meta.db_table
        srows.sort(key=lambda r: r["seq"])
        stored = _existing(model, "event_key", [r["event_key"] for r in srows])
        fresh = [r for r in srows if r["event_key"] not in stored]
        result.skipped += len(srows) - len(fresh)
        if not fresh:
            continue
        taken = _existing(model, "seq", [r["seq"] for r in fresh])
        inserted: list[int] = []
        for start in range(0, len(fresh), unit_events):
            part = fresh[start : start + unit_events]
            with transaction.atomic(), connection.cursor() as cursor:
                chunk_id = unit_insert(
                    cursor,
                    platform=platform,
                    session_id=session_id,
                    codec=REPACK,
                    events=[r["event"] for r in part],
                    sealed=True,
                )
                cols = ", ".join(ROW_COLUMNS)
                for pos, r in enumerate(part):
                    values = [r[c] for c in INDEX_COLUMNS] + [chunk_id, pos]
                    if r["seq"] in taken:  # another event holds that seq here: take a new one
                        cursor.execute(
                            f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(values))}) "
                            "RETURNING seq",
                            values,
                        )
                    else:
                        cursor.execute(
                            f"INSERT INTO {table} (seq, {cols}) VALUES ({', '.join(['%s'] * (len(values) + 1))}) "
                            "RETURNING seq",
                            [r["seq"], *values],
                        )
                    inserted.append(cursor.fetchone()[0])
                if connection.vendor == "postgresql":
                    # Explicit ids do not advance PostgreSQL's sequence; later inserts must not collide.
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'seq'), "
                        f"GREATEST((SELECT MAX(seq) FROM {table}), 1))"
                    )
        result.seqs.setdefault(platform, []).extend(inserted)
        result.events += len(inserted)
        result.sessions.add((platform, session_id))
        session_progress_record(platform=platform, session_id=session_id)


def archive_import(path: Path | str) -> ArchiveImport:
    """Put the events of an archive file (or of every file under a folder) back into the raw tables.
    Idempotent: events already stored (same event key) are skipped. The sessions it touched are
    returned; their watermarks are left alone, so catch them up (what `blueplane import archive` does)
    for sessions whose derived rows are missing. A file is read and written a batch of rows at a time."""
    result = ArchiveImport()
    for file in archive_files(Path(path)):
        for rows in _read_batches(file, _IMPORT_BATCH):
            for r in rows:
                if r["event_key"] is None:  # a file from elsewhere without keys: recompute them
                    try:
                        envelope = orjson.loads(r["event"])
                        r["event_key"] = event_key(envelope["event_id"], timestamp_ms(envelope["timestamp"]))
                    except (ValueError, KeyError, TypeError):
                        continue
            _rows_restore(rows, result)
    return result


def archive_session_restore(*, platform: str, session_id: str, root: Path | None = None) -> ArchiveImport:
    """Put one session's archived events back into the raw tables (for a rebuild), original seqs kept.
    Returns what was inserted, so the caller can remove it again (archive_restored_remove)."""
    result = ArchiveImport()
    _rows_restore(archive_rows(root=root, platform=platform, session_id=session_id), result)
    return result


def archive_restored_remove(result: ArchiveImport) -> int:
    """Delete rows archive_session_restore inserted, and their units (the archive keeps the copy)."""
    removed = 0
    with transaction.atomic():
        for platform, seqs in result.seqs.items():
            model = RAW_TRACE_MODELS[platform]
            chunk_ids: set[int] = set()
            for i in range(0, len(seqs), _IN_CHUNK):
                part = seqs[i : i + _IN_CHUNK]
                chunk_ids.update(model.objects.filter(seq__in=part).values_list("chunk_id", flat=True))
                removed += model.objects.filter(seq__in=part)._raw_delete(connection.alias)
            ids = list(chunk_ids)
            for i in range(0, len(ids), _IN_CHUNK):
                RawChunk.objects.filter(id__in=ids[i : i + _IN_CHUNK]).delete()
    return removed


# --- removing sessions (purge) ------------------------------------------------------------------------


def _sessions_mask(path: Path, sessions: set[tuple[str, str]]) -> list[bool]:
    """Per row of the file, whether it belongs to one of the sessions."""
    t = _read_columns(path, ["platform", "session_id"])
    pairs = zip(t.column("platform").to_pylist(), t.column("session_id").to_pylist(), strict=True)
    return [pair in sessions for pair in pairs]


def _read_columns(path: Path, columns: list[str]) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveUnreadable(f"{path}: not a readable Blueplane archive ({exc})") from None


def archive_sessions_count(sessions: set[tuple[str, str]], *, root: Path | None = None) -> tuple[int, int]:
    """(events, files) the archive holds of these (platform, session_id) sessions."""
    events = files = 0
    for path in archive_files(root):
        n = sum(_sessions_mask(path, sessions))
        events += n
        files += n > 0
    return events, files


def archive_sessions_remove(sessions: set[tuple[str, str]], *, root: Path | None = None) -> tuple[int, int]:
    """Remove these sessions' events from every archive file: a file holding some is written again
    without them (temporary name, fsync, rename, as when it was made) or deleted when nothing is left.
    The one case where a file is rewritten: the user asked for the events to be gone. Returns (events,
    files) removed or rewritten; running it again finds nothing."""
    events = files = 0
    for path in archive_files(root):
        mask = _sessions_mask(path, sessions)
        n = sum(mask)
        if not n:
            continue
        if n == len(mask):
            path.unlink()
        else:
            kept = _read(path).filter(pa.array([not m for m in mask]))
            _fsync_write(path, kept)
        events += n
        files += 1
        logger.info("removed %d purged events from archive %s", n, path)
    return events, files

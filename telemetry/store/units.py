"""Reading raw events back from their compressed units: one event, or a session's events after a seq.

Units can be re-packed between two queries (repack.py moves rows to new units and deletes the old
ones), so a reader that finds a unit gone reads the row pointers again.
"""

from collections.abc import Iterator
from functools import cache

import orjson

from ..models import RAW_TRACE_MODELS, RawChunk, RawCodec
from .codec import BUILTIN, Codec
from .keys import session_key

_RETRIES = 3


@cache
def codec_get(codec_id: int) -> Codec:
    """A codec by id: built into this code, else rebuilt from the dictionary stored in the database."""
    if codec_id in BUILTIN:
        return BUILTIN[codec_id]
    row = RawCodec.objects.get(id=codec_id)
    _name, _, level = row.name.partition("@")
    return Codec(
        id=row.id, name=row.name, level=int(level or 3), dictionary=bytes(row.dictionary or b"") or None
    )


def chunk_events(chunk_id: int, codec_id: int, body: bytes) -> list[bytes]:
    return codec_get(codec_id).unpack(bytes(body))


def _chunks_load(chunk_ids: set[int]) -> dict[int, list[bytes]]:
    rows = RawChunk.objects.filter(id__in=chunk_ids).values_list("id", "codec_id", "body")
    return {cid: chunk_events(cid, codec_id, body) for cid, codec_id, body in rows}


def event_raw(*, platform: str, seq: int) -> bytes | None:
    """The stored bytes of one event, or None if there is no such row."""
    model = RAW_TRACE_MODELS[platform]
    for _ in range(_RETRIES):
        pointer = model.objects.filter(seq=seq).values_list("chunk_id", "chunk_pos").first()
        if pointer is None:
            return None
        chunks = _chunks_load({pointer[0]})
        if pointer[0] in chunks:
            return chunks[pointer[0]][pointer[1]]
    raise RuntimeError(f"{platform} event {seq}: its unit kept moving; is the re-packer looping?")


def event_load(*, platform: str, seq: int) -> dict | None:
    """One event as the producer sent it (decoded JSON), or None."""
    raw = event_raw(platform=platform, seq=seq)
    return None if raw is None else orjson.loads(raw)


def session_events(
    *,
    platform: str,
    session_id: str,
    after_seq: int = 0,
    through_seq: int | None = None,
    limit: int | None = None,
) -> list[tuple[int, bytes]]:
    """(seq, raw bytes) of a session's events with after_seq < seq <= through_seq (None: no upper
    bound), in seq order."""
    model = RAW_TRACE_MODELS[platform]
    for _ in range(_RETRIES):
        qs = model.objects.filter(session_key=session_key(session_id), seq__gt=after_seq)
        if through_seq is not None:
            qs = qs.filter(seq__lte=through_seq)
        qs = qs.order_by("seq")
        if limit is not None:
            qs = qs[:limit]
        pointers = list(qs.values_list("seq", "chunk_id", "chunk_pos"))
        chunks = _chunks_load({c for _, c, _ in pointers})
        if all(c in chunks for _, c, _ in pointers):
            return [(seq, chunks[c][pos]) for seq, c, pos in pointers]
    raise RuntimeError(f"{platform} session {session_id}: its units kept moving; is the re-packer looping?")


def session_events_iter(
    *, platform: str, session_id: str, after_seq: int = 0, through_seq: int | None = None, page: int = 5000
) -> Iterator[tuple[int, bytes]]:
    """All of a session's events after a seq (and through another), read a page at a time."""
    while True:
        rows = session_events(
            platform=platform, session_id=session_id, after_seq=after_seq, through_seq=through_seq, limit=page
        )
        yield from rows
        if len(rows) < page:
            return
        after_seq = rows[-1][0]


def events_after(
    *, platform: str, after_seq: int, through_seq: int | None = None, limit: int = 1000
) -> list[tuple[int, bytes]]:
    """(seq, raw bytes) of a platform's events with after_seq < seq <= through_seq, in seq order, at most
    `limit` (the forwarder's read: telemetry/forward). On SQLite seq order is commit order; on
    PostgreSQL pass horizon.raw_horizon()'s seq as through_seq."""
    model = RAW_TRACE_MODELS[platform]
    for _ in range(_RETRIES):
        qs = model.objects.filter(seq__gt=after_seq)
        if through_seq is not None:
            qs = qs.filter(seq__lte=through_seq)
        pointers = list(qs.order_by("seq").values_list("seq", "chunk_id", "chunk_pos")[:limit])
        chunks = _chunks_load({c for _, c, _ in pointers})
        if all(c in chunks for _, c, _ in pointers):
            return [(seq, chunks[c][pos]) for seq, c, pos in pointers]
    raise RuntimeError(
        f"{platform} events after {after_seq}: their units kept moving; is the re-packer looping?"
    )


def events_count_after(*, platform: str, after_seq: int) -> int:
    """How many of a platform's events come after a seq (the forwarder's backlog)."""
    return RAW_TRACE_MODELS[platform].objects.filter(seq__gt=after_seq).count()

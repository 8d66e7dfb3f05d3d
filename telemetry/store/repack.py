"""Re-packing: merge the small per-batch units of a quiet session into large ones.

A live fast path flushes every 100 ms and a batch usually holds one or two events of a session, which
compress only ~4x alone; units of many events of one session compress 7x or more. Once a session has
written nothing for REPACK_AFTER_S, its unsealed units are merged (in seq order) into sealed units of
at most REPACK_MAX_UNIT_EVENTS events, in one transaction per session: the new units are written,
the rows re-pointed and the old units deleted together, so a reader sees either the old or the new
layout. Re-packing changes where bytes live, never what an event is or its seq.
"""

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from ..models import RAW_TRACE_MODELS, RawChunk
from .codec import REPACK, Codec
from .keys import session_key
from .units import chunk_events
from .writer import unit_insert

logger = logging.getLogger(__name__)


def sessions_to_repack(*, quiet_before_ms: int, limit: int) -> list[tuple[str, str]]:
    """Sessions whose unsealed units are all older than quiet_before_ms."""
    rows = (
        RawChunk.objects.filter(sealed=False)
        .values("platform", "session_id")
        .annotate(newest=Max("created_ms"))
        .filter(newest__lt=quiet_before_ms)
        .order_by("newest")[:limit]
    )
    return [(r["platform"], r["session_id"]) for r in rows]


def session_repack(*, platform: str, session_id: str, max_unit_events: int, codec: Codec = REPACK) -> int:
    """Merge a session's unsealed units into sealed ones. Returns the number of units written."""
    model = RAW_TRACE_MODELS[platform]
    table = model._meta.db_table
    with transaction.atomic():
        old = list(
            RawChunk.objects.filter(platform=platform, session_id=session_id, sealed=False).values_list(
                "id", "codec_id", "body"
            )
        )
        if not old:
            return 0
        old_ids = {cid for cid, _, _ in old}
        events = {cid: chunk_events(cid, codec_id, body) for cid, codec_id, body in old}
        pointers = list(
            model.objects.filter(session_key=session_key(session_id), chunk_id__in=old_ids)
            .order_by("seq")
            .values_list("seq", "chunk_id", "chunk_pos")
        )
        written = 0
        moves: list[tuple[int, int, int]] = []
        with connection.cursor() as cursor:
            for start in range(0, len(pointers), max_unit_events):
                part = pointers[start : start + max_unit_events]
                new_id = unit_insert(
                    cursor,
                    platform=platform,
                    session_id=session_id,
                    codec=codec,
                    events=[events[c][pos] for _, c, pos in part],
                    sealed=True,
                )
                moves.extend((new_id, pos, seq) for pos, (seq, _, _) in enumerate(part))
                written += 1
            cursor.executemany(f"UPDATE {table} SET chunk_id = %s, chunk_pos = %s WHERE seq = %s", moves)
        # Units no row points at (a batch whose events were all duplicates) go too.
        RawChunk.objects.filter(id__in=old_ids).delete()
    return written


def units_repack(
    *, older_than_s: int | None = None, max_unit_events: int | None = None, limit: int = 200
) -> int:
    """Re-pack every quiet session (up to limit per call). Returns units written."""
    older_than_s = settings.REPACK_AFTER_S if older_than_s is None else older_than_s
    max_unit_events = max_unit_events or settings.REPACK_MAX_UNIT_EVENTS
    quiet_before_ms = int(time.time() * 1000) - older_than_s * 1000 + (1 if older_than_s == 0 else 0)
    written = 0
    for platform, session_id in sessions_to_repack(quiet_before_ms=quiet_before_ms, limit=limit):
        written += session_repack(platform=platform, session_id=session_id, max_unit_events=max_unit_events)
    if written:
        logger.info("re-packed raw traces into %d units", written)
    return written

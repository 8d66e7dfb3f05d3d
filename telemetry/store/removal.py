"""Removing sessions from the raw store for good (`blueplane purge`): their index rows, their compressed
units and their bookkeeping row.

Runs in the caller's transaction, so the raw rows leave together with the derived rows built from them
(telemetry.processing.purge). A unit holds one session's events only, so removing a session's units
touches no other session. Rows are found by their session key (indexed) and kept to the session's own
units, so two sessions whose ids share a 64-bit digest never take each other's rows. Running it again
finds nothing.
"""

from collections.abc import Iterable

from django.db import connection

from ..models import RAW_TRACE_MODELS, RawChunk, SessionProgress
from .keys import session_key

_IN_CHUNK = 500  # ids per IN (...) list: under SQLite's bound-parameter limit


def _units(platform: str, session_id: str) -> list[int]:
    return list(
        RawChunk.objects.filter(platform=platform, session_id=session_id).values_list("id", flat=True)
    )


def _rows_where(units: list[int]) -> tuple[str, list]:
    return f"session_key = %s AND chunk_id IN ({', '.join(['%s'] * len(units))})", units


def raw_sessions_count(sessions: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """(events, units) the raw tables hold for these (platform, session_id) sessions."""
    events = units_n = 0
    with connection.cursor() as cursor:
        for platform, session_id in sessions:
            table = RAW_TRACE_MODELS[platform]._meta.db_table
            units = _units(platform, session_id)
            units_n += len(units)
            for i in range(0, len(units), _IN_CHUNK):
                part = units[i : i + _IN_CHUNK]
                where, params = _rows_where(part)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE {where}", [session_key(session_id), *params]
                )
                events += cursor.fetchone()[0]
    return events, units_n


def raw_sessions_delete(sessions: Iterable[tuple[str, str]]) -> tuple[int, int, int]:
    """Delete the sessions' raw events, their units and their progress rows (watermarks). Call inside a
    transaction. Returns (events, units, progress rows) deleted."""
    events = units_n = progress = 0
    with connection.cursor() as cursor:
        for platform, session_id in sessions:
            table = RAW_TRACE_MODELS[platform]._meta.db_table
            units = _units(platform, session_id)
            for i in range(0, len(units), _IN_CHUNK):
                part = units[i : i + _IN_CHUNK]
                where, params = _rows_where(part)
                cursor.execute(f"DELETE FROM {table} WHERE {where}", [session_key(session_id), *params])
                events += max(cursor.rowcount, 0)
                units_n += RawChunk.objects.filter(id__in=part)._raw_delete(connection.alias)
            progress += SessionProgress.objects.filter(platform=platform, session_id=session_id)._raw_delete(
                connection.alias
            )
    return events, units_n, progress

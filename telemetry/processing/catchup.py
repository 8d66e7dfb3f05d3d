"""The slow path's core: bring one session's derived rows up to date with its raw events, exactly once
in effect.

`session_catch_up` reads the raw events after the session's watermark (SessionProgress.processed_seq),
turns them into facts (per platform: claude.py; Cursor only feeds the session's times for now), merges
the facts into the stored rows, recomputes what is a function of the stored rows (session counters,
fork de-duplication, edit status, latencies, orphan tool results), refreshes the rollups of the
buckets it changed, and moves the watermark: all in ONE transaction. A crash anywhere rolls all of it
back; a repeat finds the watermark past its events and changes nothing. Two workers on one session
are serialised by the database: SQLite transactions BEGIN IMMEDIATE (the write lock is taken before
the watermark is read); on PostgreSQL the SessionProgress row is locked with SELECT ... FOR UPDATE.

Merges are commutative and idempotent (facts.py), and everything else is recomputed from stored rows,
so the rows do not depend on arrival order or on how the events were split into catch-ups: a rebuild
from watermark 0 gives the same rows as the live path.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import transaction

from ..models import (
    RAW_TRACE_MODELS,
)
from ..store.keys import session_key
from ..store.units import session_events_iter
from . import claude
from .facts import (
    Fact,
    IssueFact,
    Reduced,
    SessionFact,
    facts_reduce,
)
from .recompute import ORPHAN_RESULT, session_finalize
from .refresh import buckets_deferred, buckets_refresh
from .rows import Touched, facts_apply, progress_lock, sql_fetch

__all__ = ["ORPHAN_RESULT", "session_catch_up", "sessions_catch_up"]

logger = logging.getLogger(__name__)

DERIVE_ERROR = "derive_error"
PAGE_EVENTS = 5000


def _cursor_facts(*, seq: int, event: dict) -> list[Fact]:
    # TODO: Cursor derivation (composers as conversations, bubbles as turns) is not written yet; until
    # then a Cursor session only gets its first and last event times.
    ts = claude.ts_parse(event.get("timestamp"))
    session = event.get("session_id")
    if ts is None or not isinstance(session, str):
        return [IssueFact(str(session), seq, "bad_envelope", "missing session or timestamp")]
    return [SessionFact(session, ts)]


# Per platform: one stored envelope -> facts. A platform's derivation slots in here.
DERIVERS: dict[str, Callable[..., list[Fact]]] = {
    "claude_code": claude.claude_facts,
    "cursor": _cursor_facts,
}


@dataclass(frozen=True, slots=True)
class CatchUpResult:
    """What one catch-up did: events applied (0: nothing new), and the UTC hours and project ids whose
    derived rows changed (old buckets of moved rows included)."""

    applied: int
    hours: frozenset[datetime] = frozenset()
    project_ids: frozenset[int] = frozenset()


def events_derive(
    *, platform: str, events: Iterable[tuple[int, bytes]], into: Reduced | None = None
) -> Reduced:
    """Facts of raw (seq, bytes) events, reduced per entity. Never raises on bad events: each becomes a
    DataIssue fact of the session being read."""
    derive = DERIVERS[platform]
    reduced = into or Reduced()
    for seq, raw in events:
        try:
            event = orjson.loads(raw)
            facts = derive(seq=seq, event=event) if isinstance(event, dict) else None
        except Exception as exc:  # bad data must never fail the task; it is recorded instead
            logger.warning("event %s of %s could not be derived: %r", seq, platform, exc)
            facts = [IssueFact("", seq, DERIVE_ERROR, repr(exc)[:500])]
        if facts is None:
            facts = [IssueFact("", seq, "bad_envelope", "event is not a JSON object")]
        facts_reduce(facts, reduced)
    return reduced


@dataclass
class Derived:
    """A session's raw events after a watermark, read and turned into facts (no lock needed)."""

    platform: str
    session_id: str
    after_seq: int
    last_seq: int = 0
    applied: int = 0
    reduced: Reduced = field(default_factory=Reduced)


def session_derive(*, platform: str, session_id: str, after_seq: int) -> Derived:
    """Read the session's raw events after after_seq and reduce their facts."""
    derived = Derived(platform, session_id, after_seq, last_seq=after_seq)
    for seq, raw in session_events_iter(
        platform=platform, session_id=session_id, after_seq=after_seq, page=PAGE_EVENTS
    ):
        events_derive(platform=platform, events=[(seq, raw)], into=derived.reduced)
        derived.applied += 1
        derived.last_seq = seq
    return derived


def session_catch_up(*, platform: str, session_id: str, derived: Derived | None = None) -> CatchUpResult:
    """Apply the session's raw events after its watermark, in one transaction. Returns what was applied;
    `applied == 0` when a repeat finds nothing new. `derived` is what a caller read before taking the
    lock; it is used only if the watermark has not moved since (else the events are read again)."""
    with transaction.atomic():
        progress = progress_lock(platform=platform, session_id=session_id)
        if derived is None or derived.after_seq != progress.processed_seq:
            derived = session_derive(
                platform=platform, session_id=session_id, after_seq=progress.processed_seq
            )
        through = _raw_through(RAW_TRACE_MODELS[platform], session_id)
        if not derived.applied:
            if progress.raw_through_seq < through:
                progress.raw_through_seq = through
                progress.save(update_fields=["raw_through_seq", "updated_at"])
            return CatchUpResult(0)
        reduced = derived.reduced
        _issues_attribute(reduced, session_id)
        touched = Touched()
        sessions = facts_apply(platform, session_id, reduced, touched)
        for session in sorted(sessions.values(), key=lambda s: s.session_id):
            session_finalize(session, touched)
        _rollups(platform, touched)
        progress.processed_seq = derived.last_seq
        progress.raw_through_seq = max(progress.raw_through_seq, through, derived.last_seq)
        progress.save(update_fields=["processed_seq", "raw_through_seq", "updated_at"])
    hours = frozenset(h for h, _ in touched.buckets)
    return CatchUpResult(derived.applied, hours, frozenset(p for _, p in touched.buckets))


def sessions_catch_up(*, sessions: Iterable[tuple[str, str]]) -> list[CatchUpResult]:
    """Catch up several sessions in ONE transaction, refreshing each touched rollup bucket once at the
    end instead of once per session (the refresh is most of a small catch-up's cost). All or nothing:
    a failure rolls every session back, and a rerun applies them all.

    Reading and deriving the new events happens first, outside the transaction: WAL readers take no
    lock, so the fast path keeps writing meanwhile; only applying holds the write lock. A session
    whose watermark moved in between (another worker caught it up) is read again under the lock."""
    keys = sorted({(platform, sid) for platform, sid in sessions if platform in DERIVERS})
    prepared = [
        session_derive(platform=platform, session_id=sid, after_seq=_watermark(platform, sid))
        for platform, sid in keys
    ]
    with transaction.atomic(), buckets_deferred():
        return [session_catch_up(platform=d.platform, session_id=d.session_id, derived=d) for d in prepared]


def _watermark(platform: str, session_id: str) -> int:
    rows = sql_fetch(
        "SELECT processed_seq FROM session_progress WHERE platform = %s AND session_id = %s",
        [platform, session_id],
    )
    return rows[0][0] if rows else 0


def _raw_through(raw_model: type, session_id: str) -> int:
    table = raw_model._meta.db_table
    rows = sql_fetch(f"SELECT MAX(seq) FROM {table} WHERE session_key = %s", [session_key(session_id)])
    return rows[0][0] or 0


def _rollups(platform: str, touched: Touched) -> None:
    if not touched.buckets:
        return
    buckets_refresh(
        hours={h for h, _ in touched.buckets}, project_ids={p for _, p in touched.buckets}, platform=platform
    )


def _issues_attribute(reduced: Reduced, session_id: str) -> None:
    # Issues of unreadable events have no session of their own: they belong to the one being read.
    for key, issue in list(reduced.issues.items()):
        if issue.session_id != session_id:
            del reduced.issues[key]
            fixed = IssueFact(session_id, issue.seq, issue.kind, issue.detail)
            reduced.issues.setdefault(("issue", session_id, issue.seq, issue.kind), fixed)

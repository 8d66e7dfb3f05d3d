"""The slow path's core: bring sessions' derived rows up to date with their raw events, exactly once in
effect, a bounded piece at a time, one failing session never holding back another.

`session_catch_up` reads at most SLOWPATH_MAX_EVENTS raw events after the session's watermark
(SessionProgress.processed_seq), turns them into facts (per platform: claude.py, cursor.py) fitted to their columns (bounds.py), merges the facts into the stored rows,
recomputes what is a function of the stored rows (session counters, fork de-duplication, edit status,
latencies, orphan tool results), refreshes the rollups of the buckets it changed, and moves the
watermark past what it read: all in ONE transaction. A crash anywhere rolls all of it back; a repeat
finds the watermark past its events and changes nothing. A session with more events than that is
caught up in several transactions, the watermark moving with each (`CatchUpResult.more`). Two workers
on one session are serialised by the database: SQLite transactions BEGIN IMMEDIATE (the write lock is
taken before the watermark is read); on PostgreSQL the SessionProgress row is locked with SELECT ...
FOR UPDATE.

`sessions_catch_up` is one run of the task: at most SLOWPATH_MAX_SESSIONS sessions, applied in groups of
about SLOWPATH_MAX_EVENTS events, each group in one transaction with one rollup refresh per bucket.
Each session of a group is a savepoint: one that fails is rolled back alone and set aside
(failures.py says whose fault is whose and when it is tried again); if the group's shared rollup refresh
fails, the group is applied again one session per transaction, so that cannot take every session down
either. So memory and lock time are bounded by a group, whatever was imported.

Merges are commutative and idempotent (facts.py), and everything else is recomputed from stored rows,
so the rows do not depend on arrival order or on how the events were split into catch-ups: a rebuild
from watermark 0 gives the same rows as the live path.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.db import transaction

from ..models import RAW_TRACE_MODELS, SessionProgress
from ..store.horizon import raw_horizon
from ..store.keys import session_key
from ..store.units import session_events_iter
from . import claude, cursor, failures
from .bounds import event_ident, facts_fit
from .facts import Fact, IssueFact, IssueKind, Reduced, facts_attribute, facts_reduce
from .recompute import ORPHAN_RESULT, session_finalize
from .refresh import buckets_deferred, buckets_refresh
from .rows import Touched, facts_apply, progress_lock, sql_fetch

__all__ = ["ORPHAN_RESULT", "session_catch_up", "sessions_catch_up"]

logger = logging.getLogger(__name__)

DERIVE_ERROR = IssueKind.DERIVE_ERROR
PAGE_EVENTS = 5000
_IN_CHUNK = 500  # ids per IN (...) list: under SQLite's bound-parameter limit
_NEVER = datetime.min.replace(tzinfo=UTC)

SessionKey = tuple[str, str]
Horizon = dict[str, int] | None  # store/horizon.py: the newest final seq per platform; None: all are


# Per platform: one stored envelope -> facts. A platform's derivation slots in here. Its `seq` argument
# names the event: every stored copy of one event gets the same number (bounds.event_ident), so keys
# and issues built from it merge copies instead of counting them twice.
DERIVERS: dict[str, Callable[..., list[Fact]]] = {
    "claude_code": claude.claude_facts,
    "cursor": cursor.cursor_facts,
}


@dataclass(frozen=True, slots=True)
class CatchUpResult:
    """What one catch-up did: events applied (0: nothing new), the UTC hours and project ids whose
    derived rows changed (old buckets of moved rows included), and whether more events are waiting
    (it stopped at its limit)."""

    applied: int
    hours: frozenset[datetime] = frozenset()
    project_ids: frozenset[int] = frozenset()
    more: bool = False


def events_derive(
    *, platform: str, events: Iterable[tuple[int, bytes]], into: Reduced | None = None
) -> Reduced:
    """Facts of raw (seq, bytes) events, fitted to their columns and reduced per entity. Never raises on
    bad events: each becomes a DataIssue fact of the session being read."""
    derive = DERIVERS[platform]
    reduced = into or Reduced()
    for seq, raw in events:
        ident = None
        try:
            event = orjson.loads(raw)
            if isinstance(event, dict):
                reduced.otel = reduced.otel or event.get("source") == "otel"
                ident = event_ident(event.get("event_id"), raw)
                session_id = event.get("session_id")
                facts = facts_fit(
                    facts_attribute(derive(seq=ident, event=event), **_who(event)),
                    ident=ident,
                    session_id=session_id if isinstance(session_id, str) else "",
                    raw_seq=seq,  # issues name the raw row they were read from (the admin links to it)
                )
            else:
                ident = event_ident(None, raw)
                facts = [IssueFact("", ident, IssueKind.BAD_ENVELOPE, "event is not a JSON object", seq)]
        except Exception as exc:  # bad data must never fail the task; it is recorded instead
            logger.warning("event %s of %s could not be derived: %r", seq, platform, exc)
            facts = [IssueFact("", ident or event_ident(None, raw), DERIVE_ERROR, repr(exc)[:500], seq)]
        facts_reduce(facts, reduced)
    return reduced


def _who(event: dict) -> dict[str, str]:
    """The envelope's user and machine (the fast path checked them; a row stored another way is cut to
    the columns), "" when absent."""
    user, machine = event.get("user_id"), event.get("machine_id")
    return {
        "user": user[:150] if isinstance(user, str) else "",
        "machine": machine[:64] if isinstance(machine, str) else "",
    }


@dataclass
class Derived:
    """A session's raw events after a watermark, read and turned into facts (no lock needed)."""

    platform: str
    session_id: str
    after_seq: int
    last_seq: int = 0
    applied: int = 0
    reduced: Reduced = field(default_factory=Reduced)
    limited: bool = False  # stopped at its limit, not at the session's newest event


def session_derive(
    *, platform: str, session_id: str, after_seq: int, horizon: Horizon = None, limit: int | None = None
) -> Derived:
    """Read at most `limit` (default SLOWPATH_MAX_EVENTS) of the session's raw events after after_seq
    and not past the horizon (store/horizon.py), and reduce their facts."""
    limit = limit or settings.SLOWPATH_MAX_EVENTS
    derived = Derived(platform, session_id, after_seq, last_seq=after_seq)
    for seq, raw in session_events_iter(
        platform=platform,
        session_id=session_id,
        after_seq=after_seq,
        through_seq=None if horizon is None else horizon[platform],
        page=min(PAGE_EVENTS, limit),
    ):
        events_derive(platform=platform, events=[(seq, raw)], into=derived.reduced)
        derived.applied += 1
        derived.last_seq = seq
        if derived.applied >= limit:
            derived.limited = True
            break
    return derived


def session_catch_up(
    *,
    platform: str,
    session_id: str,
    derived: Derived | None = None,
    horizon: Horizon | bool = True,
    limit: int | None = None,
) -> CatchUpResult:
    """Apply at most `limit` (default SLOWPATH_MAX_EVENTS) of the session's raw events after its
    watermark, in one transaction. Returns what was applied; `applied == 0` when a repeat finds nothing
    new, `more` when events are left for another call. `derived` is what a caller read before taking
    the lock; it is used only if the watermark has not moved since (else the events are read again).
    `horizon` is the one `derived` was read under; True (the default) takes one now, before the
    transaction (store/horizon.py)."""
    if horizon is True:
        horizon = raw_horizon()
    with transaction.atomic():
        progress = progress_lock(platform=platform, session_id=session_id)
        if derived is None or derived.after_seq != progress.processed_seq:
            derived = session_derive(
                platform=platform,
                session_id=session_id,
                after_seq=progress.processed_seq,
                horizon=horizon,
                limit=limit,
            )
        through = _raw_through(RAW_TRACE_MODELS[platform], session_id)
        saved = ["raw_through_seq", "updated_at"]
        if progress.failures:
            failures.session_failure_clear(progress=progress)
            saved += ["failures", "last_error", "retry_at"]
        if not derived.applied:
            if progress.raw_through_seq < through or len(saved) > 2:
                progress.raw_through_seq = max(progress.raw_through_seq, through)
                progress.save(update_fields=saved)
            return CatchUpResult(0)
        reduced = derived.reduced
        _issues_attribute(reduced, session_id)
        touched = Touched(otel=reduced.otel)
        sessions = facts_apply(platform, session_id, reduced, touched)
        for session in sorted(sessions.values(), key=lambda s: s.session_id):
            session_finalize(session, touched)
        _rollups(platform, touched)
        progress.processed_seq = derived.last_seq
        progress.raw_through_seq = max(progress.raw_through_seq, through, derived.last_seq)
        progress.save(update_fields=["processed_seq", *saved])
    hours = frozenset(h for h, _ in touched.buckets)
    # Only what the limit left: events stored since the read have their dirty mark, and wait for the
    # next run's coalescing window like any others.
    more = derived.limited and progress.processed_seq < through
    return CatchUpResult(derived.applied, hours, frozenset(p for _, p in touched.buckets), more)


@dataclass
class CatchUpRun:
    """What one run of sessions_catch_up did with the sessions it was given: each is in exactly one of
    done (caught up through its newest event), more (applied up to the limit, more waiting), failed
    (set aside with its error, retried after a backoff), waiting (failing and not due yet: not tried)
    and left (over the run's session limit: not tried)."""

    applied: int = 0
    done: set[SessionKey] = field(default_factory=set)
    more: set[SessionKey] = field(default_factory=set)
    failed: dict[SessionKey, str] = field(default_factory=dict)
    waiting: set[SessionKey] = field(default_factory=set)
    left: set[SessionKey] = field(default_factory=set)
    # What the committed catch-ups changed (for the change record, processing/changes.py): sessions that
    # applied events, and the UTC hours and project ids of the derived rows they changed.
    changed: set[SessionKey] = field(default_factory=set)
    hours: set[datetime] = field(default_factory=set)
    project_ids: set[int] = field(default_factory=set)

    @property
    def visited(self) -> set[SessionKey]:
        return self.done | self.more | set(self.failed)

    @property
    def unfinished(self) -> set[SessionKey]:
        """Sessions with events still to apply."""
        return self.more | set(self.failed) | self.waiting | self.left


def sessions_catch_up(*, sessions: Iterable[SessionKey], now: datetime | None = None) -> CatchUpRun:
    """One bounded run over the sessions named (see the module docstring). Sessions whose retry is not
    due are skipped; of the others, those caught up least recently go first.

    Reading and deriving a group's events happens first, outside its transaction: WAL readers take no
    lock, so the fast path keeps writing meanwhile; only applying holds the write lock. A session
    whose watermark moved in between (another worker caught it up) is read again under the lock."""
    now = now or datetime.now(UTC)
    limit = settings.SLOWPATH_MAX_EVENTS
    run = CatchUpRun()
    keys = sorted({(platform, sid) for platform, sid in sessions if platform in DERIVERS})
    horizon = raw_horizon() if keys else None
    progress = _progress_read(keys)
    due = []
    for key in keys:
        retry_at = progress.get(key, (0, None, None))[1]
        if retry_at is not None and retry_at > now:
            run.waiting.add(key)
        else:
            due.append(key)
    due.sort(key=lambda k: (progress.get(k, (0, None, None))[2] or _NEVER, k))
    run.left.update(due[settings.SLOWPATH_MAX_SESSIONS :])
    group: list[Derived] = []
    events = 0
    for platform, sid in due[: settings.SLOWPATH_MAX_SESSIONS]:
        after = progress.get((platform, sid), (0, None, None))[0]
        try:
            derived = session_derive(
                platform=platform, session_id=sid, after_seq=after, horizon=horizon, limit=limit
            )
        except Exception as exc:
            if failures.fault_is_machine(exc):
                raise
            _failure(run, (platform, sid), exc, now)
            continue
        group.append(derived)
        events += derived.applied
        if events >= limit:
            _group_apply(group, run, limit, now, horizon)
            group, events = [], 0
    if group:
        _group_apply(group, run, limit, now, horizon)
    return run


def _group_apply(group: list[Derived], run: CatchUpRun, limit: int, now: datetime, horizon: Horizon) -> None:
    """Apply a group of sessions in one transaction, each in a savepoint; if the group as a whole fails
    (its shared rollup refresh), apply them again one transaction each."""
    outcome = CatchUpRun()
    try:
        with transaction.atomic(), buckets_deferred():
            for d in group:
                _session_apply(d, outcome, limit, now, horizon)
    except Exception as exc:
        if failures.fault_is_machine(exc):
            raise
        logger.warning(
            "a group of %d sessions failed as a whole (%r): applying them one by one", len(group), exc
        )
        outcome = CatchUpRun()
        for d in group:
            _session_apply(d, outcome, limit, now, horizon)
    run.applied += outcome.applied
    run.done |= outcome.done
    run.more |= outcome.more
    run.failed |= outcome.failed
    run.changed |= outcome.changed
    run.hours |= outcome.hours
    run.project_ids |= outcome.project_ids


def _session_apply(d: Derived, run: CatchUpRun, limit: int, now: datetime, horizon: Horizon) -> None:
    key = (d.platform, d.session_id)
    try:
        result = session_catch_up(
            platform=d.platform, session_id=d.session_id, derived=d, horizon=horizon, limit=limit
        )
    except Exception as exc:
        if failures.fault_is_machine(exc):
            raise
        _failure(run, key, exc, now)
        return
    run.applied += result.applied
    (run.more if result.more else run.done).add(key)
    if result.applied:
        run.changed.add(key)
        run.hours |= result.hours
        run.project_ids |= {p for p in result.project_ids if p is not None}


def _failure(run: CatchUpRun, key: SessionKey, exc: Exception, now: datetime) -> None:
    # Inside a group this joins the group's transaction (the session's own work was rolled back to its
    # savepoint); alone, it is a transaction of its own.
    logger.warning("catch-up of %s:%s failed, set aside: %r", *key, exc, exc_info=exc)
    error = failures.error_text(exc)
    with transaction.atomic():
        failures.session_failure_record(platform=key[0], session_id=key[1], error=error, now=now)
    run.failed[key] = error


def _progress_read(keys: list[SessionKey]) -> dict[SessionKey, tuple[int, datetime | None, datetime | None]]:
    """(watermark, retry_at, updated_at) of each session that has a SessionProgress row."""
    out = {}
    by_platform: dict[str, list[str]] = {}
    for platform, sid in keys:
        by_platform.setdefault(platform, []).append(sid)
    for platform, ids in by_platform.items():
        for i in range(0, len(ids), _IN_CHUNK):
            rows = SessionProgress.objects.filter(platform=platform, session_id__in=ids[i : i + _IN_CHUNK])
            for sid, *values in rows.values_list("session_id", "processed_seq", "retry_at", "updated_at"):
                out[(platform, sid)] = tuple(values)
    return out


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
            fixed = replace(issue, session_id=session_id)
            reduced.issues.setdefault(("issue", session_id, issue.seq, issue.kind), fixed)

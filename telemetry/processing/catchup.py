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
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from hashlib import blake2b

import orjson
from django.db import connection, models, transaction

from ..models import (
    RAW_TRACE_MODELS,
    ChangeStatus,
    CodeChange,
    Conversation,
    DataIssue,
    Project,
    Session,
    SessionProgress,
    SessionStatus,
    ToolCall,
    ToolStatus,
    Turn,
    TurnKind,
)
from ..store.keys import session_key
from ..store.units import session_events_iter
from . import claude
from .facts import (
    ChangeFact,
    Fact,
    IssueFact,
    Reduced,
    SessionFact,
    SessionSummary,
    ToolFact,
    TurnFact,
    change_merge,
    facts_reduce,
    tool_merge,
    turn_merge,
)
from .refresh import buckets_deferred, buckets_refresh
from .rollups import (
    ACTIVE_GAP_CAP,
    EPOCH_US_SQL,
    hour_floor,
    project_unknown_id,
)

logger = logging.getLogger(__name__)


ORPHAN_RESULT = "tool_result_without_call"
DERIVE_ERROR = "derive_error"
PAGE_EVENTS = 5000
# Turn.cost_usd has 8 decimal places: a session's cost is summed as integers of 10^-8 USD.
_COST_SCALE = 10**8


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


@dataclass
class _Touched:
    buckets: set[tuple[datetime, int]] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)

    def add(self, hour: datetime | None, project_id: int | None) -> None:
        if hour is not None and project_id is not None:
            self.buckets.add((hour, project_id))


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
        progress = _progress_lock(platform, session_id)
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
        touched = _Touched()
        sessions = _facts_apply(platform, session_id, reduced, touched)
        for session in sorted(sessions.values(), key=lambda s: s.session_id):
            _session_finalize(session, touched)
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
    rows = _fetch(
        "SELECT processed_seq FROM session_progress WHERE platform = %s AND session_id = %s",
        [platform, session_id],
    )
    return rows[0][0] if rows else 0


def _progress_lock(platform: str, session_id: str) -> SessionProgress:
    progress, _ = SessionProgress.objects.get_or_create(platform=platform, session_id=session_id)
    if connection.vendor == "postgresql":
        progress = SessionProgress.objects.select_for_update().get(pk=progress.pk)
    return progress


def _fetch(sql: str, params: list) -> list[tuple]:
    # Raw SQL for the per-catch-up reads: building an ORM query costs more than running it here.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _raw_through(raw_model: type, session_id: str) -> int:
    table = raw_model._meta.db_table
    rows = _fetch(f"SELECT MAX(seq) FROM {table} WHERE session_key = %s", [session_key(session_id)])
    return rows[0][0] or 0


def _rollups(platform: str, touched: _Touched) -> None:
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


# --- applying facts to rows ------------------------------------------------------------------------


def project_unknown() -> Project:
    project, _ = Project.objects.get_or_create(key=Project.UNKNOWN_KEY, defaults={"name": "(unknown)"})
    return project


def _project_get(key: str, name: str) -> Project:
    project, _ = Project.objects.get_or_create(key=key, defaults={"name": name})
    return project


def _session_get(platform: str, session_id: str) -> Session:
    # select_related: the summary reads session.project.key, which would otherwise be a query more.
    session = (
        Session.objects.select_related("project").filter(platform=platform, session_id=session_id).first()
    )
    if session is None:
        session, _ = Session.objects.get_or_create(
            platform=platform, session_id=session_id, defaults={"project_id": project_unknown_id()}
        )
    if session.project_id is None:
        session.project = project_unknown()
        session.save(update_fields=["project"])
    if connection.vendor == "postgresql":
        # Rows of another session (a fork's origin) are merged too: serialise on that session as well.
        # Copies only go to an ancestor, so lock order follows the fork tree and cannot cycle.
        _progress_lock(platform, session_id)
        session = Session.objects.select_for_update().get(pk=session.pk)
    return session


def _conversation_get(session: Session) -> int:
    """The id of the session's conversation (created when first needed)."""
    rows = _fetch(
        "SELECT id FROM conversations WHERE session_id = %s AND conversation_id = %s",
        [session.pk, session.session_id],
    )
    if rows:
        return rows[0][0]
    conversation, _ = Conversation.objects.get_or_create(session=session, conversation_id=session.session_id)
    return conversation.pk


def _facts_apply(platform: str, session_id: str, reduced: Reduced, touched: _Touched) -> dict[str, Session]:
    owners = {session_id} | set(reduced.sessions)
    owners |= {k[1] for k in reduced.turns} | {k[1] for k in reduced.tools} | {k[1] for k in reduced.changes}
    sessions = {sid: _session_get(platform, sid) for sid in sorted(owners)}
    for sid, summary in reduced.sessions.items():
        _session_summary_apply(sessions[sid], summary, touched)
    conversations = {sid: _conversation_get(s) for sid, s in sessions.items()}
    _rows_apply(_TURNS, sessions, conversations, list(reduced.turns.values()), touched)
    # A tool call with neither a start nor an end time has no hour to count in yet.
    tools = [f for f in reduced.tools.values() if f.started_at or f.finished_at]
    _rows_apply(_TOOLS, sessions, conversations, tools, touched)
    _rows_apply(_CHANGES, sessions, conversations, list(reduced.changes.values()), touched)
    issues = [
        DataIssue(session=sessions[i.session_id], seq=i.seq, kind=i.kind[:64], detail=i.detail[:500])
        for i in reduced.issues.values()
    ]
    DataIssue.objects.bulk_create(issues, ignore_conflicts=True)
    return sessions


def _session_summary_apply(session: Session, summary: SessionSummary, touched: _Touched) -> None:
    started_before, last_before = session.started_at, session.last_event_at
    session.started_at = summary.first_ts if started_before is None else min(started_before, summary.first_ts)
    session.last_event_at = summary.last_ts if last_before is None else max(last_before, summary.last_ts)
    # Project and branch: those of the earliest event that names one. The stored value's own time is
    # not kept, so the session's first event time stands in for it.
    if summary.project and session.project.key != summary.project[0]:
        unknown = session.project.key == Project.UNKNOWN_KEY
        if unknown or started_before is None or summary.project_ts < started_before:
            session.project = _project_get(*summary.project)
    if summary.git_branch and (
        not session.git_branch or started_before is None or summary.git_branch_ts < started_before
    ):
        session.git_branch = summary.git_branch
    if summary.parent_session_id and summary.parent_session_id != session.session_id:
        session.parent_session_id = max(session.parent_session_id, summary.parent_session_id)
    # Status is a function of the last event: ended when the newest event is a session end; a later
    # event (a resume) makes it active again, as does any event after a time-out.
    if summary.end_ts is not None and summary.end_ts >= session.last_event_at:
        session.status = SessionStatus.ENDED
        session.ended_at = summary.end_ts
        session.end_reason = summary.end_reason
    elif last_before is None or session.last_event_at > last_before:
        session.status = SessionStatus.ACTIVE
        session.ended_at = None
        session.end_reason = ""
    session.save()
    touched.sessions.add(session.id)
    touched.add(hour_floor(session.started_at), session.project_id)
    touched.add(hour_floor(session.last_event_at), session.project_id)


def _turn_fact(row: Turn) -> TurnFact:
    detail = dict(row.detail or {})
    rank = detail.pop("rank", None)
    return TurnFact(
        session_id="",
        key=row.key,
        kind=row.kind,
        timestamp=row.timestamp,
        model=row.model,
        stop_reason=row.stop_reason,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cache_write_tokens=row.cache_write_tokens,
        cache_write_1h_tokens=row.cache_write_1h_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cost_usd=None if row.cost_usd is None else Decimal(row.cost_usd),
        price_table=row.price_table,
        chars=row.chars,
        lines=row.lines,
        agent_id=row.agent_id,
        rank=tuple(rank) if rank is not None else None,
        detail=detail,
    )


def _turn_values(fact: TurnFact) -> dict:
    detail = dict(fact.detail)
    if fact.rank is not None:
        detail["rank"] = list(fact.rank)
    return {
        "kind": fact.kind,
        "timestamp": fact.timestamp,
        "hour": hour_floor(fact.timestamp),
        "model": fact.model[:128],
        "stop_reason": fact.stop_reason[:64],
        "input_tokens": fact.input_tokens,
        "output_tokens": fact.output_tokens,
        "cache_write_tokens": fact.cache_write_tokens,
        "cache_write_1h_tokens": fact.cache_write_1h_tokens,
        "cache_read_tokens": fact.cache_read_tokens,
        "cost_usd": fact.cost_usd,
        "price_table": fact.price_table[:64],
        "chars": fact.chars,
        "lines": fact.lines,
        "agent_id": fact.agent_id[:128],
        "detail": detail,
    }


def _rows_by_key(
    model: type, sessions: dict[str, Session], keys: dict[str, set[str]], field_name: str
) -> dict:
    rows = {}
    by_pk = {s.pk: sid for sid, s in sessions.items()}
    for sid, wanted in keys.items():
        if wanted and _any_stored(model, sessions[sid].pk, field_name, wanted):
            lookup = {"session": sessions[sid], f"{field_name}__in": wanted}
            for row in model.objects.filter(**lookup):
                rows[(by_pk[row.session_id], getattr(row, field_name))] = row
    return rows


def _any_stored(model: type, session_pk: int, field_name: str, keys: set[str]) -> bool:
    # Most facts of a live catch-up are new rows: a raw probe spares building the ORM query for them.
    marks = ", ".join(["%s"] * len(keys))
    sql = f"SELECT 1 FROM {model._meta.db_table} WHERE session_id = %s AND {field_name} IN ({marks}) LIMIT 1"
    return bool(_fetch(sql, [session_pk, *keys]))


def _group_keys(items: Iterable, attr: str) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for item in items:
        keys.setdefault(item.session_id, set()).add(getattr(item, attr))
    return keys


def _rows_insert(model: type[models.Model], rows: list[dict]) -> None:
    """Insert new rows (field attname -> value; missing fields take their defaults) as bulk_create
    would store them, through executemany: bulk_create, and even building model instances, cost
    several times more here (measured)."""
    if not rows:
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    sql = (
        f"INSERT INTO {meta.db_table} ({', '.join(f.column for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    plan = [(f.attname, f.get_default(), _db_converter(f)) for f in fields]
    params = [[convert(row.get(name, default)) for name, default, convert in plan] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


# Field types whose Python value is what the database stores: get_db_prep_save is an identity for them,
# at ~5 us a call, which made it the costliest step of inserting derived rows.
_PLAIN_FIELDS = (
    models.CharField, models.IntegerField, models.BooleanField, models.ForeignKey, models.BigAutoField,
)  # fmt: skip


def _db_converter(field) -> Callable:
    if isinstance(field, models.DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.DecimalField):
        return lambda v: connection.ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    if isinstance(field, _PLAIN_FIELDS) and not isinstance(field, models.JSONField):
        return lambda v: v
    return lambda v: field.get_db_prep_save(v, connection)


def _row_update(row, values: dict, touched: _Touched) -> bool:
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return False
    touched.add(getattr(row, "hour", None), row.project_id)
    for name in changed:
        setattr(row, name, values[name])
    row.save(update_fields=changed)
    touched.add(getattr(row, "hour", None), row.project_id)
    return True


def _tool_fact(row: ToolCall) -> ToolFact:
    return ToolFact(
        session_id="",
        tool_use_id=row.tool_use_id,
        tool_name=row.tool_name,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        error_type=row.error_type,
        message_key=row.message_key,
        agent_id=row.agent_id,
        seen_in_hooks=row.seen_in_hooks,
        seen_in_transcript=row.seen_in_transcript,
    )


def _tool_values(fact: ToolFact) -> dict:
    moment = fact.started_at or fact.finished_at
    return {
        "tool_name": fact.tool_name[:128],
        "mcp_server": claude.mcp_server(fact.tool_name)[:128],
        "status": fact.status,
        "error_type": fact.error_type[:128],
        "started_at": fact.started_at,
        "finished_at": fact.finished_at,
        "hour": hour_floor(moment),
        "duration_ms": fact.duration_ms,
        "message_key": fact.message_key[:300],
        "agent_id": fact.agent_id[:128],
        "seen_in_hooks": fact.seen_in_hooks,
        "seen_in_transcript": fact.seen_in_transcript,
    }


def _change_fact(row: CodeChange) -> ChangeFact:
    return ChangeFact("", row.key, row.timestamp, row.tool_name, row.file_extension, row.path_hash,
                      row.lines_added, row.lines_removed)  # fmt: skip


def _change_values(fact: ChangeFact) -> dict:
    return {
        "tool_name": fact.tool_name[:128],
        "file_extension": fact.file_extension[:32],
        "path_hash": fact.path_hash[:64],
        "lines_added": fact.lines_added,
        "lines_removed": fact.lines_removed,
        "timestamp": fact.timestamp,
        "hour": hour_floor(fact.timestamp),
    }


@dataclass(frozen=True)
class _RowKind:
    """How facts of one kind become rows: the model, the key that identifies a row within its session
    (a field of both the fact and the row), and the functions between facts, rows and column values."""

    model: type[models.Model]
    key: str
    key_length: int
    to_fact: Callable
    to_values: Callable
    merge: Callable
    in_conversation: bool


_TURNS = _RowKind(Turn, "key", 300, _turn_fact, _turn_values, turn_merge, in_conversation=True)
_TOOLS = _RowKind(ToolCall, "tool_use_id", 128, _tool_fact, _tool_values, tool_merge, in_conversation=True)
_CHANGES = _RowKind(CodeChange, "key", 300, _change_fact, _change_values, change_merge, in_conversation=False)


def _rows_apply(kind: _RowKind, sessions, conversations, facts: list, touched: _Touched) -> None:
    """Insert the facts that have no row yet; merge the others into their rows (merges commute, so
    the order facts arrive in does not matter)."""
    existing = _rows_by_key(kind.model, sessions, _group_keys(facts, kind.key), kind.key)
    new = []
    for fact in facts:
        session = sessions[fact.session_id]
        key = getattr(fact, kind.key)
        row = existing.get((fact.session_id, key))
        if row is None:
            values = kind.to_values(fact)
            link = {"conversation_id": conversations[fact.session_id]} if kind.in_conversation else {}
            new.append({"session_id": session.pk, **link, "project_id": session.project_id,
                        kind.key: key[: kind.key_length], **values})  # fmt: skip
            touched.add(values["hour"], session.project_id)
        else:
            _row_update(row, kind.to_values(kind.merge(kind.to_fact(row), fact)), touched)
    _rows_insert(kind.model, new)


# --- what is recomputed from the stored rows ----------------------------------------------------------


def _session_finalize(session: Session, touched: _Touched) -> None:
    # No refresh_from_db: the session was read or saved in this transaction, and what ran since only
    # updated counters of other sessions, which nothing below reads.
    if session.parent_session_id:
        _fork_copies_move(session, touched)
    _project_propagate(session, touched)
    _changes_status(session, touched)
    _latencies(session)
    _orphans_record(session)
    _counters(session)


def _fork_copies_move(session: Session, touched: _Touched) -> None:
    """A fork's copies of its origin's tool results and edits are the origin's: merge each row whose
    tool-use id the origin holds into the origin's row, and drop it here."""
    parent = Session.objects.filter(platform=session.platform, session_id=session.parent_session_id).first()
    if parent is None:
        return
    moved = False
    for kind in (_TOOLS, _CHANGES):
        mine = {getattr(r, kind.key): r for r in kind.model.objects.filter(session=session)}
        if not mine:
            continue
        theirs = kind.model.objects.filter(session=parent, **{f"{kind.key}__in": list(mine)})
        for row in theirs:
            copy = mine[getattr(row, kind.key)]
            _row_update(row, kind.to_values(kind.merge(kind.to_fact(row), kind.to_fact(copy))), touched)
            touched.add(copy.hour, copy.project_id)
            copy.delete()
            moved = True
    if moved:
        touched.sessions.add(parent.id)
        _counters(parent)


def _project_propagate(session: Session, touched: _Touched) -> None:
    if not _project_stale(session):
        return  # the usual case: one cheap read instead of a read and an UPDATE per table
    for model in (Turn, ToolCall, CodeChange):
        stale = model.objects.filter(session=session).exclude(project_id=session.project_id)
        for hour, project_id in stale.values_list("hour", "project_id").distinct():
            touched.add(hour, project_id)
            touched.add(hour, session.project_id)
        stale.update(project_id=session.project_id)


def _project_stale(session: Session) -> bool:
    """Whether any row of the session has another project than the session (what `exclude` matches:
    NULL counts as another project unless the session has none)."""
    if session.project_id is None:
        where, params = "project_id IS NOT NULL", []
    else:
        where, params = "(project_id IS NULL OR project_id <> %s)", [session.project_id]
    sql = " UNION ALL ".join(
        f"SELECT 1 FROM (SELECT 1 FROM {table} WHERE session_id = %s AND {where} LIMIT 1) {table}"
        for table in ("turns", "tool_calls", "code_changes")
    )
    return bool(_fetch(sql, [session.pk, *params] * 3))


def _changes_status(session: Session, touched: _Touched) -> None:
    """An edit is accepted when its call succeeded (or is not finished yet), rejected when the user or a
    permission rule refused it; an edit whose call failed or was interrupted changed nothing."""
    # Only the edits whose status is wrong are loaded: almost always none.
    wrong = dict(
        _fetch(
            "SELECT c.id, COALESCE(t.status, %s) FROM code_changes c LEFT JOIN tool_calls t"
            " ON t.session_id = c.session_id AND t.tool_use_id = c.key"
            " WHERE c.session_id = %s AND (COALESCE(t.status, %s) IN (%s, %s)"
            " OR c.status <> CASE WHEN t.status = %s THEN %s ELSE %s END)",
            [ToolStatus.PENDING, session.pk, ToolStatus.PENDING, ToolStatus.FAILURE, ToolStatus.INTERRUPTED,
             ToolStatus.REJECTED, ChangeStatus.REJECTED, ChangeStatus.ACCEPTED],
        )
    )  # fmt: skip
    if not wrong:
        return
    for change in CodeChange.objects.filter(pk__in=wrong):
        status = wrong[change.pk]
        if status in (ToolStatus.FAILURE, ToolStatus.INTERRUPTED):
            touched.add(change.hour, change.project_id)
            change.delete()
            continue
        wanted = ChangeStatus.REJECTED if status == ToolStatus.REJECTED else ChangeStatus.ACCEPTED
        _row_update(change, {"status": wanted}, touched)


def _epoch_us(col: str) -> str:
    return EPOCH_US_SQL[connection.vendor].format(col=col)


def _latencies(session: Session) -> None:
    """An assistant response's latency: from the newest prompt or tool result before it, in the same
    thread (main or one sub-agent)."""
    # Times as exact epoch microseconds, found by bisection: the whole session is read on every
    # catch-up, so neither per-row datetime conversion nor a scan of all marks per turn is affordable.
    rows = _fetch(
        f"SELECT 0, agent_id, {_epoch_us('timestamp')}, NULL, NULL FROM turns"
        " WHERE session_id = %s AND kind = %s"
        f" UNION ALL SELECT 0, agent_id, {_epoch_us('finished_at')}, NULL, NULL FROM tool_calls"
        " WHERE session_id = %s AND finished_at IS NOT NULL"
        f" UNION ALL SELECT 1, agent_id, {_epoch_us('timestamp')}, id, latency_ms FROM turns"
        " WHERE session_id = %s AND kind = %s",
        [session.pk, TurnKind.USER_PROMPT, session.pk, session.pk, TurnKind.ASSISTANT_RESPONSE],
    )
    marks: dict[str, list[int]] = {}
    for is_turn, agent, us, _, _ in rows:
        if not is_turn:
            marks.setdefault(agent, []).append(us)
    for times in marks.values():
        times.sort()
    changed = []
    for is_turn, agent, us, turn_id, stored in rows:
        if not is_turn:
            continue
        times = marks.get(agent, ())
        i = bisect_right(times, us)
        # The same arithmetic as on datetimes: timedelta.total_seconds() * 1000, rounded.
        latency = round(timedelta(microseconds=us - times[i - 1]).total_seconds() * 1000) if i else None
        if latency != stored:
            changed.append((latency, turn_id))
    if changed:
        with connection.cursor() as cursor:
            cursor.executemany("UPDATE turns SET latency_ms = %s WHERE id = %s", changed)


def _orphan_seq(tool_use_id: str) -> int:
    # Not an event's seq (those are positive): a stable negative number per tool-use id, so the issue
    # has one row whichever catch-up finds it.
    return -int.from_bytes(blake2b(tool_use_id.encode(), digest_size=6).digest(), "big") - 1


def _orphans_record(session: Session) -> None:
    """A tool result whose call was never seen (no tool name from any side) is a data issue while it
    lasts: the call may still arrive, so the set is recomputed every time."""
    orphans = {
        t
        for (t,) in _fetch(
            "SELECT tool_use_id FROM tool_calls WHERE session_id = %s AND tool_name = ''", [session.pk]
        )
    }
    wanted = {_orphan_seq(t): t for t in orphans}
    stored = {
        q
        for (q,) in _fetch(
            "SELECT seq FROM data_issues WHERE session_id = %s AND kind = %s", [session.pk, ORPHAN_RESULT]
        )
    }
    if stored == set(wanted):
        return
    DataIssue.objects.filter(session=session, kind=ORPHAN_RESULT, seq__in=stored - set(wanted)).delete()
    DataIssue.objects.bulk_create(
        [
            DataIssue(session=session, seq=s, kind=ORPHAN_RESULT, detail=wanted[s])
            for s in set(wanted) - stored
        ]
    )


def _counters(session: Session) -> None:
    """Every counter of the session, recomputed from its stored rows (never incremented)."""
    values = {**_turn_counters(session.pk), **_tool_counters(session.pk), **_other_counters(session.pk)}
    Session.objects.filter(pk=session.pk).update(**values)
    Conversation.objects.filter(session=session).update(
        started_at=session.started_at, last_event_at=session.last_event_at
    )


def _turn_counters(session_pk: int) -> dict:
    # Costs are summed as integers of 10^-8 USD (Turn.cost_usd's precision): exact, like summing the
    # stored Decimals, without converting each one.
    rows = _fetch(
        "SELECT kind, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_write_tokens),"
        " SUM(cache_read_tokens), SUM(CAST(ROUND(cost_usd * 100000000) AS BIGINT))"
        " FROM turns WHERE session_id = %s GROUP BY kind, model",
        [session_pk],
    )
    kinds: dict[str, int] = {}
    usage = [0, 0, 0, 0, 0]  # input, output, cache write, cache read, cost units
    models = set()
    for kind, model, n, *sums in rows:
        kinds[kind] = kinds.get(kind, 0) + n
        if kind == TurnKind.ASSISTANT_RESPONSE:
            usage = [total + int(x or 0) for total, x in zip(usage, sums, strict=True)]
            if model:
                models.add(model)
    return {
        "prompts": kinds.get(TurnKind.USER_PROMPT, 0),
        "assistant_messages": kinds.get(TurnKind.ASSISTANT_RESPONSE, 0),
        "api_errors": kinds.get(TurnKind.API_ERROR, 0),
        "compactions": kinds.get(TurnKind.COMPACTION, 0),
        "subagent_runs": kinds.get(TurnKind.SUBAGENT_RUN, 0),
        "input_tokens": usage[0],
        "output_tokens": usage[1],
        "cache_write_tokens": usage[2],
        "cache_read_tokens": usage[3],
        "cost_usd": Decimal(usage[4]) / _COST_SCALE,
        "models_used": sorted(models),
    }


def _tool_counters(session_pk: int) -> dict:
    statuses = dict(
        _fetch("SELECT status, COUNT(*) FROM tool_calls WHERE session_id = %s GROUP BY status", [session_pk])
    )
    return {
        "tool_calls": sum(statuses.values()),
        "tool_failures": statuses.get(ToolStatus.FAILURE, 0),
        "tool_rejections": statuses.get(ToolStatus.REJECTED, 0),
        "tool_interruptions": statuses.get(ToolStatus.INTERRUPTED, 0),
    }


def _other_counters(session_pk: int) -> dict:
    """Accepted lines, data issues and active time, in one query."""
    ((added, removed, issues, active_us),) = _fetch(
        "SELECT (SELECT SUM(lines_added) FROM code_changes WHERE session_id = %s AND status = %s),"
        " (SELECT SUM(lines_removed) FROM code_changes WHERE session_id = %s AND status = %s),"
        " (SELECT COUNT(*) FROM data_issues WHERE session_id = %s),"
        f" ({_active_us_sql()})",
        [session_pk, ChangeStatus.ACCEPTED, session_pk, ChangeStatus.ACCEPTED, session_pk,
         ACTIVE_GAP_CAP // timedelta(microseconds=1), session_pk, session_pk, session_pk],
    )  # fmt: skip
    return {
        "lines_added": added or 0,
        "lines_removed": removed or 0,
        "data_issues": issues,
        # As rollups.active_seconds: whole seconds of the summed gaps, each capped.
        "active_seconds": int(timedelta(microseconds=int(active_us or 0)).total_seconds()),
    }


def _active_us_sql() -> str:
    """Active time in microseconds (rollups.active_intervals): the distinct event times of the session
    (turns, tool call starts and ends), each gap to the next one capped. Its parameters: the cap, then
    the session's pk three times."""
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    return (
        f"SELECT SUM({least}(us - prev, %s)) FROM (SELECT us, LAG(us) OVER (ORDER BY us) AS prev FROM ("
        f"SELECT {_epoch_us('timestamp')} AS us FROM turns WHERE session_id = %s"
        f" UNION SELECT {_epoch_us('started_at')} FROM tool_calls WHERE session_id = %s AND started_at IS NOT NULL"
        f" UNION SELECT {_epoch_us('finished_at')} FROM tool_calls WHERE session_id = %s AND finished_at IS NOT NULL"
        ") times) gaps WHERE prev IS NOT NULL"
    )

"""Applying a session's reduced facts to the derived rows: create what is new, merge what is stored.

Part of the catch-up (catchup.py says the guarantee): everything here runs inside its transaction.
Merges commute (facts.py), so the rows do not depend on the order facts arrive in.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, models

from ..models import (
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    OtelSequence,
    Project,
    Session,
    SessionProgress,
    SessionStatus,
    ToolCall,
    Turn,
)
from . import claude
from .bounds import INT32_MAX, key_fit
from .cursor import AI_TRACKING_SESSION
from .cursor_rows import ai_tracking_apply, conversation_apply
from .facts import (
    ERROR_TEXT_MAX,
    ChangeFact,
    Reduced,
    SessionSummary,
    ToolFact,
    TurnFact,
    change_merge,
    tool_merge,
    turn_merge,
)
from .rollups import hour_floor, project_unknown_id

logger = logging.getLogger(__name__)
CURSOR = "cursor"


@dataclass
class Touched:
    """What a catch-up changed: the rollup buckets (UTC hour, project id) and the sessions."""

    buckets: set[tuple[datetime, int]] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    otel: bool = False  # the events applied include OpenTelemetry's (Reduced.otel)

    def add(self, hour: datetime | None, project_id: int | None) -> None:
        if hour is not None and project_id is not None:
            self.buckets.add((hour, project_id))


def sql_fetch(sql: str, params: list) -> list[tuple]:
    # Raw SQL for the per-catch-up reads: building an ORM query costs more than running it here.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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
        progress_lock(platform=platform, session_id=session_id)
        session = Session.objects.select_for_update().get(pk=session.pk)
    return session


def _conversation_get(session: Session) -> int:
    """The id of the session's conversation (created when first needed)."""
    rows = sql_fetch(
        "SELECT id FROM conversations WHERE session_id = %s AND conversation_id = %s",
        [session.pk, session.session_id],
    )
    if rows:
        return rows[0][0]
    conversation, _ = Conversation.objects.get_or_create(session=session, conversation_id=session.session_id)
    return conversation.pk


def _says_anything(reduced: Reduced) -> bool:
    """Whether the facts would make or change any row but OTel sequence numbers."""
    return any(
        (reduced.sessions, reduced.turns, reduced.tools, reduced.changes, reduced.issues,
         reduced.conversations, reduced.ai_commits, reduced.ai_code, reduced.metrics)
    )  # fmt: skip


def facts_apply(platform: str, session_id: str, reduced: Reduced, touched: Touched) -> dict[str, Session]:
    _sequences_apply(platform, reduced)
    # OTel records that make no rows make no session (docs/metrics.md); a session that exists already
    # is still finalised (its sequence gaps may have changed).
    wanted = (
        _says_anything(reduced) or Session.objects.filter(platform=platform, session_id=session_id).exists()
    )
    owners = ({session_id} if wanted else set()) | set(reduced.sessions)
    owners |= {k[1] for k in reduced.turns} | {k[1] for k in reduced.tools} | {k[1] for k in reduced.changes}
    owners |= {k[1] for k in reduced.conversations}
    # Cursor's AI-tracking events that name no conversation come under a session id that is no session.
    sessionless = {AI_TRACKING_SESSION} if platform == CURSOR else set()
    sessions = {sid: _session_get(platform, sid) for sid in sorted(owners - sessionless)}
    for sid, summary in reduced.sessions.items():
        _session_summary_apply(sessions[sid], summary, touched)
    conversations = {sid: _conversation_get(s) for sid, s in sessions.items()}
    _rows_apply(TURNS, sessions, conversations, list(reduced.turns.values()), touched)
    # A tool call with neither a start nor an end time has no hour to count in yet.
    tools = [f for f in reduced.tools.values() if any(tool_times(f))]
    _rows_apply(TOOLS, sessions, conversations, tools, touched)
    _rows_apply(CHANGES, sessions, conversations, list(reduced.changes.values()), touched)
    _metrics_apply(sessions, list(reduced.metrics.values()), touched)
    for (_, sid), fact in sorted(reduced.conversations.items()):
        if sid in sessions:
            conversation_apply(conversations[sid], fact)
    ai_tracking_apply(reduced, sessions)
    for i in reduced.issues.values():
        if i.session_id not in sessions:  # an AI-tracking event's: there is no session to count it in
            logger.warning("%s (event %s of %s:%s): %s", i.kind, i.raw_seq, platform, i.session_id, i.detail)
    issues = [
        DataIssue(
            session=sessions[i.session_id],
            seq=i.seq,
            event_seq=i.raw_seq,
            kind=i.kind[:64],
            detail=i.detail[:500],
        )
        for i in reduced.issues.values()
        if i.session_id in sessions
    ]
    DataIssue.objects.bulk_create(issues, ignore_conflicts=True)
    return sessions


def _session_summary_apply(session: Session, summary: SessionSummary, touched: Touched) -> None:
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
    # Who and where: as facts.session_summary_add merges them (the larger non-empty value).
    user, machine = max(session.user, summary.user), max(session.machine, summary.machine)
    if (user, machine) != (session.user, session.machine):
        session.user, session.machine = user, machine
        if started_before is not None:
            _buckets_of_session(session, touched)  # its stored rows count under the new key now
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


def _buckets_of_session(session: Session, touched: Touched) -> None:
    """Mark every rollup bucket the session's stored rows count in (rare: a session changes hands only
    when its user or machine arrives after its first events)."""
    for model in (Turn, ToolCall, CodeChange, MetricPoint):
        for hour, project_id in (
            model.objects.filter(session=session).values_list("hour", "project_id").distinct()
        ):
            touched.add(hour, project_id)


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
        tokens_known=row.tokens_known,
        request_id=row.request_id,
        otel_usage=_otel_usage_tuple(row.otel_usage),
        # Only OTel saw it: its time gives way to any other source's.
        weak=row.source == "otel" or (row.source == "" and detail.get("sources") == ["otel"]),
    )


_OTEL_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               "cache_write_1h_tokens", "cost_usd")  # fmt: skip


def _otel_usage_tuple(value: dict | None) -> tuple | None:
    if not isinstance(value, dict):
        return None
    return tuple(value.get(name, "" if name == "cost_usd" else 0) for name in _OTEL_USAGE)


def turn_source(fact: TurnFact) -> str:
    """Where an API call's numbers come from (Turn.source): `transcript` (only a transcript saw it; its
    lines are ranked), `otel` (only OTel), `both` (both, the same tokens) or `conflict` (both, tokens
    differ: the transcript's count). "" for other turns and Cursor's."""
    if fact.kind != "assistant_response":
        return ""
    transcript, otel = fact.rank is not None, fact.otel_usage is not None
    if transcript and otel:
        mine = (fact.input_tokens, fact.output_tokens, fact.cache_read_tokens, fact.cache_write_tokens,
                fact.cache_write_1h_tokens)  # fmt: skip
        return "both" if mine == tuple(fact.otel_usage[:5]) else "conflict"
    return "transcript" if transcript else "otel" if otel else ""


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
        "tokens_known": fact.tokens_known,
        "request_id": fact.request_id[:128],
        "source": turn_source(fact),
        "otel_usage": None
        if fact.otel_usage is None
        else dict(zip(_OTEL_USAGE, fact.otel_usage, strict=True)),
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
    return bool(sql_fetch(sql, [session_pk, *keys]))


def _group_keys(items: Iterable[tuple[str, object]]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for key, fact in items:
        keys.setdefault(fact.session_id, set()).add(key)
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


def row_update(row, values: dict, touched: Touched) -> bool:
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return False
    touched.add(getattr(row, "hour", None), row.project_id)
    for name in changed:
        setattr(row, name, values[name])
    row.save(update_fields=changed)
    touched.add(getattr(row, "hour", None), row.project_id)
    return True


def tool_times(fact: ToolFact) -> tuple:
    """(start, end) of a call as its row keeps them: the hooks' and transcript's; OTel's only for a call
    neither saw."""
    if fact.seen_elsewhere or not fact.seen_in_otel:
        return fact.started_at, fact.finished_at
    return fact.otel_started_at, fact.otel_finished_at


def _tool_fact(row: ToolCall) -> ToolFact:
    # A call only OTel saw keeps OTel's times and error type in its columns: they go back to the
    # otel_* fields, so a hook or transcript reading that comes later replaces them.
    otel_only = row.seen_in_otel and not (row.seen_in_hooks or row.seen_in_transcript)
    return ToolFact(
        session_id="",
        tool_use_id=row.tool_use_id,
        tool_name=row.tool_name,
        started_at=None if otel_only else row.started_at,
        finished_at=None if otel_only else row.finished_at,
        status=row.status,
        error_type="" if otel_only else row.error_type,
        message_key=row.message_key,
        agent_id=row.agent_id,
        seen_in_hooks=row.seen_in_hooks,
        seen_in_transcript=row.seen_in_transcript,
        error_hash=row.error_hash,
        error_text=row.error_text,
        target_hash=row.target_hash,
        mcp_server=row.mcp_server,
        seen_in_otel=row.seen_in_otel,
        decision=row.decision,
        decision_source=row.decision_source,
        otel_duration_ms=row.otel_duration_ms,
        otel_started_at=row.started_at if otel_only else None,
        otel_finished_at=row.finished_at if otel_only else None,
        otel_error_type=row.error_type if otel_only else "",
    )


def _tool_values(fact: ToolFact) -> dict:
    started, finished = tool_times(fact)
    moment = started or finished
    duration = None
    if started is not None and finished is not None and finished >= started:
        duration = round((finished - started).total_seconds() * 1000)
    error_type = fact.error_type if fact.seen_elsewhere or not fact.seen_in_otel else fact.otel_error_type
    return {
        "tool_name": fact.tool_name[:128],
        "mcp_server": (fact.mcp_server or claude.mcp_server(fact.tool_name))[:128],
        "status": fact.status,
        "error_type": error_type[:128],
        "started_at": started,
        "finished_at": finished,
        "hour": hour_floor(moment),
        # Longer than the column holds (24 days) is a start and an end that do not belong together.
        "duration_ms": duration if duration is None or duration <= INT32_MAX else None,
        "message_key": fact.message_key[:300],
        "agent_id": fact.agent_id[:128],
        "seen_in_hooks": fact.seen_in_hooks,
        "seen_in_transcript": fact.seen_in_transcript,
        "error_hash": fact.error_hash[:16],
        "error_text": fact.error_text[:ERROR_TEXT_MAX],
        "target_hash": fact.target_hash[:64],
        "seen_in_otel": fact.seen_in_otel,
        "decision": fact.decision[:16],
        "decision_source": fact.decision_source[:32],
        "otel_duration_ms": fact.otel_duration_ms,
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
class RowKind:
    """How facts of one kind become rows: the model, the key that identifies a row within its session
    (a field of both the fact and the row), and the functions between facts, rows and column values."""

    model: type[models.Model]
    key: str
    key_length: int
    to_fact: Callable
    to_values: Callable
    merge: Callable
    in_conversation: bool


TURNS = RowKind(Turn, "key", 300, _turn_fact, _turn_values, turn_merge, in_conversation=True)
TOOLS = RowKind(ToolCall, "tool_use_id", 128, _tool_fact, _tool_values, tool_merge, in_conversation=True)
# A change's key is its tool call's id: fitted like one (bounds.TOOL_KEY_LENGTH), so the two still join.
CHANGES = RowKind(CodeChange, "key", 128, _change_fact, _change_values, change_merge, in_conversation=False)


def _rows_apply(kind: RowKind, sessions, conversations, facts: list, touched: Touched) -> None:
    """Insert the facts that have no row yet; merge the others into their rows (merges commute, so
    the order facts arrive in does not matter). A row is looked up by the key it is stored under
    (bounds.key_fit: facts are fitted already, this keeps the two the same by construction)."""
    keyed = [(key_fit(getattr(fact, kind.key), kind.key_length), fact) for fact in facts]
    existing = _rows_by_key(kind.model, sessions, _group_keys(keyed), kind.key)
    new = []
    for key, fact in keyed:
        session = sessions[fact.session_id]
        row = existing.get((fact.session_id, key))
        if row is None:
            values = kind.to_values(fact)
            link = {"conversation_id": conversations[fact.session_id]} if kind.in_conversation else {}
            new.append({"session_id": session.pk, **link, "project_id": session.project_id,
                        kind.key: key, **values})  # fmt: skip
            touched.add(values["hour"], session.project_id)
        else:
            row_update(row, kind.to_values(kind.merge(kind.to_fact(row), fact)), touched)
    _rows_insert(kind.model, new)


def _metrics_apply(sessions: dict[str, Session], facts: list, touched: Touched) -> None:
    """Insert the metric points not stored yet (a point is stated whole by one record: a stored one is
    the same). Their `delta` is recomputed per session afterwards (recompute.py)."""
    by_session: dict[str, list] = {}
    for fact in facts:
        by_session.setdefault(fact.session_id, []).append(fact)
    for sid, points in sorted(by_session.items()):
        session = sessions[sid]
        keys = [p.key for p in points]
        stored: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            stored.update(
                MetricPoint.objects.filter(session=session, key__in=chunk).values_list("key", flat=True)
            )
        new = [p for p in points if p.key not in stored]
        MetricPoint.objects.bulk_create(
            MetricPoint(session=session, project_id=session.project_id, key=p.key, name=p.name, model=p.model,
                        kind=p.kind, attributes=p.attributes, series=p.series, temporality=p.temporality,
                        start_time=p.start_time, time=p.time, hour=hour_floor(p.time), value=p.value)
            for p in sorted(new, key=lambda p: p.key)
        )  # fmt: skip
        for p in new:
            touched.add(hour_floor(p.time), session.project_id)


def _sequences_apply(platform: str, reduced: Reduced) -> None:
    if reduced.sequences:
        OtelSequence.objects.bulk_create(
            [OtelSequence(platform=platform, session_id=f.session_id, time=f.time, sequence=f.sequence)
             for f in reduced.sequences.values()],
            ignore_conflicts=True,
        )  # fmt: skip


def progress_lock(*, platform: str, session_id: str) -> SessionProgress:
    """The session's watermark row, locked for this transaction on PostgreSQL (SQLite's transactions
    hold the database's write lock from BEGIN IMMEDIATE)."""
    progress, _ = SessionProgress.objects.get_or_create(platform=platform, session_id=session_id)
    if connection.vendor == "postgresql":
        progress = SessionProgress.objects.select_for_update().get(pk=progress.pk)
    return progress

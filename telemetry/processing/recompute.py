"""What a catch-up recomputes from a session's stored rows once its facts are applied: fork copies moved
to their origin, the project on every row, edit statuses, latencies, orphan tool results, counters.

Recomputed, never incremented, so running any of it again changes nothing. Part of the catch-up
(catchup.py says the guarantee): everything here runs inside its transaction.
"""

from bisect import bisect_right
from datetime import timedelta
from decimal import Decimal
from hashlib import blake2b

from django.db import connection

from ..models import (
    ChangeStatus,
    CodeChange,
    Conversation,
    DataIssue,
    MetricPoint,
    MetricTemporality,
    OtelSequence,
    Session,
    ToolCall,
    ToolStatus,
    Turn,
    TurnKind,
)
from .bounds import INT32_MAX, INT64_MAX, cost_fit, counter_fit
from .costunits import COST_UNITS_SQL, cost_units_total
from .cursor_recompute import cursor_composer_rest, cursor_hooks_join, cursor_responses_join
from .facts import IssueKind
from .otel_figures import OTEL_FIGURES, OTEL_METRICS, api_retries, otel_figure, otel_figures_fit
from .rollups import ACTIVE_GAP_CAP, EPOCH_US_SQL
from .rows import CHANGES, TOOLS, Touched, row_update, sql_fetch

ORPHAN_RESULT = IssueKind.ORPHAN_RESULT
OTEL_SEQUENCE_GAP = IssueKind.OTEL_SEQUENCE_GAP
CURSOR = "cursor"


def session_finalize(session: Session, touched: Touched) -> None:
    # No refresh_from_db: the session was read or saved in this transaction, and what ran since only
    # updated counters of other sessions, which nothing below reads.
    cursor = session.platform == CURSOR
    if session.parent_session_id:
        _fork_copies_move(session, touched)
    if cursor:
        cursor_hooks_join(session, touched)
    _project_propagate(session, touched)
    _changes_status(session, touched)
    if cursor:
        cursor_responses_join(session, touched)
        cursor_composer_rest(session, touched)
    _latencies(session)
    _orphans_record(session)
    otel = touched.otel and not cursor
    if otel:
        _metric_deltas(session, touched)
        _otel_gaps_record(session)
    _counters(session, otel=otel)


def _fork_copies_move(session: Session, touched: Touched) -> None:
    """A fork's copies of its origin's tool results and edits are the origin's: merge each row whose
    tool-use id the origin holds into the origin's row, and drop it here."""
    parent = Session.objects.filter(platform=session.platform, session_id=session.parent_session_id).first()
    if parent is None:
        return
    moved = False
    for kind in (TOOLS, CHANGES):
        mine = {getattr(r, kind.key): r for r in kind.model.objects.filter(session=session)}
        if not mine:
            continue
        theirs = kind.model.objects.filter(session=parent, **{f"{kind.key}__in": list(mine)})
        for row in theirs:
            copy = mine[getattr(row, kind.key)]
            row_update(row, kind.to_values(kind.merge(kind.to_fact(row), kind.to_fact(copy))), touched)
            touched.add(copy.hour, copy.project_id)
            copy.delete()
            moved = True
    if moved:
        touched.sessions.add(parent.id)
        _counters(parent, otel=False)  # moving tool rows changes no OTel figure


def _project_propagate(session: Session, touched: Touched) -> None:
    if not _project_stale(session):
        return  # the usual case: one cheap read instead of a read and an UPDATE per table
    for model in (Turn, ToolCall, CodeChange, MetricPoint):
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
        for table in _PROJECT_TABLES
    )
    return bool(sql_fetch(sql, [session.pk, *params] * len(_PROJECT_TABLES)))


_PROJECT_TABLES = ("turns", "tool_calls", "code_changes", "metric_points")


def _changes_status(session: Session, touched: Touched) -> None:
    """An edit is accepted when its call succeeded (or is not finished yet), rejected when the user or a
    permission rule refused it; an edit whose call failed or was interrupted changed nothing."""
    # Only the edits whose status is wrong are loaded: almost always none.
    wrong = dict(
        sql_fetch(
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
        row_update(change, {"status": wanted}, touched)


_NULL_INT = "CAST(NULL AS BIGINT)"


def _epoch_us(col: str) -> str:
    return EPOCH_US_SQL[connection.vendor].format(col=col)


def _latencies(session: Session) -> None:
    """An assistant response's latency: from the newest prompt or tool result before it, in the same
    thread (main or one sub-agent)."""
    # Times as exact epoch microseconds, found by bisection: the whole session is read on every
    # catch-up, so neither per-row datetime conversion nor a scan of all marks per turn is affordable.
    # The NULLs are typed: PostgreSQL takes two untyped ones for text, which no bigint unites with.
    rows = sql_fetch(
        f"SELECT 0, agent_id, {_epoch_us('timestamp')}, {_NULL_INT}, {_NULL_INT} FROM turns"
        " WHERE session_id = %s AND kind = %s"
        f" UNION ALL SELECT 0, agent_id, {_epoch_us('finished_at')}, {_NULL_INT}, {_NULL_INT} FROM tool_calls"
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
        if latency is not None and latency > INT32_MAX:
            latency = None  # over 24 days: not a response to that prompt, and more than the column holds
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
        for (t,) in sql_fetch(
            "SELECT tool_use_id FROM tool_calls WHERE session_id = %s AND tool_name = ''", [session.pk]
        )
    }
    wanted = {_orphan_seq(t): t for t in orphans}
    stored = {
        q
        for (q,) in sql_fetch(
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


def _metric_deltas(session: Session, touched: Touched) -> None:
    """Each metric point's `delta`: its value for delta temporality; for a cumulative series, the growth
    since the series' previous point (the first point's value for the first; a value lower than the
    previous one is a restarted counter: its value); none for a gauge."""
    rows = list(
        MetricPoint.objects.filter(session=session)
        .order_by("series", "time", "key")
        .values_list("id", "series", "temporality", "value", "delta", "hour", "project_id")
    )
    changed = []
    previous: tuple[str, Decimal] | None = None
    for pk, series, temporality, value, stored, hour, project_id in rows:
        if temporality == MetricTemporality.DELTA:
            delta = value
        elif temporality == MetricTemporality.CUMULATIVE:
            before = previous[1] if previous is not None and previous[0] == series else None
            delta = value if before is None or value < before else value - before
            previous = (series, value)
        else:
            delta = None
        if delta != stored:
            changed.append((pk, delta))
            touched.add(hour, project_id)
    for pk, delta in changed:
        MetricPoint.objects.filter(pk=pk).update(delta=delta)


def otel_gaps(rows: list[tuple]) -> list[tuple[tuple, int]]:
    """Possibly lost OTel log records, from (event time, event.sequence) pairs: sorted, they form runs
    of one process each (a new run where the sequence does not grow); a jump inside a run is a gap.
    Returns ((time, sequence) of the record after each gap, how many numbers are missing)."""
    gaps = []
    previous = None
    for moment, sequence in sorted(set(rows)):
        if previous is not None and sequence > previous + 1:
            gaps.append(((moment, sequence), sequence - previous - 1))
        previous = sequence
    return gaps


def _gap_seq(session_id: str, moment, sequence: int) -> int:
    # A stable negative number per gap (not an event's seq), as for orphan results.
    text = f"gap:{session_id}:{moment.isoformat()}:{sequence}"
    return -int.from_bytes(blake2b(text.encode(), digest_size=6).digest(), "big") - 1


def _otel_gaps_record(session: Session) -> None:
    """The session's sequence gaps as data issues, recomputed from every stored number (a record that
    arrives late closes its gap), and their total in Session.otel_gaps."""
    rows = OtelSequence.objects.filter(platform=session.platform, session_id=session.session_id)
    gaps = otel_gaps(list(rows.values_list("time", "sequence")))
    wanted = {
        _gap_seq(session.session_id, *after): f"{missing} OTel log record(s) missing before event.sequence "
        f"{after[1]} at {after[0].isoformat()}"
        for after, missing in gaps
    }
    stored = set(
        DataIssue.objects.filter(session=session, kind=OTEL_SEQUENCE_GAP).values_list("seq", flat=True)
    )
    if stored != set(wanted):
        DataIssue.objects.filter(
            session=session, kind=OTEL_SEQUENCE_GAP, seq__in=stored - set(wanted)
        ).delete()
        DataIssue.objects.bulk_create(
            [
                DataIssue(session=session, seq=q, kind=OTEL_SEQUENCE_GAP, detail=wanted[q])
                for q in set(wanted) - stored
            ]
        )
    Session.objects.filter(pk=session.pk).update(otel_gaps=counter_fit(sum(m for _, m in gaps)))


def _otel_counters(session: Session) -> dict:
    """The session's otel_* figures (sums of metric deltas; null while it has no metric point) and its
    API retries (attempts after the first, from the llm_request spans)."""
    points = MetricPoint.objects.filter(session=session)
    values: dict = dict.fromkeys(OTEL_FIGURES.values())
    if points.exists():
        sums: dict[str, Decimal] = {}
        for name, kind, delta in points.filter(name__in=OTEL_METRICS).values_list("name", "kind", "delta"):
            field = otel_figure(name, kind)
            if field is not None and delta is not None:
                sums[field] = sums.get(field, Decimal(0)) + delta
        values = otel_figures_fit(sums)
    retries = sum(
        api_retries(detail)
        for detail in Turn.objects.filter(session=session, detail__has_key="attempts").values_list(
            "detail", flat=True
        )
    )
    return {**values, "api_retries": counter_fit(retries)}


def _counters(session: Session, *, otel: bool = False) -> None:
    """Every counter of the session, recomputed from its stored rows (never incremented); the OTel
    figures only when OTel's events were applied (nothing else changes them)."""
    values = {**_turn_counters(session.pk), **_tool_counters(session.pk), **_other_counters(session.pk)}
    if otel:
        values.update(_otel_counters(session))
    Session.objects.filter(pk=session.pk).update(**values)
    Conversation.objects.filter(session=session).update(
        started_at=session.started_at, last_event_at=session.last_event_at
    )


def _turn_counters(session_pk: int) -> dict:
    # Costs are summed as integers of 10^-8 USD (Turn.cost_usd's precision): exact, like summing the
    # stored Decimals, without converting each one; in two parts, so no sum can overflow (rollups.py).
    rows = sql_fetch(
        "SELECT kind, model, COUNT(*), SUM(CASE WHEN tokens_known THEN 0 ELSE 1 END), SUM(input_tokens),"
        f" SUM(output_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), {COST_UNITS_SQL}"
        " FROM turns WHERE session_id = %s GROUP BY kind, model",
        [session_pk],
    )
    kinds: dict[str, int] = {}
    usage = [0, 0, 0, 0]  # input, output, cache write, cache read
    cost = Decimal(0)
    models = set()
    unknown = 0
    for kind, model, n, without_tokens, *sums, cost_high, cost_low in rows:
        kinds[kind] = kinds.get(kind, 0) + n
        if kind == TurnKind.ASSISTANT_RESPONSE:
            unknown += int(without_tokens or 0)
            usage = [total + int(x or 0) for total, x in zip(usage, sums, strict=True)]
            cost += cost_units_total(cost_high, cost_low)
            if model:
                models.add(model)
    count = {k: counter_fit(kinds.get(k, 0)) for k in TurnKind.values}
    return {
        "prompts": count[TurnKind.USER_PROMPT],
        "assistant_messages": count[TurnKind.ASSISTANT_RESPONSE],
        "api_errors": count[TurnKind.API_ERROR],
        "compactions": count[TurnKind.COMPACTION],
        "subagent_runs": count[TurnKind.SUBAGENT_RUN],
        "input_tokens": counter_fit(usage[0], INT64_MAX),
        "output_tokens": counter_fit(usage[1], INT64_MAX),
        "cache_write_tokens": counter_fit(usage[2], INT64_MAX),
        "cache_read_tokens": counter_fit(usage[3], INT64_MAX),
        "cost_usd": cost_fit(cost),
        "models_used": sorted(models),
        "responses_without_tokens": counter_fit(unknown),
    }


def _tool_counters(session_pk: int) -> dict:
    statuses = dict(
        sql_fetch(
            "SELECT status, COUNT(*) FROM tool_calls WHERE session_id = %s GROUP BY status", [session_pk]
        )
    )
    return {
        "tool_calls": counter_fit(sum(statuses.values())),
        "tool_failures": counter_fit(statuses.get(ToolStatus.FAILURE, 0)),
        "tool_rejections": counter_fit(statuses.get(ToolStatus.REJECTED, 0)),
        "tool_interruptions": counter_fit(statuses.get(ToolStatus.INTERRUPTED, 0)),
    }


def _other_counters(session_pk: int) -> dict:
    """Accepted lines, data issues and active time, in one query."""
    ((added, removed, issues, active_us),) = sql_fetch(
        "SELECT (SELECT SUM(lines_added) FROM code_changes WHERE session_id = %s AND status = %s),"
        " (SELECT SUM(lines_removed) FROM code_changes WHERE session_id = %s AND status = %s),"
        " (SELECT COUNT(*) FROM data_issues WHERE session_id = %s),"
        f" ({_active_us_sql()})",
        [session_pk, ChangeStatus.ACCEPTED, session_pk, ChangeStatus.ACCEPTED, session_pk,
         ACTIVE_GAP_CAP // timedelta(microseconds=1), session_pk, session_pk, session_pk],
    )  # fmt: skip
    return {
        "lines_added": counter_fit(added),
        "lines_removed": counter_fit(removed),
        "data_issues": counter_fit(issues),
        # As rollups.active_seconds: whole seconds of the summed gaps, each capped.
        "active_seconds": counter_fit(int(timedelta(microseconds=int(active_us or 0)).total_seconds())),
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

"""One session that fails to derive never stops the others: it is set aside with its error, retried with
backoff, and healthy again after a success. Machine faults retry the task and mark no session.
Through the real fast path and the catch-up task, on SQLite and Redis."""

import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg.errors
import pytest
from django.db import DataError, OperationalError, connection

from telemetry import tasks, wire
from telemetry.models import DataIssue, Project, Session, SessionProgress, Turn, UsageHour
from telemetry.processing import catchup, failures, rebuild, refresh
from telemetry.processing.failures import DERIVE_FAILED, backoff, fault_is_machine
from tests.telemetry.processing.hostile import assistant, encoded, hook, ordinary
from tests.telemetry.processing.test_catchup import ingest

pytestmark = pytest.mark.django_db
GOOD = ("s1", "s2")


@pytest.fixture
def bad_finalize(monkeypatch):
    """Derivation of session "bad" raises (a bug its input reaches), after it wrote rows."""
    finalize = catchup.session_finalize

    def failing(session, touched):
        if session.session_id == "bad":
            raise RuntimeError("boom in bad")
        finalize(session, touched)

    monkeypatch.setattr(catchup, "session_finalize", failing)
    return monkeypatch


def progress(session_id: str) -> SessionProgress:
    return SessionProgress.objects.get(session_id=session_id)


def marked(redis) -> set[str]:
    return {wire.session_parse(f)[1] for f in redis.hkeys(wire.DIRTY_SESSIONS)}


def test_a_session_that_raises_is_set_aside_while_the_others_keep_updating(redis, bad_finalize) -> None:
    ingest(redis, encoded(ordinary("s1") + ordinary("s2") + ordinary("bad")))
    before = datetime.now(UTC)

    assert tasks.sessions_catch_up() == 3

    for s in GOOD:
        assert Session.objects.get(session_id=s).prompts == 1
        assert progress(s).processed_seq == progress(s).raw_through_seq and progress(s).failures == 0
    bad = progress("bad")
    assert bad.processed_seq == 0 and bad.failures == 1
    assert bad.last_error == "RuntimeError: boom in bad"
    assert before + timedelta(seconds=30) <= bad.retry_at <= datetime.now(UTC) + timedelta(seconds=30)
    session = Session.objects.get(session_id="bad")
    assert not Turn.objects.filter(session=session).exists()  # its work was rolled back, alone
    assert list(DataIssue.objects.filter(session=session).values_list("kind", "detail")) == [
        (DERIVE_FAILED, "RuntimeError: boom in bad")
    ]
    assert session.data_issues == 1
    assert marked(redis) == {"bad"}  # the others' marks are cleared; its own stays for the retry

    # New events: the healthy sessions stay fresh; the failing one is not tried before its retry time.
    ingest(redis, encoded([hook(s, "UserPromptSubmit", 100, prompt_id=f"{s}-p2") for s in (*GOOD, "bad")]))
    tasks.sessions_catch_up()
    assert [Session.objects.get(session_id=s).prompts for s in GOOD] == [2, 2]
    assert progress("bad").failures == 1 and progress("bad").processed_seq == 0

    # Due again and still failing: the wait doubles.
    SessionProgress.objects.filter(session_id="bad").update(retry_at=datetime.now(UTC) - timedelta(seconds=1))
    tasks.sessions_catch_up()
    bad = progress("bad")
    assert bad.failures == 2 and bad.retry_at >= datetime.now(UTC) + timedelta(seconds=55)

    # Fixed: the next due run derives it, and it is healthy again.
    bad_finalize.undo()
    SessionProgress.objects.filter(session_id="bad").update(retry_at=datetime.now(UTC) - timedelta(seconds=1))
    tasks.sessions_catch_up()
    bad = progress("bad")
    assert (bad.failures, bad.last_error, bad.retry_at) == (0, "", None)
    assert bad.processed_seq == bad.raw_through_seq
    session = Session.objects.get(session_id="bad")
    assert (session.prompts, session.data_issues) == (2, 0)
    assert not DataIssue.objects.filter(kind=DERIVE_FAILED).exists()
    assert marked(redis) == set()


def test_a_failing_shared_rollup_refresh_fails_only_the_sessions_it_is_about(redis, monkeypatch) -> None:
    own_project = assistant("bad", 1, "m", {"input_tokens": 5})
    own_project["metadata"] = {"project": {"hash": "bad-project", "name": "bad"}}
    ingest(redis, encoded([*ordinary("s1"), *ordinary("s2"), own_project]))
    refresh_rollups = refresh.rollups_refresh

    def failing(*, hours, project_ids, platform):
        if Project.objects.filter(pk__in=[p for p in project_ids if p], key="bad-project").exists():
            raise ValueError("bad bucket")
        return refresh_rollups(hours=hours, project_ids=project_ids, platform=platform)

    monkeypatch.setattr(refresh, "rollups_refresh", failing)
    tasks.sessions_catch_up()  # one group: its shared refresh fails, then each session alone

    for s in GOOD:
        assert progress(s).processed_seq == progress(s).raw_through_seq and progress(s).failures == 0
    assert UsageHour.objects.filter(input_tokens=200).exists()  # s1 and s2's replies, rolled up
    assert progress("bad").failures == 1 and progress("bad").last_error == "ValueError: bad bucket"


def test_a_machine_fault_retries_the_task_and_marks_no_session(redis, monkeypatch) -> None:
    ingest(redis, encoded(ordinary("s1") + ordinary("s2")))
    finalize = catchup.session_finalize

    def locked(session, touched):
        if session.session_id == "s2":
            try:
                raise sqlite3.OperationalError("database is locked")
            except sqlite3.Error as exc:
                raise OperationalError("database is locked") from exc  # as Django wraps it
        finalize(session, touched)

    monkeypatch.setattr(catchup, "session_finalize", locked)
    with pytest.raises(OperationalError):  # called directly, the task's autoretry re-raises
        tasks.sessions_catch_up()
    assert not SessionProgress.objects.filter(failures__gt=0).exists()
    assert not DataIssue.objects.exists()
    assert marked(redis) == {"s1", "s2"}
    monkeypatch.undo()
    tasks.sessions_catch_up()
    assert Session.objects.filter(prompts=1).count() == 2 and marked(redis) == set()


def test_a_failing_session_due_for_a_retry_is_taken_without_a_mark(redis) -> None:
    ingest(redis, encoded(ordinary("s1")))
    redis.delete(wire.DIRTY_SESSIONS)  # the mark is lost (or the failure came from `import archive`)
    failures.session_failure_record(
        platform="claude_code", session_id="s1", error="X: y", now=datetime.now(UTC) - timedelta(hours=2)
    )
    tasks.sessions_catch_up()
    assert progress("s1").failures == 0 and Session.objects.get(session_id="s1").prompts == 1


def test_a_rebuild_sets_a_failing_session_aside_and_goes_on(redis, bad_finalize) -> None:
    ingest(redis, encoded(ordinary("s1") + ordinary("bad")))
    rebuild.derived_rebuild_all()
    assert Session.objects.get(session_id="s1").prompts == 1
    assert progress("bad").failures == 1


def test_machine_faults_are_told_from_the_data_by_what_the_database_says(tmp_path) -> None:
    with pytest.raises(OperationalError) as overflow, connection.cursor() as cursor:
        cursor.execute("SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)")
    assert "integer overflow" in str(overflow.value) and not fault_is_machine(overflow.value)

    holder = sqlite3.connect(tmp_path / "db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(tmp_path / "db", timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("BEGIN IMMEDIATE")
    holder.rollback()
    wrapped = OperationalError(str(locked.value))
    wrapped.__cause__ = locked.value
    assert fault_is_machine(wrapped)

    for error, machine in ((psycopg.errors.DeadlockDetected(), True), (psycopg.errors.DiskFull(), True),
                           (psycopg.errors.NumericValueOutOfRange(), False)):  # fmt: skip
        wrapped = (OperationalError if machine else DataError)(str(error))
        wrapped.__cause__ = error
        assert fault_is_machine(wrapped) is machine, error
    assert fault_is_machine(OSError(28, "No space left on device"))
    assert not fault_is_machine(OverflowError("Python int too large to convert to SQLite INTEGER"))


def test_the_wait_doubles_from_half_a_minute_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]

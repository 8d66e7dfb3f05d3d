"""The slow path's change record (telemetry/processing/changes.py): one record on cdc:derived per
catch-up run that applied something, written after its commit, never failing the run; `blueplane
purge` removes the records that name a purged session."""

import pytest
import redis as redis_py
from django.db import transaction

from telemetry import tasks
from telemetry.processing import changes, purge
from telemetry.processing.catchup import CatchUpRun
from telemetry.selectors.changes import derived_entry_decode
from telemetry.wire import DERIVED_STREAM
from tests.factories import envelope
from tests.telemetry.test_consumer import drain, make_consumer, publish

pytestmark = pytest.mark.django_db(transaction=True)
PROJECT = {"hash": "beef" * 4, "name": "shop"}


def stored(redis, events: list[dict]) -> None:
    publish(redis, events)
    drain(make_consumer(redis))


def records(redis) -> list[dict]:
    return [derived_entry_decode(fields) for _, fields in redis.xrange(DERIVED_STREAM)]


def test_a_run_that_applied_events_publishes_one_record_of_what_it_changed(redis):
    stored(redis, [envelope(session_id="c1", metadata={"project": PROJECT}), envelope(session_id="c2")])
    tasks.sessions_catch_up()
    (record,) = records(redis)
    assert record["sessions"] == [["claude_code", "c1"], ["claude_code", "c2"]]
    assert record["projects"] == sorted([PROJECT["hash"], "unknown"])  # c2 has none: the unknown project
    assert record["hours"] and all(h.endswith(":00:00Z") for h in record["hours"])
    assert record["at"] > 0


def test_a_run_that_applied_nothing_publishes_nothing(redis):
    stored(redis, [envelope(session_id="c1")])
    tasks.sessions_catch_up()
    tasks.sessions_catch_up([["claude_code", "c1"]])  # a repeat: the watermark is past its events
    assert len(records(redis)) == 1


def test_the_record_waits_for_the_commit(redis):
    run = CatchUpRun(changed={("claude_code", "c1")})
    with transaction.atomic():
        changes.derived_publish_on_commit(client=redis, run=run)
        assert redis.xlen(DERIVED_STREAM) == 0
    assert records(redis)[0]["sessions"] == [["claude_code", "c1"]]
    with pytest.raises(RuntimeError), transaction.atomic():
        changes.derived_publish_on_commit(client=redis, run=CatchUpRun(changed={("claude_code", "c2")}))
        raise RuntimeError("rolled back")
    assert len(records(redis)) == 1  # a rollback publishes nothing


def test_a_redis_fault_is_logged_and_the_run_goes_on(caplog):
    gone = redis_py.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=1)
    assert not changes.derived_publish(client=gone, run=CatchUpRun(changed={("claude_code", "c1")}))
    assert "not published" in caplog.text


def test_a_purge_removes_the_records_naming_its_sessions(redis):
    stored(redis, [envelope(session_id="keep")])
    tasks.sessions_catch_up()
    stored(redis, [envelope(session_id="gone")])
    tasks.sessions_catch_up()
    selection = purge.purge_select(session_id="gone")
    assert purge.purge_count(selection, client=redis).change_records >= 2  # its cdc:events and cdc:derived
    purge.sessions_purge(selection, client=redis)
    left = [s for r in records(redis) for s in r["sessions"]]
    assert left == [["claude_code", "keep"]]
    assert all(b"gone" not in f for _, fs in redis.xrange(DERIVED_STREAM) for f in fs.values())

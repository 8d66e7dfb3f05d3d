"""Who and where (docs/team.md): a session takes the user and machine its events carry, whatever order
they arrive in, and the hourly rollups split by them; `rebuild` gives the same rows."""

import orjson
import pytest

from bench.events import fixture_envelopes
from telemetry.models import (
    RAW_TRACE_MODELS,
    ActivityHour,
    RawChunk,
    Session,
    SessionProgress,
    ToolHour,
    UsageHour,
)
from telemetry.processing import rebuild
from tests.telemetry.processing.test_rebuild import DERIVED, assert_same, derived_dump, live_path

pytestmark = pytest.mark.django_db

PEOPLE = (("alice", "alice-laptop"), ("bob", "bob.desk_2"))


def stamped(events: list[bytes]) -> list[bytes]:
    """The fixture's sessions spread over two users and two machines. Only every other event says who
    (a session's first events may come from before its machine connected): the session must take the
    value from whichever events carry it."""
    sessions = sorted({orjson.loads(raw)["session_id"] for raw in events})
    out = []
    for i, raw in enumerate(events):
        event = orjson.loads(raw)
        if i % 2:
            user, machine = PEOPLE[sessions.index(event["session_id"]) % 2]
            event |= {"user_id": user, "machine_id": machine}
        out.append(orjson.dumps(event))
    return out


def rows() -> dict:
    """The derived rows; the watermarks are raw seqs, which follow arrival order."""
    dump = derived_dump()
    del dump["session_progress"]
    return dump


def reset(redis) -> None:
    for model in (*reversed(DERIVED), SessionProgress, *RAW_TRACE_MODELS.values(), RawChunk):
        model.objects.all().delete()
    redis.flushdb()


def test_sessions_and_rollups_carry_user_and_machine_in_any_order(redis, django_capture_on_commit_callbacks):
    events = stamped(fixture_envelopes())
    with django_capture_on_commit_callbacks(execute=True):
        live_path(redis, events, steps=4)
    forward = rows()
    assert set(Session.objects.values_list("user", "machine")) == set(PEOPLE)
    for model in (UsageHour, ToolHour, ActivityHour):
        assert set(model.objects.values_list("user", "machine")) == set(PEOPLE), model.__name__
    # Each session's rows count under its own user: the split adds up to the session's own sums.
    for user, _ in PEOPLE:
        sessions = Session.objects.filter(user=user)
        assert sum(UsageHour.objects.filter(user=user).values_list("messages", flat=True)) == sum(
            s.turns.filter(kind="assistant_response").count() for s in sessions
        )

    reset(redis)
    with django_capture_on_commit_callbacks(execute=True):
        live_path(redis, list(reversed(events)), steps=3)
    assert_same(forward, rows())

    rebuild.derived_rebuild_all()
    assert_same(forward, rows())


def test_events_without_a_user_stay_this_installs(redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        live_path(redis, fixture_envelopes(), steps=1)
    assert set(Session.objects.values_list("user", "machine")) == {("", "")}
    assert set(UsageHour.objects.values_list("user", "machine")) == {("", "")}

"""Live metrics in Redis: absolute values written after the commit, rebuilt from the rollup tables."""

from datetime import timedelta

import pytest

from telemetry.models import ToolStatus, TurnKind
from telemetry.processing import live, refresh
from tests.telemetry.processing.test_rollups import H, World

pytestmark = pytest.mark.django_db


def usage(redis) -> dict[str, str]:
    return live.live_usage_hour(hour=H, client=redis)


def build(w: World):
    s = w.session()
    w.turn(s, H + timedelta(minutes=1), model="opus", input_tokens=10, output_tokens=1)
    w.turn(s, H + timedelta(minutes=2), model="haiku", input_tokens=5)
    w.turn(s, H + timedelta(minutes=3), kind=TurnKind.USER_PROMPT)
    w.tool(s, H + timedelta(minutes=4), "Read")
    w.tool(s, H + timedelta(minutes=5), "Read", status=ToolStatus.FAILURE)
    w.tool(s, H + timedelta(hours=2), "Bash")
    return s


def test_metrics_are_written_after_the_commit_as_absolute_values(redis, django_capture_on_commit_callbacks):
    build(World())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refresh.buckets_refresh(hours={H, H + timedelta(hours=2)}, project_ids={None}, platform="claude_code")
    assert usage(redis) == {}  # nothing before the commit
    for callback in callbacks:
        callback()
        callback()  # a repeat writes the same values, it does not add
    got = usage(redis)
    assert got["input_tokens"] == "15"
    assert got["input_tokens|opus"] == "10"
    assert got["messages"] == "2"
    assert live.live_tools_day(day=H, client=redis) == {"Read": 2, "Bash": 1}
    assert redis.zscore(live.tool_failures_key(H), "Read") == 1
    assert redis.hget(live.activity_key(H), "prompts") == b"1"


def test_rebuild_restores_every_key_from_the_rollups(redis, django_capture_on_commit_callbacks):
    build(World())
    with django_capture_on_commit_callbacks(execute=True):
        refresh.buckets_refresh(hours={H, H + timedelta(hours=2)}, project_ids={None}, platform="claude_code")
    before = {k: redis.dump(k) for k in redis.scan_iter(match="metric:*")}
    redis.flushdb()
    redis.hset(live.usage_key(H - timedelta(days=3)), "input_tokens", 999)  # stale junk goes too
    assert live.rebuild_live_metrics(client=redis) == 2
    after = {k: redis.dump(k) for k in redis.scan_iter(match="metric:*")}
    assert after.keys() == before.keys()
    assert {k: redis.type(k) for k in after} == {k: redis.type(k) for k in before}
    assert usage(redis)["input_tokens"] == "15"


def test_an_hour_that_lost_its_rows_loses_its_keys(redis, django_capture_on_commit_callbacks):
    w = World()
    s = build(w)
    with django_capture_on_commit_callbacks(execute=True):
        refresh.buckets_refresh(hours={H}, project_ids={None}, platform="claude_code")
    s.turns.all().delete()
    s.tool_call_set.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        refresh.buckets_refresh(hours={H}, project_ids={None}, platform="claude_code")
    assert usage(redis) == {}
    assert live.live_tools_day(day=H, client=redis) == {}

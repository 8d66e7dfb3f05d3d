"""Work per catch-up run is bounded: at most SLOWPATH_MAX_SESSIONS sessions and SLOWPATH_MAX_EVENTS events
per session; what is left stays dirty and a follow-up task is enqueued, and the rows are those of one
pass. The memory of a catch-up of 20 times SLOWPATH_MAX_EVENTS stays bounded (measured in a process of its
own)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.db import connection

from bench.events import envelopes_generate
from telemetry import tasks, wire
from telemetry.ingest.batching import batch_prepare
from telemetry.models import Session, SessionProgress
from telemetry.processing import catchup, rebuild
from telemetry.store import writer
from telemetry.store.codec import CURRENT
from tests.telemetry.processing.hostile import encoded, hook, ordinary
from tests.telemetry.processing.test_catchup import ingest
from tests.telemetry.processing.test_rebuild import assert_same, derived_dump

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def queued(redis) -> int:
    """Catch-up tasks waiting in the broker's queue (kombu's Redis transport keeps a list per queue)."""
    return redis.llen("celery")


def one_session(session: str, n: int) -> list[bytes]:
    """n events of one session: prompts and tool calls, with their tool results."""
    events = []
    for i in range(n // 4):
        events += ordinary(session, start=i * 10)
        for e in events[-4:]:  # ids unique per round
            payload = e["payload"]
            for key in ("prompt_id", "tool_use_id"):
                if key in payload:
                    payload[key] = f"{payload[key]}-{i}"
        events[-3]["payload"]["message"]["id"] = f"m-{i}"
    return encoded(events)


def test_a_session_over_the_limit_is_caught_up_in_several_runs_and_transactions(redis, settings) -> None:
    settings.SLOWPATH_MAX_EVENTS = 100
    ingest(redis, one_session("big", 360))
    waiting = queued(redis)  # the fast path's own wake-up
    watermarks = []
    assert tasks.sessions_catch_up() == 1
    while redis.hexists(wire.DIRTY_SESSIONS, "claude_code:big"):
        watermarks.append(SessionProgress.objects.get(session_id="big").processed_seq)
        assert queued(redis) == waiting + len(watermarks)  # each run that left work enqueued a follow-up
        tasks.sessions_catch_up(backlog=True)
    progress = SessionProgress.objects.get(session_id="big")
    watermarks.append(progress.processed_seq)
    assert len(watermarks) == 4 and progress.processed_seq == progress.raw_through_seq
    steps = [b - a for a, b in zip([watermarks[0] - 100, *watermarks], watermarks, strict=False)]
    assert all(step <= 100 for step in steps), steps
    assert Session.objects.get(session_id="big").prompts == 90

    tasks.sessions_idle_close()  # as a rebuild does
    live = derived_dump()
    settings.SLOWPATH_MAX_EVENTS = 1_000_000
    rebuild.derived_rebuild_all()  # one pass
    assert_same(live, derived_dump())


def test_events_arriving_during_a_run_wait_for_the_next_coalesced_run_not_a_follow_up(
    redis, monkeypatch
) -> None:
    ingest(redis, encoded(ordinary("s1")))
    derive = catchup.session_derive

    def derive_then_more_arrive(**kwargs):
        derived = derive(**kwargs)
        ingest(redis, encoded([hook("s1", "UserPromptSubmit", 50, prompt_id="later")]))  # stored meanwhile
        return derived

    monkeypatch.setattr(catchup, "session_derive", derive_then_more_arrive)
    run = catchup.sessions_catch_up(sessions=[("claude_code", "s1")])
    assert run.done == {("claude_code", "s1")} and not run.more  # no follow-up, no coalescing lost
    assert redis.hexists(wire.DIRTY_SESSIONS, "claude_code:s1")  # the fast path's mark takes it next


def test_a_run_takes_at_most_its_share_of_sessions_least_recently_caught_up_first(redis, settings) -> None:
    settings.SLOWPATH_MAX_SESSIONS = 2
    ingest(redis, encoded([e for i in range(5) for e in ordinary(f"s{i}")]))
    waiting = queued(redis)
    assert tasks.sessions_catch_up() == 2
    assert redis.hlen(wire.DIRTY_SESSIONS) == 3 and queued(redis) == waiting + 1
    first = set(Session.objects.values_list("session_id", flat=True))
    # The first two get new events: the three not taken yet still go first.
    ingest(redis, encoded([hook(s, "UserPromptSubmit", 50, prompt_id=f"{s}-again") for s in first]))
    tasks.sessions_catch_up(backlog=True)
    assert Session.objects.count() == 4
    tasks.sessions_catch_up(backlog=True)
    tasks.sessions_catch_up(backlog=True)
    assert all(p.processed_seq == p.raw_through_seq for p in SessionProgress.objects.all())
    assert sorted(Session.objects.values_list("prompts", flat=True)) == [1, 1, 1, 2, 2]
    assert redis.hlen(wire.DIRTY_SESSIONS) == 0


# Peak RSS growth of the catching-up process over 20 runs' worth of one session's events (VmHWM: ru_maxrss
# of a child starts at its parent's). The run's size is lowered (BLUEPLANE_SLOWPATH_MAX_EVENTS) rather
# than the events raised to the default's 200,000, which took a minute to write and derive. Measured
# here: 20,000 events grow it by ~12 MB at 1,000 events a run, in 20 transactions, and by ~39 MB when one
# run takes them all, as before the work was bounded (at the default size: ~55 MB, and ~190 MB unbounded).
MAX_EVENTS = 1000
EVENTS = 20 * MAX_EVENTS
MEMORY_BOUND_MB = 24
_MEASURE = """
import json, sys
import django
django.setup()
from telemetry.processing import catchup


def peak_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])


catchup.sessions_catch_up(sessions=[("claude_code", "warm-up")])  # imports, price table, connections
base = peak_kb()
runs = 0
while True:
    run = catchup.sessions_catch_up(sessions=[("claude_code", sys.argv[1])])
    runs += 1
    if not getattr(run, "more", None):
        break
print(json.dumps({"growth_mb": (peak_kb() - base) / 1024, "runs": runs}))
"""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_catching_up_20_runs_of_events_stays_within_a_memory_bound(redis) -> None:
    events = []
    for raw in envelopes_generate(EVENTS * 23 // 20, seed=21):  # less the Cursor ones
        event = orjson.loads(raw)
        if event["platform"] == "claude_code":
            events.append(orjson.dumps({**event, "session_id": "huge"}))
    events = events[:EVENTS]
    assert len(events) == EVENTS
    # The fast path's own prepare and write, a batch at a time (through Redis it takes minutes here).
    for start in range(0, len(events), 1000):
        entries = [
            (b"%d-0" % (start + i), {b"event": raw}) for i, raw in enumerate(events[start : start + 1000])
        ]
        batch = batch_prepare(entries, codec=CURRENT, max_bytes=1 << 20, arrived=0.0)
        writer.batch_write(batch.units, batch.codec_id)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blueplane.settings", "BLUEPLANE_LOG_LEVEL": "WARNING",
           "BLUEPLANE_SLOWPATH_MAX_EVENTS": str(MAX_EVENTS),
           "BLUEPLANE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _MEASURE, "huge"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["growth_mb"] < MEMORY_BOUND_MB, measured
    assert measured["runs"] >= 20  # MAX_EVENTS per run at most
    progress = SessionProgress.objects.get(session_id="huge")
    assert progress.processed_seq == progress.raw_through_seq and progress.failures == 0

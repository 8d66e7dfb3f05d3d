"""The Django models, migrations and the fast path's writer on PostgreSQL (BLUEPLANE_DATABASE_URL).

Runs against the server tests/support/postgres.py names; a machine without one skips these tests, saying so.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.factories import entry, envelope
from tests.support.postgres import database, needs_postgres

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.e2e, needs_postgres]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with database() as (url, _):
        yield url


@pytest.fixture
def postgres_migrated_url() -> Iterator[str]:
    """Migrated by cloning a template: migrating itself is the test above's."""
    with database(migrated=True) as (url, _):
        yield url


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BLUEPLANE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_migrations_and_fast_path_run_on_postgresql(postgres_url, redis):
    migrated = manage(postgres_url, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    events = [envelope(session_id="pg-session") for _ in range(40)]
    for e in events + events[:10]:  # ten delivered twice
        redis.xadd(EVENTS_STREAM, entry(e))
    drained = manage(postgres_url, "runfastpath", "--once", "--consumer", "pg")
    assert drained.returncode == 0, drained.stderr

    check = manage(
        postgres_url,
        "shell",
        "-c",
        "from telemetry.models import ClaudeRawTrace, RawChunk; from telemetry.store import units;"
        "seq = ClaudeRawTrace.objects.order_by('seq').first().seq;"
        "print(ClaudeRawTrace.objects.count(), RawChunk.objects.count() > 0,"
        " units.event_load(platform='claude_code', seq=seq)['session_id'])",
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().splitlines()[-1].split() == ["40", "True", "pg-session"]


_DERIVED = """
import json
from telemetry.models import DataIssue, SessionProgress, ToolCall, Turn, Session
h = Session.objects.get(session_id="h")
turns = Turn.objects.filter(session=h)
print(json.dumps({
    "progress": sorted([p.session_id, p.processed_seq == p.raw_through_seq, p.failures, p.last_error]
                       for p in SessionProgress.objects.all()),
    "prompts": sorted(turns.filter(kind="user_prompt").values_list("chars", "lines")),
    "lines": [h.lines_added, h.lines_removed],
    "issues": sorted(set(DataIssue.objects.filter(session=h).values_list("kind", flat=True))),
    "calls": sorted([c.tool_use_id, c.status] for c in ToolCall.objects.filter(session__session_id="long")),
    "cost": str(Session.objects.get(session_id="rich").cost_usd),
}))
"""


def test_hostile_values_and_long_keys_derive_on_postgresql(postgres_migrated_url, redis):
    from telemetry.processing.bounds import COST_MAX, INT32_MAX, TOKENS_MAX, key_fit
    from tests.telemetry.processing.hostile import LONG, assistant, hook, hostile, ordinary, usage

    # Token counts and durations over 2^31 - 1 and tool names over 128 characters fit no raw index column
    # on PostgreSQL (int4, varchar(128)): the fast path leaves those columns empty and stores the events.
    events = (
        ordinary("s1") + hostile("h") + [hook("long", "PreToolUse", 1, tool_name="Bash", tool_use_id=LONG)]
    )
    events += [assistant("rich", i, f"m{i}", usage(TOKENS_MAX)) for i in range(1000)]
    for e in events:
        redis.xadd(EVENTS_STREAM, entry(e))
    for step in ("first", "second"):
        drained = manage(postgres_migrated_url, "runfastpath", "--once", "--consumer", "pg")
        assert drained.returncode == 0, drained.stderr
        caught = manage(
            postgres_migrated_url, "shell", "-c", "from telemetry import tasks; tasks.sessions_catch_up()"
        )
        assert caught.returncode == 0, caught.stderr
        if step == "first":  # the call's second event, in a catch-up of its own
            redis.xadd(
                EVENTS_STREAM, entry(hook("long", "PostToolUse", 2, tool_name="Bash", tool_use_id=LONG))
            )

    assert redis.xlen(DLQ_STREAM) == 0  # every event stored, none refused
    check = manage(postgres_migrated_url, "shell", "-c", _DERIVED)
    assert check.returncode == 0, check.stderr
    derived = json.loads(check.stdout.strip().splitlines()[-1])
    assert all(done and failures == 0 for _, done, failures, _ in derived["progress"]), derived["progress"]
    assert derived["prompts"] == [[0, INT32_MAX], [INT32_MAX, None]]
    assert derived["lines"] == [INT32_MAX, INT32_MAX]
    assert {"value_out_of_range", "time_out_of_range", "derive_error"} <= set(derived["issues"])
    assert derived["calls"] == [[key_fit(LONG, 128), "success"]]
    assert Decimal(derived["cost"]) == COST_MAX


# Numbers a JSON envelope can carry (orjson gives integers up to 2^64 - 1 as int, larger ones as float),
# at the edges of every integer type: 32-bit (the index columns), signed and unsigned 64-bit.
_EDGES = [0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
          2**64 - 1, 2**64, 1e300, 12.75]  # fmt: skip

_INDEX = """
import json
from telemetry import tasks
tasks.sessions_catch_up()
from telemetry.models import ClaudeRawTrace, SessionProgress
from telemetry.store import units
cols = ["input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "duration_ms",
        "lines_added", "lines_removed"]
rows = {}
for row in ClaudeRawTrace.objects.values("seq", "event_type", *cols):
    sid = units.event_load(platform="claude_code", seq=row["seq"])["session_id"]
    rows[sid + "/" + row["event_type"]] = [row[c] for c in cols]
print(json.dumps({"rows": rows, "failures": sum(SessionProgress.objects.values_list("failures", flat=True))}))
"""


def test_index_columns_take_any_64_bit_number_on_postgresql(postgres_url, redis):
    from tests.telemetry.processing.hostile import assistant, hook, usage

    assert manage(postgres_url, "migrate", "--noinput").returncode == 0
    # The raw index columns are 32-bit (IntegerField): a number outside that range, or not an integer,
    # leaves its column empty and the event is stored all the same (its bytes keep the number, and the
    # slow path bounds it: processing/bounds.py). Nothing may make the multi-row INSERT fail.
    for i, value in enumerate(_EDGES):
        lines = {"lines_added": value, "lines_removed": value}
        events = [
            assistant(f"n{i}", 1, f"m{i}", usage(value)),
            hook(f"n{i}", "PostToolUse", 2, tool_name="Bash", tool_use_id=f"t{i}", duration_ms=value),
        ]
        events[1]["metadata"] |= lines
        for e in events:  # json, not orjson: orjson refuses to write integers past 64 bits
            redis.xadd(EVENTS_STREAM, {"event": json.dumps(e).encode()})
    drained = manage(postgres_url, "runfastpath", "--once", "--consumer", "pg")
    assert drained.returncode == 0, drained.stderr
    check = manage(postgres_url, "shell", "-c", _INDEX)  # after a catch-up
    assert check.returncode == 0, check.stderr
    got = json.loads(check.stdout.strip().splitlines()[-1])

    assert redis.xlen(DLQ_STREAM) == 0
    assert redis.xpending(EVENTS_STREAM, "fastpath")["pending"] == 0
    assert got["failures"] == 0
    for i, value in enumerate(_EDGES):
        fits = type(value) is int and -(2**31) <= value <= 2**31 - 1
        as_int = value if fits else None
        # A duration may be a float: its whole milliseconds are kept when they fit.
        duration = int(value) if type(value) is float and -(2**31) <= value <= 2**31 - 1 else as_int
        assert got["rows"][f"n{i}/assistant"][:4] == [as_int] * 4, value
        assert got["rows"][f"n{i}/PostToolUse"][4:] == [duration, as_int, as_int], value

"""The adaptive coalescing window: short after short runs, long after long ones, the minimum after a
quiet spell; the record a run leaves for the next; the settings that bound it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry import tasks
from telemetry.processing import coalesce
from telemetry.processing.coalesce import RUN_FACTOR, coalesce_window_ms
from telemetry.wire import EVENTS_STREAM
from tests.factories import entry, envelope
from tests.telemetry.test_consumer import drain, make_consumer

ROOT = Path(__file__).resolve().parents[3]


def window(last_run_ms: float | None, since_last_run_ms: float | None = 100.0) -> float:
    return coalesce_window_ms(
        last_run_ms=last_run_ms, since_last_run_ms=since_last_run_ms, min_ms=10, max_ms=500
    )


def test_no_previous_run_gets_the_minimum():
    assert window(None, None) == 10


def test_a_short_previous_run_keeps_the_window_short():
    assert window(20.0) == RUN_FACTOR * 20.0
    assert window(1.0) == 10  # never under the minimum


def test_the_window_grows_with_the_previous_run_up_to_the_maximum():
    assert window(100.0) > window(50.0) > window(20.0)
    assert window(5_000.0) == 500


def test_a_run_that_ended_long_ago_says_nothing_about_now():
    assert window(5_000.0, since_last_run_ms=100.0) == 500
    assert window(5_000.0, since_last_run_ms=60_000.0) == 10


def test_a_clock_stepped_back_counts_as_recent():
    assert window(5_000.0, since_last_run_ms=-3_000.0) == 500


def test_a_fixed_window_ignores_the_previous_run():
    for last in (None, 1.0, 5_000.0):
        assert coalesce_window_ms(last_run_ms=last, since_last_run_ms=0.0, min_ms=0, max_ms=0) == 0


def test_the_record_round_trips_through_redis(redis):
    assert coalesce.last_run_read(redis) == (None, None)
    coalesce.last_run_write(redis, duration_ms=123.4, now=1_000.0)
    assert coalesce.last_run_read(redis, now=1_002.5) == (123.4, 2_500.0)


@pytest.mark.parametrize("garbage", [b"", b"12", b"x y", b"1 2 3", b"nan-ish 1"])
def test_an_unreadable_record_costs_only_the_minimum(redis, garbage):
    redis.set(coalesce.LAST_RUN, garbage)
    assert coalesce.last_run_read(redis) == (None, None)


@pytest.mark.django_db
def test_a_catch_up_run_records_its_duration_for_the_next(redis):
    redis.xadd(EVENTS_STREAM, entry(envelope(session_id="s1")))
    drain(make_consumer(redis))
    tasks.sessions_catch_up()
    duration_ms, since_ms = coalesce.last_run_read(redis)
    assert duration_ms is not None and duration_ms > 0
    assert since_ms is not None and abs(since_ms) < 60_000  # just now (the record keeps ms)


def settings_read(**env: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh interpreter with these variables (and no inherited window)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLUEPLANE_SLOWPATH_COALESCE")}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SLOWPATH_COALESCE_MIN_MS, settings.SLOWPATH_COALESCE_MAX_MS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**base, "DJANGO_SETTINGS_MODULE": "blueplane.settings", **env},
    )  # fmt: skip


def test_settings_default_to_an_adaptive_window():
    assert settings_read().stdout.split() == ["10", "500"]


def test_the_old_fixed_window_variable_still_pins_both_bounds():
    assert settings_read(BLUEPLANE_SLOWPATH_COALESCE_MS="0").stdout.split() == ["0", "0"]
    assert settings_read(BLUEPLANE_SLOWPATH_COALESCE_MS="300").stdout.split() == ["300", "300"]
    given = settings_read(BLUEPLANE_SLOWPATH_COALESCE_MS="300", BLUEPLANE_SLOWPATH_COALESCE_MIN_MS="5")
    assert given.stdout.split() == ["5", "300"]


@pytest.mark.parametrize(
    "env",
    [
        {"BLUEPLANE_SLOWPATH_COALESCE_MIN_MS": "600", "BLUEPLANE_SLOWPATH_COALESCE_MAX_MS": "100"},
        {"BLUEPLANE_SLOWPATH_COALESCE_MAX_MS": str(2**70)},
        {"BLUEPLANE_SLOWPATH_COALESCE_MIN_MS": "-1"},
        {"BLUEPLANE_SLOWPATH_COALESCE_MAX_MS": "0.5"},
        {"BLUEPLANE_SLOWPATH_COALESCE_MS": "x" * 100_000},
    ],
)
def test_bad_bounds_are_refused_in_one_line(env):
    result = settings_read(**env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: BLUEPLANE_SLOWPATH_COALESCE")
    assert len(last) < 300


def test_the_wait_follows_the_recorded_run(redis):
    assert coalesce.window_wait(redis, min_ms=1, max_ms=500) == 1  # nothing recorded: the minimum
    coalesce.last_run_write(redis, duration_ms=40.0)
    assert coalesce.window_wait(redis, min_ms=1, max_ms=500) == RUN_FACTOR * 40.0
    coalesce.last_run_write(redis, duration_ms=40.0, now=1_000.0)  # long ago
    assert coalesce.window_wait(redis, min_ms=1, max_ms=500) == 1


def test_a_fixed_window_of_zero_reads_nothing(redis):
    redis.set(coalesce.LAST_RUN, b"5000 9999999999")
    assert coalesce.window_wait(redis, min_ms=0, max_ms=0) == 0

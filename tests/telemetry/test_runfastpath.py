"""`manage.py runfastpath` as a real process: --once drains and exits, SIGTERM stops it cleanly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from telemetry.ingest.streams import EVENTS_STREAM, GROUP
from telemetry.models import ClaudeRawTrace
from tests.factories import entry, envelope

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def fastpath(*args: str) -> subprocess.Popen:
    env = {**os.environ, "BLUEPLANE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runfastpath", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_once_drains_what_is_queued_and_exits(redis):
    for _ in range(150):
        redis.xadd(EVENTS_STREAM, entry(envelope()))
    proc = fastpath("--once", "--consumer", "once")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert ClaudeRawTrace.objects.count() == 150
    assert redis.xpending(EVENTS_STREAM, GROUP)["pending"] == 0


def test_sigterm_finishes_the_batch_and_exits_cleanly(redis):
    proc = fastpath("--consumer", "live")
    try:
        redis.xadd(EVENTS_STREAM, entry(envelope()))
        deadline = time.monotonic() + 30
        while ClaudeRawTrace.objects.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ClaudeRawTrace.objects.count() == 1
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "stopped after 1 entries" in out
    assert redis.xpending(EVENTS_STREAM, GROUP)["pending"] == 0

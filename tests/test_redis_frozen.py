"""A Redis frozen for 30 s under a running `blueplane up` while hooks fire: still one Redis, nothing
lost, nothing stored twice, and `blueplane down` leaves nothing behind."""

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

from telemetry.capture.installer import hook_command
from tests.test_supervisor import Install, install, pid_gone  # noqa: F401 (install is a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HOOKS = Path(__file__).parent / "fixtures" / "claude-real" / "hooks.jsonl"
# What the issue saw. The test's other waits are bounded by the suite's timeout, not asserted.
FREEZE_S = 30.0


class Census(threading.Thread):
    """Every redis-server working in the home, looked up in /proc every 0.1 s for as long as it runs."""

    def __init__(self, inst: Install) -> None:
        super().__init__(daemon=True)
        self.inst = inst
        self.done = threading.Event()
        self.most = 0
        self.seen: set[int] = set()

    def run(self) -> None:
        while not self.done.wait(0.1):
            pids = self.inst.redis_pids()
            self.most = max(self.most, len(pids))
            self.seen.update(pids)


class Hooks(threading.Thread):
    """Runs the installed hook command line, as Claude Code does, one call after another."""

    def __init__(self, inst: Install) -> None:
        super().__init__(daemon=True)
        self.command = hook_command(home=str(inst.home))
        self.payloads = [
            json.dumps(json.loads(line)["payload"]).encode() for line in HOOKS.read_text().splitlines()
        ]
        self.done = threading.Event()
        self.calls: list[tuple[float, float]] = []  # (started, seconds), monotonic

    def run(self) -> None:
        while not self.done.is_set():
            payload = self.payloads[len(self.calls) % len(self.payloads)]
            t0 = time.monotonic()
            # The hook always exits 0 and prints nothing; check=True would only hide a failure as data.
            subprocess.run(
                ["sh", "-c", self.command], input=payload, capture_output=True, timeout=30, check=True
            )
            self.calls.append((t0, time.monotonic() - t0))


def hook_rows(inst: Install) -> int:
    return inst.query("SELECT count(*) FROM claude_raw_traces WHERE source = 'hook'")[0][0]


def spooled(inst: Install) -> list[str]:
    folder = inst.home / "spool"
    return sorted(os.listdir(folder)) if folder.exists() else []


def latency(calls: list[tuple[float, float]], start: float, end: float) -> str:
    seconds = sorted(s for t0, s in calls if start <= t0 < end)
    if not seconds:
        return "no calls"
    p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
    return f"{len(seconds)} calls, median {statistics.median(seconds) * 1000:.0f} ms, P95 {p95 * 1000:.0f} ms"


def test_a_frozen_redis_stays_the_only_one_and_loses_no_hook_event(install: Install) -> None:  # noqa: F811
    census = Census(install)
    census.start()
    hooks = Hooks(install)
    log = install.home / "logs" / "blueplane.log"
    try:
        up = install.run("up", "--detach")
        assert up.returncode == 0, up.stderr + install.log_tail()
        # runcapture writes capture.json, where the hooks find the Redis socket.
        install.wait_for(lambda: (install.home / "capture.json").exists(), what="capture.json")
        hooks.start()
        install.wait_for(lambda: hook_rows(install) >= 5, what="hook events stored before the freeze")

        [redis_pid] = install.redis_pids()
        os.kill(redis_pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        # A fast path restarted now must not answer the silence with a second server on the same
        # files, as it did. Killing it makes sure one starts during the freeze, whatever it does
        # with a Redis that stops answering mid-run.
        fastpath = install.state()["processes"]["fastpath"]
        os.kill(fastpath["pid"], signal.SIGKILL)
        install.wait_for(
            lambda: install.state()["processes"]["fastpath"]["restarts"] > fastpath["restarts"],
            what="the fast path restarted during the freeze",
            timeout_s=FREEZE_S - 10,
        )
        time.sleep(max(0.0, FREEZE_S - (time.monotonic() - frozen_at)))
        assert census.seen == {redis_pid}, "a second redis-server was started on the frozen one's files"
        os.kill(redis_pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        install.wait_for(
            lambda: any(t0 > resumed_at + 3 for t0, _ in hooks.calls), what="hooks after the freeze"
        )
    finally:
        hooks.done.set()
        if hooks.is_alive():
            hooks.join(timeout=60)
        for pid in install.redis_pids():
            os.kill(pid, signal.SIGCONT)  # whatever failed above, never leave it frozen

    calls = len(hooks.calls)
    # Every call is stored once: the ones that timed out were spooled and replayed by runcapture,
    # some were also taken in by Redis once it resumed, and the event id makes the two one row.
    install.wait_for(
        lambda: hook_rows(install) >= calls and not spooled(install), what="every hook event stored"
    )
    assert hook_rows(install) == calls
    # The restarted fast path waited for the owner, said so, and said when the wait ended.
    output = log.read_text()
    assert any(
        line.startswith("fastpath") and "does not answer and still runs" in line
        for line in output.splitlines()
    )
    assert "answers again after" in output

    down = install.run("down")
    census.done.set()
    census.join()
    assert down.returncode == 0, down.stderr + install.log_tail()
    assert census.most == 1 and census.seen == {redis_pid}, census.seen
    assert pid_gone(redis_pid)
    assert install.redis_pids() == []
    assert install.redis_leftovers() == []
    assert not (install.home / "run" / "supervisor.pid").exists()
    print(
        "hook calls: before the freeze " + latency(hooks.calls, 0, frozen_at)
        + "; frozen " + latency(hooks.calls, frozen_at, resumed_at)
        + "; after " + latency(hooks.calls, resumed_at, float("inf"))
    )  # fmt: skip

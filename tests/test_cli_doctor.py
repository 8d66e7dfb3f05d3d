"""`blueplane doctor` and `blueplane logs`: on a system a real `up --detach` runs (healthy: exit 0; its
real log read whole, per process and followed), and each problem that can be made for real (hooks not
installed, the hook script gone, Redis down, the database not migrated, events in the spool, dead
letters) reported with its fix and exit 1."""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.real_claude import unavailable
from tests.support.stores import ROOT
from tests.test_supervisor import free_port

BLUEPLANE = Path(sys.executable).parent / "blueplane"
CLAUDE = ROOT / "tests" / "support" / "claude-real" / "node_modules" / ".bin" / "claude"


def run(env: dict[str, str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BLUEPLANE), *args], env=env, input=stdin.decode(), capture_output=True, text=True, timeout=150,
        check=False,
    )  # fmt: skip


def home_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / "claude"),
        "BLUEPLANE_OTLP_PORT": str(free_port()),  # each home's receiver a port of its own
        **extra,
    }
    env.pop("BLUEPLANE_DATABASE_URL", None)
    if "BLUEPLANE_REDIS_URL" not in extra:
        env.pop("BLUEPLANE_REDIS_URL", None)
    return env


def doctor(env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    result = run(env, "doctor", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {c["name"]: c for c in json.loads(result.stdout)["checks"]}


# --- a running system --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[dict[str, str]]:
    """A home with the hook installed and everything started by `up --detach`, until the module ends."""
    if not CLAUDE.exists():
        unavailable("the real Claude Code CLI is not installed")
    home = Path(tempfile.mkdtemp(prefix="bp-doc-", dir="/tmp"))  # short: the Redis socket path is limited
    env = home_env(home, BLUEPLANE_PORT=str(free_port()))
    try:
        assert run(env, "install", "claude-code", "--claude-bin", str(CLAUDE)).returncode == 0
        up = run(env, "up", "--detach")
        assert up.returncode == 0, up.stderr
        yield env
    finally:
        run(env, "down")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_healthy_system_has_no_problems(running):
    deadline = time.monotonic() + 120
    while True:  # the worker's first heartbeat comes when beat first schedules it
        code, checks = doctor(running)
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert code == 0, [c for c in checks.values() if c["status"] != "ok"]
    assert {"installation", "hooks", "hook_command", "supervisor", "database", "redis", "worker", "spool",
            "dead_letters", "failing_sessions", "disk", "integrity", "claude_code"} <= set(checks)  # fmt: skip
    assert checks["claude_code"]["figures"]["version"] is None or checks["claude_code"]["figures"]["version"]
    text = run(running, "doctor")
    assert text.returncode == 0 and text.stdout.endswith("no problems found\n")
    assert "fix:" not in text.stdout


@pytest.mark.e2e
def test_logs_of_a_real_supervisor(running):
    log = Path(running["BLUEPLANE_HOME"]) / "logs" / "blueplane.log"
    deadline = time.monotonic() + 60
    while "worker   | " not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.5)
    everything = run(running, "logs", "-n", "100000")
    assert everything.returncode == 0
    assert (
        everything.stdout.splitlines()
        == log.read_text(errors="replace").splitlines()[: len(everything.stdout.splitlines())]
    )
    worker = run(running, "logs", "worker", "-n", "3")
    lines = worker.stdout.splitlines()
    assert 1 <= len(lines) <= 3
    assert all(
        line.startswith("worker   | ") or not line.split("|")[0].strip().isidentifier() for line in lines
    )
    own = run(running, "logs", "supervisor").stdout
    assert "started worker" in own and "worker   | " not in own


@pytest.mark.e2e
def test_logs_follow_prints_new_lines_of_its_process_until_ctrl_c(running):
    log = Path(running["BLUEPLANE_HOME"]) / "logs" / "blueplane.log"
    follower = subprocess.Popen(
        [str(BLUEPLANE), "logs", "-f", "-n", "1", "fastpath"], env=running, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(2)  # let it print the tail and start following
        with open(log, "a") as out:  # lines in the supervisor's own format (supervisor._pump)
            out.write("worker   | not for the fastpath follower\n")
            out.write("fastpath | followed line one\n")
            out.write("  a continuation of the fastpath's line\n")
        deadline = time.monotonic() + 20
        seen = b""
        # Raw reads of what is there: a text reader on a non-blocking pipe fails when it is empty.
        while b"continuation" not in seen and time.monotonic() < deadline:
            if select.select([follower.stdout], [], [], 0.2)[0]:
                seen += os.read(follower.stdout.fileno(), 65536)
        follower.send_signal(signal.SIGINT)
        rest, err_bytes = follower.communicate(timeout=20)
    finally:
        follower.kill()
    seen_text, err = (seen + rest).decode(), err_bytes.decode()
    assert follower.returncode == 0, err
    assert (
        "fastpath | followed line one" in seen_text and "a continuation of the fastpath's line" in seen_text
    )
    assert "not for the fastpath follower" not in seen_text
    assert err == ""


# --- problems, made for real -------------------------------------------------------------------------


@pytest.fixture
def stopped(tmp_path: Path, corpus_home: Path, redis_server: str, redis) -> dict[str, str]:
    """A home nothing runs for, with a migrated store (a copy) and the tests' Redis."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(corpus_home / "telemetry.db", home / "telemetry.db")
    return home_env(home, BLUEPLANE_REDIS_URL=redis_server)


def test_hooks_not_installed(stopped):
    code, checks = doctor(stopped)
    assert code == 1
    assert checks["hooks"]["status"] == "fail"
    assert checks["hooks"]["fix"] == "blueplane install claude-code"
    assert checks["supervisor"]["fix"] == "blueplane up --detach"
    text = run(stopped, "doctor")
    assert text.returncode == 1 and "fix: blueplane install claude-code" in text.stdout
    assert text.stdout.rstrip().endswith("problems found")


def test_hook_script_missing(stopped):
    if not CLAUDE.exists():
        unavailable("the real Claude Code CLI is not installed")
    assert run(stopped, "install", "claude-code", "--claude-bin", str(CLAUDE)).returncode == 0
    code, checks = doctor(stopped)
    assert checks["hooks"]["status"] == "ok" and checks["hook_command"]["status"] == "ok"
    assert checks["hook_redis"]["status"] == "ok"
    capture = Path(stopped["BLUEPLANE_HOME"], "capture.json")
    capture.write_text(json.dumps({"redis": "unix:///elsewhere/redis.sock", "store_content": False}))
    code, checks = doctor(stopped)
    assert code == 1 and checks["hook_redis"]["status"] == "warn"
    assert checks["hook_redis"]["fix"].startswith("blueplane install claude-code")
    capture.unlink()
    assert doctor(stopped)[1]["hook_redis"]["status"] == "fail"
    settings = Path(stopped["CLAUDE_CONFIG_DIR"]) / "settings.json"
    script = str(ROOT / "telemetry" / "capture" / "hook.py")
    settings.write_text(settings.read_text().replace(script, "/gone/checkout/telemetry/capture/hook.py"))
    code, checks = doctor(stopped)
    assert code == 1
    assert checks["hook_command"]["status"] == "fail"
    assert (
        checks["hook_command"]["message"]
        == "the hook script is missing: /gone/checkout/telemetry/capture/hook.py"
    )
    assert checks["hook_command"]["fix"] == "blueplane install claude-code"


def test_redis_down(stopped, tmp_path):
    code, checks = doctor({**stopped, "BLUEPLANE_REDIS_URL": f"unix://{tmp_path}/none.sock"})
    assert code == 1
    assert checks["redis"]["status"] == "fail" and "blueplane up" in checks["redis"]["fix"]
    assert checks["dead_letters"]["status"] == "unknown"


def test_database_not_migrated(stopped):
    Path(stopped["BLUEPLANE_HOME"], "telemetry.db").unlink()
    code, checks = doctor(stopped)
    assert code == 1
    assert checks["database"]["status"] == "fail" and checks["database"]["fix"].startswith("blueplane up")


def test_events_waiting_in_the_spool(stopped, tmp_path):
    # A real hook call while its Redis cannot be reached: the hook spools the event.
    home = stopped["BLUEPLANE_HOME"]
    Path(home, "capture.json").write_text(json.dumps({"redis": f"unix://{tmp_path}/none.sock"}))
    hook = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "telemetry" / "capture" / "hook.py"), "claude-code"],
        input=b'{"session_id": "s1", "hook_event_name": "SessionStart", "cwd": "/tmp"}',
        env={"BLUEPLANE_HOME": home, "PATH": os.defpath}, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert hook.returncode == 0
    code, checks = doctor(stopped)
    assert code == 1
    assert checks["spool"]["status"] in ("warn", "fail") and checks["spool"]["figures"]["files"] >= 1
    assert "blueplane up" in checks["spool"]["fix"]


def test_dead_letters_present(stopped, redis):
    from telemetry.wire import DLQ_STREAM

    redis.xadd(DLQ_STREAM, {"event": b"not json", "reason": "undecodable", "stream_id": "1-0"})
    code, checks = doctor(stopped)
    assert code == 1
    assert checks["dead_letters"]["status"] == "warn"
    assert checks["dead_letters"]["fix"].startswith("blueplane dlq list")


def test_logs_bad_input(stopped, tmp_path):
    unknown = run(stopped, "logs", "nginx")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "blueplane: no process 'nginx': choose one of fastpath, worker, beat, capture, web, otlp, redis, supervisor\n"
    )
    none = run(stopped, "logs")
    assert none.returncode == 1 and none.stderr.startswith("blueplane: no log yet at ")
    for args in (["logs", "-n", "0"], ["logs", "-n", "x"], ["logs", "--bogus"], ["doctor", "--bogus"],
                 ["doctor", "extra"]):  # fmt: skip
        bad = run(stopped, *args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
    log = Path(stopped["BLUEPLANE_HOME"], "logs", "blueplane.log")
    log.parent.mkdir()
    log.write_bytes(b"2026-12-06 10:00:00,000 INFO blueplane.redis_server: started embedded redis\n"
                    b"web      | \xff\xfe bytes that are not UTF-8\n")  # fmt: skip
    assert (
        run(stopped, "logs", "redis").stdout
        == "2026-12-06 10:00:00,000 INFO blueplane.redis_server: started embedded redis\n"
    )
    assert "bytes that are not UTF-8" in run(stopped, "logs", "web").stdout
    assert run(stopped, "logs", "-n", str(2**70)).returncode == 0

"""`blueplane up` end to end: real Redis, migrations, fast path, Celery worker, beat and web server."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from blueplane.redis_server import EmbeddedRedis
from tests.factories import entry, envelope
from tests.support.system import BLUEPLANE, Install, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# At least these; `capture` and later processes join when their commands exist.
EXPECTED = {"fastpath", "worker", "beat", "web"}


@pytest.fixture
def install() -> Iterator[Install]:
    # Its own short home (the Redis socket path must stay under 107 bytes), not the test run's.
    home = Path(tempfile.mkdtemp(prefix="bp-e2e-", dir="/tmp"))
    inst = Install(home=home, port=free_port())
    yield inst
    inst.run("down")  # whatever a failed test left running
    for pid in inst.redis_pids():
        os.kill(pid, signal.SIGCONT)  # a test that froze it may have failed before resuming it
    EmbeddedRedis(home).stop()
    shutil.rmtree(home, ignore_errors=True)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # Reaped processes vanish; one still listed must at least be a zombie with no command line.
    return not Path(f"/proc/{pid}/cmdline").read_bytes()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_detached_pipeline_stores_events_runs_tasks_and_stops(install: Install) -> None:
    up = install.run("up", "--detach")
    assert up.returncode == 0, up.stderr + install.log_tail()
    assert f"http://127.0.0.1:{install.port}/admin/" in up.stdout
    assert install.redis_up()
    state = install.state()
    assert set(state["processes"]) >= EXPECTED
    supervisor_pid = state["supervisor"]
    child_pids = [p["pid"] for p in state["processes"].values()]

    session_id = f"e2e-{os.getpid()}"
    install.redis().xadd("telemetry:events", entry(envelope(session_id=session_id)))
    install.wait_for(
        lambda: install.query("SELECT count(*) FROM claude_raw_traces")[0][0] >= 1,
        what="raw trace stored by the fast path",
    )
    # The fast path enqueued a catch-up task; only a running Celery worker records the progress row.
    install.wait_for(
        lambda: install.query(
            "SELECT raw_through_seq FROM session_progress WHERE platform = 'claude_code' AND session_id = ? "
            "AND raw_through_seq >= 1",
            session_id,
        ),
        what="session_progress row written by the Celery worker",
    )
    install.wait_for(
        lambda: http_ok(f"http://127.0.0.1:{install.port}/admin/login/"),
        what="admin page from the web server",
    )
    # Every check passes, the worker's heartbeat (written when it starts, then on beat's schedule) too.
    install.wait_for(
        lambda: http_ok(f"http://127.0.0.1:{install.port}/healthz"), what="/healthz answering 200"
    )
    status = install.run("status")
    assert status.returncode == 0, status.stderr
    assert f"supervisor  running (pid {supervisor_pid})" in status.stdout
    assert "claude_code 1" in status.stdout
    report = json.loads(install.run("status", "--json").stdout)
    assert report["supervisor"]["pid"] == supervisor_pid
    assert {p["name"] for p in report["supervisor"]["processes"] if p["alive"]} >= EXPECTED
    assert [w for w in report["warnings"] if "disk space" not in w] == []  # the test machine may be full

    again = install.run("up", "--detach")
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"blueplane: Blueplane is already running (pid {supervisor_pid}); `blueplane down` stops it"
    ]

    down = install.run("down")
    assert down.returncode == 0, down.stderr
    assert f"stopped (pid {supervisor_pid})" in down.stdout
    assert pid_gone(supervisor_pid)
    assert all(pid_gone(pid) for pid in child_pids)
    assert not install.redis_up()
    assert not (install.home / "run" / "supervisor.pid").exists()
    # Stopping lost nothing that was stored.
    assert install.query("SELECT count(*) FROM claude_raw_traces")[0][0] == 1


def test_foreground_restarts_a_dead_child_and_stops_on_ctrl_c(install: Install) -> None:
    log = (install.home / "foreground.log").open("wb")
    proc = subprocess.Popen(
        [str(BLUEPLANE), "up"],
        env=install.env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        state = install.wait_for(
            lambda: (s := install.state()) and s["ready"] and s, what="ready supervisor", timeout_s=120
        )
        assert set(state["processes"]) >= EXPECTED
        fastpath_pid = state["processes"]["fastpath"]["pid"]
        os.kill(fastpath_pid, signal.SIGKILL)
        restarted = install.wait_for(
            lambda: (s := install.state()) and s["processes"]["fastpath"]["restarts"] == 1 and s,
            what="fastpath restarted",
        )
        assert restarted["processes"]["fastpath"]["pid"] != fastpath_pid

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()  # a clean stop, so a failed test leaves no children behind
            proc.wait(timeout=60)
        log.close()
    assert all(pid_gone(p["pid"]) for p in restarted["processes"].values())
    assert not install.redis_up()
    output = (install.home / "foreground.log").read_text()
    assert "fastpath (pid" in output and "restarting in" in output
    assert "Traceback" not in output


def test_up_and_down_clean_up_after_a_killed_supervisor(install: Install) -> None:
    def up_then_kill() -> list[int]:
        up = install.run("up", "--detach")
        assert up.returncode == 0, up.stderr + install.log_tail()
        state = install.state()
        os.kill(state["supervisor"], signal.SIGKILL)  # no chance to stop its children or Redis
        install.wait_for(lambda: pid_gone(state["supervisor"]), what="supervisor gone")
        children = [p["pid"] for p in state["processes"].values()]
        assert not any(pid_gone(pid) for pid in children)
        return children

    # The next `up` stops the leftovers and takes over the Redis the killed one started...
    children = up_then_kill()
    children_again = up_then_kill()
    assert all(pid_gone(pid) for pid in children)
    assert "left by a supervisor that was killed" in install.log_tail()

    # ...and so does `down`, Redis included.
    down = install.run("down")
    assert down.returncode == 0, down.stderr
    assert "not running" in down.stdout
    assert "left by a supervisor that was killed" in down.stderr
    assert all(pid_gone(pid) for pid in children_again)
    assert not install.redis_up()


def test_a_crashed_fast_path_is_restarted_and_finishes_what_it_had_read(install: Install) -> None:
    # One event per batch, so the crash surely comes mid-backlog with entries read and not acknowledged.
    install_env = {**install.env, "BLUEPLANE_FASTPATH_BATCH_SIZE": "1"}
    up = subprocess.run(
        [str(BLUEPLANE), "up", "--detach"], env=install_env, capture_output=True, text=True, timeout=150
    )
    assert up.returncode == 0, up.stderr + install.log_tail()
    total = 3000
    pipe = install.redis().pipeline(transaction=False)
    for _ in range(total):
        pipe.xadd("telemetry:events", entry(envelope()))
    pipe.execute()
    install.wait_for(
        lambda: install.query("SELECT count(*) FROM claude_raw_traces")[0][0] > 0, what="the drain started"
    )
    os.kill(install.state()["processes"]["fastpath"]["pid"], signal.SIGKILL)
    assert install.redis().xpending("telemetry:events", "fastpath")["pending"] > 0
    # Its successor, under the same consumer name, reads those entries again at once: well before the
    # minute after which another consumer could reclaim them.
    install.wait_for(
        lambda: install.query("SELECT count(*) FROM claude_raw_traces")[0][0] == total,
        what="every event stored",
        timeout_s=45,
    )
    assert install.state()["processes"]["fastpath"]["restarts"] == 1
    install.wait_for(
        lambda: install.redis().xpending("telemetry:events", "fastpath")["pending"] == 0,
        what="nothing pending",
        timeout_s=10,
    )


def test_down_stops_a_frozen_redis(install: Install) -> None:
    up = install.run("up", "--detach")
    assert up.returncode == 0, up.stderr + install.log_tail()
    [redis_pid] = install.redis_pids()
    os.kill(redis_pid, signal.SIGSTOP)  # frozen: it answers nothing, SHUTDOWN included

    down = install.run("down")
    assert down.returncode == 0, down.stderr + install.log_tail()
    assert pid_gone(redis_pid)
    assert install.redis_pids() == []
    assert install.redis_leftovers() == []


def test_up_on_a_frozen_redis_starts_no_second_one_and_down_stops_it(install: Install) -> None:
    up = install.run("up", "--detach")
    assert up.returncode == 0, up.stderr + install.log_tail()
    state = install.state()
    os.kill(state["supervisor"], signal.SIGKILL)  # its Redis and children stay behind
    install.wait_for(lambda: pid_gone(state["supervisor"]), what="supervisor gone")
    [redis_pid] = install.redis_pids()
    os.kill(redis_pid, signal.SIGSTOP)

    again = subprocess.run(
        [str(BLUEPLANE), "up", "--detach"], env={**install.env, "BLUEPLANE_REDIS_WAIT_S": "2"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    assert again.returncode == 1, again.stdout + install.log_tail()
    [line] = again.stderr.splitlines()
    assert f"does not answer and still runs (pid {redis_pid})" in line, line
    assert "never started" in line and "`blueplane down` stops it" in line
    assert install.redis_pids() == [redis_pid]

    # The Redis is the killed supervisor's: `down` stops it, frozen as it is.
    down = install.run("down")
    assert down.returncode == 0, down.stderr
    assert "not running" in down.stdout
    assert "stopped the embedded redis left by a supervisor that was killed" in down.stderr
    assert pid_gone(redis_pid)
    assert install.redis_pids() == []
    assert install.redis_leftovers() == []
    assert all(pid_gone(p["pid"]) for p in state["processes"].values())


def test_every_url_the_banner_prints_answers() -> None:
    """The web server, migrated and started as `up` starts it, answers every URL the banner prints, the
    dashboard at `/` first."""
    from blueplane.supervisor import banner, processes_default

    home = Path(tempfile.mkdtemp(prefix="bp-web-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "DJANGO_SETTINGS_MODULE": "blueplane.settings"}
    for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
        env.pop(name, None)
    [web] = [p for p in processes_default(port=port) if p.name == "web"]
    migrate = subprocess.run([*web.argv[:2], "migrate"], env=env, cwd=home, capture_output=True, check=False)
    assert migrate.returncode == 0, migrate.stderr
    log = (home / "web.log").open("wb")
    server = subprocess.Popen(web.argv, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{port}/admin/login/"):
            assert server.poll() is None and time.monotonic() < deadline, (home / "web.log").read_text()
            time.sleep(0.2)
        urls = re.findall(r"https?://\S+", banner(port=port, home=home))
        assert len(urls) >= 2 and urls[0] == f"http://127.0.0.1:{port}/"
        for url in urls:
            if url.endswith("/healthz"):
                # Only the web server runs here, without Redis: /healthz answers 503, naming it.
                with pytest.raises(urllib.error.HTTPError) as failing:
                    urllib.request.urlopen(url, timeout=5)
                assert failing.value.code == 503
                assert "redis" in json.loads(failing.value.read())["failing"]
                continue
            with urllib.request.urlopen(url, timeout=5) as response:  # follows the admin's login redirect
                assert response.status == 200, url
                if url.endswith(f":{port}/"):
                    assert 'id="figures"' in response.read().decode()  # the dashboard's overview
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def test_an_unknown_role_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BLUEPLANE), "up", "--role", "worker", "--role", "bogus"],
        env={**os.environ, "BLUEPLANE_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "blueplane: unknown role 'bogus': choose from web, fastpath, worker, beat, otlp, capture, forward"
    ]
    assert not (tmp_path / "run").exists() and not (tmp_path / "redis").exists()


def test_roles_pick_processes_in_start_order() -> None:
    from blueplane.supervisor import ROLES, processes_default, roles_check

    assert [p.name for p in processes_default(port=0)] == [
        "fastpath", "worker", "beat", "capture", "web", "otlp"
    ]  # fmt: skip
    # Every process is a role; `forward` runs only once this machine is connected to a team server.
    assert set(ROLES) == {p.name for p in processes_default(port=0)} | {"forward"}
    assert roles_check(None) == ROLES
    assert roles_check(["worker", "web", "worker"]) == ("web", "worker")

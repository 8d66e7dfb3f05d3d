"""Developer machines forwarding to a team server, end to end with real processes (docs/team.md):
`blueplane connect` / `disconnect` and their errors, a laptop offline for a week that comes back (every
event arrives once, a forwarder killed mid-way doubles nothing), and two clones of one repository on
two machines making one project on the server. The token appears in no output or log."""

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.support.system import Install, free_port, install_home
from tests.support.team import Machine, server_up, token_for, who_sent

pytestmark = pytest.mark.usefixtures("redis_server")


def all_text(*homes: Path) -> str:
    """Every log and state file under the homes, except team.json (which holds the token)."""
    out = []
    for home in homes:
        for path in home.rglob("*"):
            if path.is_file() and path.name != "team.json" and path.suffix in (".log", ".json", ".jsonl", ""):
                out.append(path.read_text(errors="replace"))
    return "\n".join(out)


@pytest.fixture
def server():
    with install_home("bp-srv-") as inst:
        server_up(inst)
        yield inst


@pytest.fixture
def machine_redis(redis_server):
    """Two databases of the tests' Redis, for two machines' streams (emptied before and after)."""
    import redis as redis_py

    if redis_server.startswith("unix://"):
        urls = [f"{redis_server.partition('?')[0]}?db={db}" for db in (13, 14)]
    else:
        head, _, rest = redis_server.partition("://")
        urls = [f"{head}://{rest.split('/', 1)[0]}/{db}" for db in (13, 14)]
    for url in urls:
        redis_py.Redis.from_url(url).flushdb()
    yield urls
    for url in urls:
        redis_py.Redis.from_url(url).flushdb()


def test_connect_and_disconnect(server: Install, tmp_path: Path):
    token = token_for(server, "alice-laptop", "alice")
    laptop = Machine(tmp_path / "laptop", "redis://127.0.0.1:1/0")
    (laptop.home / "salt").write_bytes(b"own-salt" * 4)

    bad = laptop.run("connect", "ftp://nowhere", "--token", token)
    assert bad.returncode == 1 and "is not a server URL" in bad.stderr and len(bad.stderr.splitlines()) == 1
    gone = laptop.run("connect", f"http://127.0.0.1:{free_port()}", "--token", token)
    assert gone.returncode == 1 and "cannot reach" in gone.stderr and len(gone.stderr.splitlines()) == 1
    refused = laptop.run("connect", server.url, "--token", "bp_" + "x" * 43)
    assert refused.returncode == 1 and "refused the token" in refused.stderr, refused.stderr
    assert not (laptop.home / "team.json").exists()
    assert (laptop.home / "salt").read_bytes() == b"own-salt" * 4

    ok = laptop.run("connect", server.url, "--token", token, "--level", "counts")
    assert ok.returncode == 0, ok.stderr
    assert "as alice" in ok.stdout
    team = json.loads((laptop.home / "team.json").read_text())
    assert oct((laptop.home / "team.json").stat().st_mode & 0o777) == "0o600"
    assert (team["user"], team["level"], team["url"]) == ("alice", "counts", server.url)
    assert (laptop.home / "salt.local").read_bytes() == b"own-salt" * 4
    team_salt = (laptop.home / "salt").read_bytes()
    assert team_salt != b"own-salt" * 4 and len(team_salt) == 32

    status = laptop.run("status")
    assert status.returncode == 0 and "team        " in status.stdout and "as alice" in status.stdout, (
        status.stdout
    )

    again = laptop.run("connect", server.url, "--token", token)  # a reconnect keeps the machine id
    assert again.returncode == 0
    assert json.loads((laptop.home / "team.json").read_text())["machine_id"] == team["machine_id"]
    assert (laptop.home / "salt.local").read_bytes() == b"own-salt" * 4

    off = laptop.run("disconnect")
    assert off.returncode == 0 and "salt" in off.stdout
    assert not (laptop.home / "team.json").exists() and (laptop.home / "salt").read_bytes() == team_salt
    assert "team " not in laptop.run("status").stdout
    for output in (bad, gone, refused, ok, status, again, off):
        assert token not in output.stdout + output.stderr
    assert token not in all_text(laptop.home, server.home)


def week_of_events(n: int, sessions: int = 20) -> list[dict]:
    start = datetime.now(UTC) - timedelta(days=7)
    return [
        {"event_id": f"wk:{uuid.uuid4()}", "platform": "claude_code", "source": "hook", "event_type": "PostToolUse",
         "hook_type": "PostToolUse", "session_id": f"week-{i % sessions}",
         "timestamp": (start + timedelta(seconds=i * 7 * 86400 // n)).isoformat(),
         "payload": {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"toolu_{i}",
                     "session_id": f"week-{i % sessions}"},
         "metadata": {"capture_ts": i}}
        for i in range(n)
    ]  # fmt: skip


def test_a_laptop_offline_for_a_week_catches_up_exactly_once(server: Install, tmp_path: Path):
    total = 1500
    token = token_for(server, "alice-laptop", "alice")
    laptop = Install(home=Path(tmp_path / "laptop"), port=free_port())
    laptop.home.mkdir()
    env = {**laptop.env, "BLUEPLANE_FORWARD_BATCH_EVENTS": "25"}
    run = lambda *a: subprocess.run([str(Path(sys.executable).parent / "blueplane"), *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=150)  # fmt: skip
    try:
        assert run("connect", server.url, "--token", token).returncode == 0
        machine = json.loads((laptop.home / "team.json").read_text())["machine_id"]
        assert server.run("down").returncode == 0  # the team server goes away

        up = run("up", "--detach")
        assert up.returncode == 0, up.stderr + laptop.log_tail()
        client = laptop.redis()
        pipe = client.pipeline()
        for event in week_of_events(total):
            pipe.xadd("telemetry:events", {"event": orjson.dumps(event)})
        pipe.execute()
        stored = lambda: laptop.query("SELECT count(*) FROM claude_raw_traces")[0][0] == total  # noqa: E731
        laptop.wait_for(stored, what="the week stored locally")
        state = laptop.home / "forward" / "state.json"
        laptop.wait_for(
            lambda: state.exists() and "cannot reach" in state.read_text(), what="a forward error"
        )
        status = run("status")
        assert f"{total} events not forwarded yet" in status.stdout, status.stdout
        assert "cannot reach" in status.stdout

        server_up(server)  # back, at the same address
        cursor = laptop.home / "forward" / "cursor.json"

        def seq_forwarded() -> int:
            try:
                return json.loads(cursor.read_text())["seqs"].get("claude_code", 0)
            except (OSError, ValueError):
                return 0

        laptop.wait_for(seq_forwarded, what="a first batch forwarded", timeout_s=120)
        pid = laptop.state()["processes"]["forward"]["pid"]
        os.kill(pid, signal.SIGKILL)  # mid-way, most likely; the supervisor starts it again
        count = lambda: server.query("SELECT count(*) FROM claude_raw_traces")[0][0]  # noqa: E731
        server.wait_for(lambda: count() == total, what="every event on the server", timeout_s=120)
        assert who_sent(server) == [["alice", machine, total]]
        # Derived on the server as alice's, from her machine: her sessions and their usage rollups.
        people = lambda: server.query('SELECT DISTINCT "user", machine FROM sessions')  # noqa: E731
        server.wait_for(lambda: people() == [("alice", machine)], what="alice's sessions on the server")
        rollups = {
            row
            for table in ("rollup_usage_hour", "rollup_tool_hour", "rollup_activity_hour")
            for row in server.query(f'SELECT DISTINCT "user", machine FROM {table}')
        }
        assert rollups == {("alice", machine)}
        laptop.wait_for(lambda: seq_forwarded() == total, what="the cursor at the end")
        assert laptop.state()["processes"]["forward"]["restarts"] >= 1
        assert count() == total
        assert "0 events not forwarded yet" in run("status").stdout
        assert token not in all_text(laptop.home, server.home)
    finally:
        run("down")


def test_two_machines_one_repository_one_project(server: Install, tmp_path: Path, machine_redis):
    repos = []
    for name, origin in (("alice", "https://github.com/acme/app.git"), ("bob", "git@github.com:acme/app")):
        repo = tmp_path / f"{name}-code" / ("app" if name == "alice" else "checkout")
        repo.mkdir(parents=True)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run(["git", "remote", "add", "origin", origin], cwd=repo, check=True)
        repos.append(repo)
    machines = []
    for (name, repo), url in zip((("alice", repos[0]), ("bob", repos[1])), machine_redis, strict=True):
        machine = Machine(tmp_path / f"{name}-home", url)
        assert machine.manage("migrate", "-v", "0").returncode == 0
        token = token_for(server, f"{name}-laptop", name)
        connected = machine.run("connect", server.url, "--token", token)
        assert connected.returncode == 0, connected.stderr
        for event in ("SessionStart", "UserPromptSubmit", "Stop"):
            machine.hook({"hook_event_name": event, "session_id": f"{name}-session", "cwd": str(repo / "src"),
                          "transcript_path": str(repo / "t.jsonl")})  # fmt: skip
        stored = machine.manage("runfastpath", "--once")
        assert stored.returncode == 0, stored.stderr
        sent = machine.manage("runforward", "--once")
        assert sent.returncode == 0 and "3 events forwarded" in sent.stdout, sent.stdout + sent.stderr
        assert token not in sent.stdout + sent.stderr + connected.stdout + connected.stderr
        machines.append(machine)

    server.wait_for(
        lambda: server.query("SELECT count(*) FROM claude_raw_traces")[0][0] == 6, what="6 events"
    )
    server.wait_for(lambda: server.query("SELECT count(*) FROM sessions")[0][0] == 2, what="2 sessions")
    both = "SELECT count(*), count(DISTINCT project_id) FROM sessions WHERE project_id IS NOT NULL"
    server.wait_for(lambda: server.query(both) == [(2, 1)], what="both sessions in one project")
    one = "SELECT DISTINCT p.name FROM sessions s JOIN projects p ON p.id = s.project_id"
    assert server.query(one) == [("app",)]
    assert sorted(u for u, _m, _n in who_sent(server)) == ["alice", "bob"]

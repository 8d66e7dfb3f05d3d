"""The status line as Claude Code runs it (`python -I -S blueplane/statusline.py`, the JSON it sends on
stdin, captured from the real CLI in tests/fixtures/claude-statusline/): its figures against ccusage's
for the same transcripts, the official rate limits recorded once and derived, and one short line with
exit code 0 and a silent stderr whatever is broken."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.real_claude import unavailable
from tests.support.stores import ROOT, store_build, store_env

FIXTURES = ROOT / "tests" / "fixtures" / "claude-statusline"
SCRIPT = ROOT / "blueplane" / "statusline.py"
PYTHON = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
CCUSAGE = ROOT / "tests" / "support" / "claude-real" / "node_modules" / ".bin" / "ccusage"
SESSION = str(uuid.UUID(int=0x5A7E))


def status(name: str, **changes: object) -> bytes:
    data = json.loads((FIXTURES / name).read_text())
    data.update(changes)
    return json.dumps(data).encode()


def statusline(stdin: bytes, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The script exactly as the installed command runs it."""
    return subprocess.run([PYTHON, "-I", "-S", str(SCRIPT)], input=stdin, env=env, capture_output=True,
                          timeout=30, check=False)  # fmt: skip


def transcripts(root: Path, now: datetime) -> Path:
    """A project with one session whose two replies were 40 and 10 minutes ago."""
    folder = root / "projects" / "-home-dev-status"
    folder.mkdir(parents=True)
    lines = []
    for i, minutes in enumerate((40, 10)):
        at = (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines.append({"type": "assistant", "timestamp": at, "sessionId": SESSION, "version": "2.1.331",
                      "cwd": "/home/dev/status", "uuid": str(uuid.UUID(int=i + 1)), "requestId": f"req_status{i}",
                      "message": {"id": f"msg_status{i}", "type": "message", "role": "assistant",
                                  "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "ok"}],
                                  "stop_reason": "end_turn",
                                  "usage": {"input_tokens": 120, "output_tokens": 2000 * (i + 1),
                                            "cache_creation_input_tokens": 30000, "cache_read_input_tokens": 9000}}})  # fmt: skip
    (folder / f"{SESSION}.jsonl").write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines)
    )
    return root / "projects"


@pytest.fixture(scope="module")
def recent_home(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a home whose store holds a session active right now, its transcripts' config folder)."""
    root = tmp_path_factory.mktemp("status")
    projects = transcripts(root / "claude", datetime.now(UTC))
    return store_build(root / "home", redis_server, projects), root / "claude"


def test_figures_equal_ccusage_for_the_same_transcripts(recent_home, redis_server: str):
    if not os.access(CCUSAGE, os.X_OK):
        unavailable(f"ccusage is not installed at {CCUSAGE} (npm install in tests/support/claude-real)")
    home, claude = recent_home
    env = {**store_env(home, redis_server), "TZ": "UTC"}
    result = statusline(status("after-reply.json", session_id=SESSION), env)
    assert result.returncode == 0 and result.stderr == b""
    line = result.stdout.decode()
    assert line.endswith("\n") and line.count("\n") == 1

    def ccusage(*args: str) -> dict:
        out = subprocess.run([str(CCUSAGE), *args, "--json", "--offline"], capture_output=True, check=True,
                             env={**os.environ, "TZ": "UTC", "CLAUDE_CONFIG_DIR": str(claude)}, timeout=60)  # fmt: skip
        return json.loads(out.stdout)

    (session,) = ccusage("session")["session"]
    tokens = session["totalTokens"]
    assert f"session ${session['totalCost']:,.2f} {tokens / 1000:.1f}k tok" in line
    today = datetime.now(UTC).date().isoformat()
    daily = {d["period"]: d["totalCost"] for d in ccusage("daily")["daily"]}
    assert f"today ${daily.get(today, 0):,.2f}" in line
    (block,) = ccusage("blocks", "--active")["blocks"]
    assert f"block ${block['costUSD']:,.2f} ${block['burnRate']['costPerHour']:,.2f}/h" in line
    assert "ctx 12%" in line  # Claude Code's own figure, passed through
    assert "official" not in line


def test_the_command_prints_the_same_line(recent_home, redis_server: str):
    home, _ = recent_home
    env = {**store_env(home, redis_server), "TZ": "UTC"}
    stdin = status("after-reply.json", session_id=SESSION)
    by_hand = subprocess.run([str(Path(sys.executable).parent / "blueplane"), "statusline"], input=stdin, env=env,
                             capture_output=True, timeout=60, check=False)  # fmt: skip
    assert by_hand.returncode == 0
    # Equal but for a minute's turn between the runs (the block's time left).
    assert by_hand.stdout.split(b" left")[0][:-6] == statusline(stdin, env).stdout.split(b" left")[0][:-6]


def test_a_session_the_store_does_not_know_shows_claude_codes_cost(corpus_home: Path, redis_server: str):
    result = statusline(status("after-reply.json"), store_env(corpus_home, redis_server))
    assert result.stdout.decode().startswith("session $0.09 (Claude Code) | today $0.00 | ctx 12%")


@pytest.mark.django_db
def test_official_rate_limits_are_recorded_once_and_derived(redis, redis_server: str, tmp_path: Path):
    from telemetry import tasks
    from telemetry.selectors.ratelimits import rate_limits_latest
    from tests.telemetry.test_consumer import drain, make_consumer

    env = {**os.environ, "BLUEPLANE_HOME": str(tmp_path), "BLUEPLANE_REDIS_URL": redis_server}
    stdin = status("subscription.json")
    for _ in range(3):  # every refresh of the same figures
        result = statusline(stdin, env)
        assert result.returncode == 0 and result.stderr == b""
    assert "official 5h 42% 7d 13%" in result.stdout.decode()
    assert redis.xlen("telemetry:events") == 1  # the refreshes after the first send nothing
    (tmp_path / "statusline.last").unlink()  # a second copy, as a lost marker file would send
    statusline(stdin, env)
    drain(make_consumer(redis))
    tasks.sessions_catch_up()
    latest = rate_limits_latest()
    assert latest["session_id"] == json.loads(stdin)["session_id"]
    assert latest["five_hour"] == {
        "used_percentage": 42.0,
        "resets_at": datetime.fromtimestamp(1796590800, UTC),
    }
    assert latest["seven_day"]["used_percentage"] == 13.0
    from telemetry.models import Turn

    assert Turn.objects.filter(kind="rate_limits").count() == 1  # the copy is the same event

    moved = status(
        "subscription.json", rate_limits={"five_hour": {"used_percentage": 57.5, "resets_at": 1796590800}}
    )
    statusline(moved, env)
    drain(make_consumer(redis))
    tasks.sessions_catch_up()
    latest = rate_limits_latest()
    assert latest["five_hour"]["used_percentage"] == 57.5 and latest["seven_day"] is None


def test_redis_down_spools_the_rate_limits(tmp_path: Path):
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path),
        "BLUEPLANE_REDIS_URL": f"unix://{tmp_path}/none.sock",
    }
    result = statusline(status("subscription.json"), env)
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout.decode() == "blueplane: no usage yet | ctx 12% | official 5h 42% 7d 13%\n"
    (spooled,) = (tmp_path / "spool").glob("*")
    (line,) = spooled.read_bytes().splitlines()
    envelope = json.loads(line)
    assert envelope["event_type"] == "StatusLine" and envelope["payload"]["rate_limits"]["seven_day"] == {
        "used_percentage": 13, "resets_at": 1797120000}  # fmt: skip
    assert (
        "cwd" not in envelope["payload"] and "transcript_path" not in envelope["payload"]
    )  # nothing else kept


@pytest.mark.parametrize(
    "stdin",
    [b"", b"null", b"[]", b"{", b"\xff\xfe garbage", b'"' + b"x" * 2_000_000 + b'"', b"9" * 5000,
     b'{"session_id": 7, "context_window": {"used_percentage": "lots"}, "rate_limits": [1]}',
     b'{"session_id": "' + b"s" * 100_000 + b'", "cost": {"total_cost_usd": 1e999}}',
     b'{"rate_limits": {"five_hour": {"used_percentage": 1e400, "resets_at": 18446744073709551616}}}',
     b'{"session_id": "x", "rate_limits": {"five_hour": {"used_percentage": NaN, "resets_at": -1}}}'],
    ids=["empty", "null", "list", "cut", "binary", "megabyte-string", "huge-number", "wrong-types", "long-id",
         "past-64-bits", "nan"],
)  # fmt: skip
def test_garbage_is_a_neutral_line(tmp_path: Path, stdin: bytes):
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path),
        "BLUEPLANE_REDIS_URL": f"unix://{tmp_path}/none.sock",
    }
    result = statusline(stdin, env)
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout == b"blueplane: no usage yet\n"
    assert not (tmp_path / "spool").exists()


def test_a_broken_database_is_a_neutral_line(tmp_path: Path):
    (tmp_path / "telemetry.db").write_bytes(b"not a database" * 100)
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path),
        "BLUEPLANE_REDIS_URL": f"unix://{tmp_path}/none.sock",
    }
    result = statusline(status("start.json"), env)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"blueplane: no usage yet\n", b"")

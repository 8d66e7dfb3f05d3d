"""The `blueplane` command as a user meets it: a mistake is one line on stderr, never a traceback."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

BLUEPLANE = Path(sys.executable).parent / "blueplane"


def blueplane(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with its own home and no external Redis or database."""
    full_env = {**os.environ, "BLUEPLANE_HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / "claude"), **env}
    for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
        full_env.pop(name, None)
    return subprocess.run(
        [str(BLUEPLANE), *args],
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [[], ["frobnicate"], ["up", "--bogus"], ["install"], ["uninstall"], ["import"], ["status", "extra"]],
    ids=["no-command", "unknown-command", "unknown-option", "install-no-target", "uninstall-no-target",
         "import-no-target", "extra-argument"],
)  # fmt: skip
def test_bad_arguments_are_usage_and_one_error_line(tmp_path: Path, args: list[str]) -> None:
    result = blueplane(*args, home=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1
    assert result.stderr.startswith("usage: blueplane")


@pytest.mark.parametrize("args", [["status"], ["up"], ["up", "--detach"], ["down"], ["manage", "check"]])
def test_bad_environment_variable_is_one_line_naming_it(tmp_path: Path, args: list[str]) -> None:
    result = blueplane(*args, home=tmp_path, BLUEPLANE_FASTPATH_BATCH_SIZE="abc")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "blueplane: BLUEPLANE_FASTPATH_BATCH_SIZE must be a whole number, got 'abc'"
    ]
    assert not (tmp_path / "run" / "supervisor.pid").exists()
    assert not (tmp_path / "redis" / "redis.sock").exists()  # `up` started nothing


def test_out_of_range_port_is_one_line(tmp_path: Path) -> None:
    result = blueplane("up", home=tmp_path, BLUEPLANE_PORT="70000")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["blueplane: BLUEPLANE_PORT must be at most 65535, got 70000"]


@pytest.mark.parametrize("args", [["up"], ["up", "--detach"]])
def test_redis_that_cannot_start_is_one_line_and_leaves_nothing_behind(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / ("deep" * 30)  # the Redis socket path would exceed the 107-byte limit
    result = blueplane(*args, home=home)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("blueplane: BLUEPLANE_HOME is too deep for a unix socket")
    assert not (home / "run" / "supervisor.pid").exists()


def test_down_when_nothing_runs_says_so(tmp_path: Path) -> None:
    result = blueplane("down", home=tmp_path)
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_status_of_a_fresh_home(tmp_path: Path) -> None:
    result = blueplane("status", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "supervisor  not running" in result.stdout
    assert "redis       not answering" in result.stdout
    assert "not migrated" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = blueplane("--version", home=tmp_path)
    assert result.returncode == 0
    assert re.fullmatch(r"blueplane \d+\.\d+\.\d+\n", result.stdout)


def test_status_json_is_only_json(tmp_path: Path) -> None:
    result = blueplane("status", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["database"]["ready"] is False and report["redis"]["ok"] is False


def test_manage_passes_everything_to_django(tmp_path: Path) -> None:
    result = blueplane("manage", "check", "--tag", "models", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    # Options after `manage` are Django's, not ours.
    result = blueplane("manage", "--help", home=tmp_path)
    assert result.returncode == 0
    assert "Available subcommands" in result.stdout


def test_capture_commands_are_dispatched_and_their_exit_code_kept(tmp_path: Path) -> None:
    result = blueplane("install", "no-such-assistant", "--dry-run", home=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "no-such-assistant" in line  # judged by telemetry.capture.commands, not by argparse


@pytest.mark.parametrize("args", [["usage"], ["tools"]])
def test_reports_before_the_first_up_say_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    result = blueplane(*args, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "blueplane: no data yet: the database is not set up; `blueplane up` sets it up and starts capturing"
    ]


@pytest.mark.parametrize("command", [["rebuild"], ["runfastpath", "--once"]])
def test_commands_before_the_first_up_say_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    result = blueplane("manage", *command, home=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        "the database is not set up: run `blueplane up` or `python manage.py migrate`"
    )


def test_importing_garbage_names_each_bad_line_starts_nothing_and_exits_1(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n[1]\n")
    result = blueplane("import", "claude-code", str(garbage), home=tmp_path / "home")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{garbage}:1: not JSON: invalid literal, expected 'null' at column 1",
        f"{garbage}:2: not a JSON object but an array",
        f"{garbage}: nothing readable, not imported",
    ]
    assert result.stdout.startswith("read 1 file (")
    assert not (tmp_path / "home" / "redis" / "redis.sock").exists()  # nothing to send: no Redis started


# ---- blueplane dlq -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["list"], ["show", "1-0"], ["replay", "--all"], ["purge", "--all", "--yes"]]
)
def test_dlq_without_redis_is_one_line(tmp_path: Path, args: list[str]) -> None:
    result = blueplane("dlq", *args, home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "blueplane: Redis is not answering: start Blueplane with `blueplane up`"
    ]


def dlq(*args: str, redis_url: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`blueplane dlq ...` against the tests' Redis."""
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_REDIS_URL": redis_url}
    return subprocess.run(
        [str(BLUEPLANE), "dlq", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def refuse_tool():
    """A rule the production schema does not have, standing for data the database refuses (a bug fixed
    later): a raw trace whose tool_name is 'Refused' fails its insert."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_tool BEFORE INSERT ON claude_raw_traces WHEN NEW.tool_name = 'Refused' "
            "BEGIN SELECT RAISE(ABORT, 'tool_name Refused is not allowed here'); END"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_tool")


@pytest.mark.django_db
def test_dlq_inspect_replay_after_a_fix_and_purge(redis, redis_server, refuse_tool, tmp_path: Path) -> None:
    from django.db import connection

    from telemetry.ingest.consumer import StreamConsumer
    from telemetry.models import ClaudeRawTrace
    from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
    from tests.factories import entry, envelope

    def drain() -> None:
        consumer = StreamConsumer(client=redis, consumer="cli", flush_ms=20, max_event_bytes=4000)
        while consumer.run_once():
            pass

    refused = envelope(payload={"tool_name": "Refused"})
    for e in [envelope() for _ in range(5)] + [refused]:
        redis.xadd(EVENTS_STREAM, entry(e))
    redis.xadd(EVENTS_STREAM, entry(b"{not json"))
    redis.xadd(EVENTS_STREAM, entry(orjson.dumps(envelope(payload={"blob": "z" * 5000}))))  # over 4000 B
    drain()
    assert ClaudeRawTrace.objects.count() == 5
    run = {"redis_url": redis_server, "home": tmp_path}

    listed = dlq("list", "--json", **run)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    # Newest first: the two the fast path could not decode went first, then the one the database refused.
    assert [r["cut"] for r in rows] == [False, True, False]
    refused_id, not_json = rows[0]["id"], rows[2]["id"]
    assert "IntegrityError: tool_name Refused is not allowed here" in rows[0]["reason"]
    assert rows[0]["deliveries"] == 1
    assert "not valid JSON" in rows[2]["reason"]
    table = dlq("list", **run)
    assert table.returncode == 0 and "3 dead letters" in table.stdout and refused_id in table.stdout
    everything = dlq("list", "--json", "--limit", str(2**70), **run)  # more than Redis takes as a count
    assert everything.returncode == 0 and json.loads(everything.stdout) == rows

    shown = dlq("show", refused_id, **run)
    assert shown.returncode == 0, shown.stderr
    assert '"tool_name": "Refused"' in shown.stdout  # the event, pretty-printed
    assert "delivered 1 times" in shown.stdout
    for unknown, message in (("0-1", "no dead letter 0-1"), ("nonsense", "not a dead-letter id: nonsense")):
        result = dlq("show", unknown, **run)
        assert (result.returncode, result.stderr.splitlines()) == (2, [f"blueplane: {message}"])

    with connection.cursor() as cursor:  # the fix
        cursor.execute("DROP TRIGGER refuse_tool")
    replayed = dlq("replay", refused_id, not_json, **run)
    assert replayed.returncode == 0, replayed.stderr
    drain()
    assert ClaudeRawTrace.objects.filter(tool_name="Refused").count() == 1
    # The entry that is still bad came back, with its new reason and its history.
    (back,) = [r for r in json.loads(dlq("list", "--json", **run).stdout) if not r["cut"]]
    assert (back["replays"], "not valid JSON" in back["reason"]) == (1, True)
    assert json.loads(dlq("show", back["id"], "--json", **run).stdout)["replay_of"] == not_json

    # Replaying again names a dead letter that is gone; a copy of it replayed (as after a crash between
    # the XADD and the XDEL) stores nothing twice.
    again = dlq("replay", refused_id, **run)
    assert (again.returncode, again.stderr.splitlines()) == (2, [f"blueplane: no dead letter {refused_id}"])
    redis.xadd(DLQ_STREAM, {"event": orjson.dumps(refused), "reason": "a copy"})
    assert dlq("replay", "--all", **run).returncode == 1  # the cut one cannot be replayed: it says so
    drain()
    assert ClaudeRawTrace.objects.count() == 6

    declined = dlq("purge", "--all", **run, stdin="n\n")
    assert (declined.returncode, redis.xlen(DLQ_STREAM)) == (1, 2)
    purged = dlq("purge", "--all", "--yes", **run)
    assert (purged.returncode, redis.xlen(DLQ_STREAM)) == (0, 0)

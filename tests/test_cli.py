"""The `blueplane` command as a user meets it: a mistake is one line on stderr, never a traceback."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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

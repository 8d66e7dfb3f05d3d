"""`blueplane install claude-code --mcp` registers the MCP server as `claude mcp add --scope user` would:
the real Claude Code CLI lists it, gets it and connects to it; other servers and keys stay; uninstall
removes only ours."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.real_claude import claude_bin_find, unavailable
from tests.support.stores import store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"
OTHER = {"type": "stdio", "command": "/bin/true", "args": [], "env": {}}


def run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def env(corpus_home: Path, redis_server: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "claude-config"
    config.mkdir()
    user = {"numStartups": 3, "mcpServers": {"other": OTHER}, "projects": {"/x": {"allowedTools": []}}}
    (config / ".claude.json").write_text(json.dumps(user, indent=2))
    return {**store_env(corpus_home, redis_server), "CLAUDE_CONFIG_DIR": str(config)}


def user_config(env: dict[str, str]) -> dict:
    return json.loads((Path(env["CLAUDE_CONFIG_DIR"]) / ".claude.json").read_text())


def test_install_registers_the_server_for_the_user_and_keeps_everything_else(env: dict[str, str]) -> None:
    before = user_config(env)

    done = run(str(BLUEPLANE), "install", "claude-code", "--mcp", env=env)

    assert done.returncode == 0, done.stderr
    after = user_config(env)
    ours = after["mcpServers"].pop("blueplane")
    assert after == before
    assert ours == {
        "type": "stdio",
        "command": str(BLUEPLANE.absolute()),
        "args": ["mcp"],
        "env": {"BLUEPLANE_HOME": env["BLUEPLANE_HOME"], "BLUEPLANE_REDIS_URL": env["BLUEPLANE_REDIS_URL"]},
    }
    again = run(str(BLUEPLANE), "install", "claude-code", "--mcp", env=env)
    assert again.returncode == 0 and "nothing to install" in again.stdout

    gone = run(str(BLUEPLANE), "uninstall", "claude-code", "--mcp", env=env)
    assert gone.returncode == 0, gone.stderr
    assert user_config(env) == before


def test_uninstall_keeps_a_server_named_blueplane_that_is_not_ours(env: dict[str, str]) -> None:
    path = Path(env["CLAUDE_CONFIG_DIR"]) / ".claude.json"
    path.write_text(json.dumps({"mcpServers": {"blueplane": OTHER}}))

    done = run(str(BLUEPLANE), "uninstall", "claude-code", "--mcp", env=env)

    assert done.returncode == 0 and "nothing to uninstall" in done.stdout
    assert json.loads(path.read_text()) == {"mcpServers": {"blueplane": OTHER}}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["install", "cursor", "--mcp"], "unknown target 'cursor'"),
        (["uninstall", "nothing", "--mcp"], "unknown target 'nothing'"),
    ],
)
def test_bad_targets_are_one_line(env: dict[str, str], argv: list[str], says: str) -> None:
    done = run(str(BLUEPLANE), *argv, env=env)
    assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1


def test_a_user_config_that_is_not_json_is_one_line_and_left_alone(env: dict[str, str]) -> None:
    path = Path(env["CLAUDE_CONFIG_DIR"]) / ".claude.json"
    path.write_text("{not json")

    done = run(str(BLUEPLANE), "install", "claude-code", "--mcp", env=env)

    assert done.returncode == 2 and "not valid JSON" in done.stderr and done.stderr.count("\n") == 1
    assert path.read_text() == "{not json"


def test_the_real_claude_code_lists_gets_and_connects_to_it(env: dict[str, str]) -> None:
    claude, why = claude_bin_find()
    if claude is None:
        unavailable(why)
    assert run(str(BLUEPLANE), "install", "claude-code", "--mcp", env=env).returncode == 0

    listed = run(str(claude), "mcp", "list", env=env)
    got = run(str(claude), "mcp", "get", "blueplane", env=env)

    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("blueplane:"))
    assert f"{BLUEPLANE.absolute()} mcp" in line and "Connected" in line
    assert any(line.startswith("other:") for line in listed.stdout.splitlines())
    assert got.returncode == 0 and "User config" in got.stdout and "Connected" in got.stdout

    assert run(str(BLUEPLANE), "uninstall", "claude-code", "--mcp", env=env).returncode == 0
    assert "blueplane" not in run(str(claude), "mcp", "list", env=env).stdout

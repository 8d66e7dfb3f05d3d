"""The status line in the real Claude Code 2.1.331: `blueplane install claude-code --statusline` writes the
settings, the CLI's interactive TUI (under tmux, against the offline API stub) runs the installed
command and shows our line, before and after a reply. Skipped without the harness or tmux."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.real_claude import claude_env, harness_find, stub_server, unavailable, work_dir
from tests.support.stores import store_build

BLUEPLANE = Path(sys.executable).parent / "blueplane"


@pytest.fixture(scope="module")
def harness():
    found, why = harness_find()
    if found is None:
        unavailable(why)
    if not shutil.which("tmux"):
        unavailable("tmux is not on PATH (it runs the CLI's interactive TUI)")
    return found


def screen(socket: str) -> str:
    return subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-t", "tui"], capture_output=True,
                          text=True, check=False).stdout  # fmt: skip


def wait_for(socket: str, text: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = screen(socket)
        if text in shown:
            return shown
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never shown; the screen:\n{screen(socket)}")


def test_the_installed_status_line_runs_in_the_real_tui(harness, redis_server: str, tmp_path: Path):
    bp_home = store_build(tmp_path / "bp", redis_server)  # the corpus: a store with data, none of it today
    home = tmp_path / "user"
    (home / ".claude").mkdir(parents=True)
    work = work_dir(tmp_path / "work", claude_md=False)
    # Onboarding done, the stub's key approved and the folder trusted (a status line runs only then).
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "customApiKeyResponses": {"approved": ["sk-test"], "rejected": []},
        "projects": {str(work): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}},
    }))  # fmt: skip
    env = {**os.environ, "BLUEPLANE_HOME": str(bp_home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
           "BLUEPLANE_REDIS_URL": redis_server}  # fmt: skip
    installed = subprocess.run([str(BLUEPLANE), "install", "claude-code", "--statusline"], env=env,
                               capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    socket = f"bp-test-{os.getpid()}"
    with stub_server(harness, tmp_path / "stub") as base_url:
        cli_env = claude_env(home, base_url, TERM="xterm-256color")
        command = "env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in cli_env.items())
        command += f" {shlex.quote(str(harness.claude_bin))} --model claude-sonnet-4-5-20250929"
        subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", "tui", "-x", "160", "-y", "40",
                        "-c", str(work), command], check=True, timeout=30)  # fmt: skip
        try:
            # No messages yet: Claude Code's cost 0, no context figure.
            first = wait_for(socket, "session $0.00 (Claude Code) | today $0.00")
            assert "ctx" not in first
            subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "tui", "-l", "say hi [[scenario:chat]]"],
                           check=True)  # fmt: skip
            time.sleep(0.3)
            subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "tui", "Enter"], check=True)
            wait_for(socket, "session $0.09 (Claude Code) | today $0.00 | ctx 12%")
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, timeout=30)

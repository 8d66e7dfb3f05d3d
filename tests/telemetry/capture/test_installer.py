import json
from pathlib import Path

import pytest

from telemetry.capture import commands, installer

USER_SETTINGS = {
    "model": "opus",
    "env": {"FOO": "1"},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/my-guard.sh"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
    },
}


@pytest.fixture
def claude_settings(settings, tmp_path):
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS, indent=4))
    settings.CLAUDE_SETTINGS_PATH = path
    settings.CLAUDE_BIN = None
    return path


def our_events(data: dict) -> set[str]:
    return {
        event
        for event, groups in data.get("hooks", {}).items()
        for group in groups
        for hook in group["hooks"]
        if installer.is_ours(hook["command"])
    }


def backups(path):
    return sorted(path.parent.glob("settings.json.blueplane-backup-*"))


def test_install_merges_with_the_users_hooks_and_settings(claude_settings, capsys):
    assert commands.install("claude-code", dry_run=False) == 0
    data = json.loads(claude_settings.read_text())
    assert data["model"] == "opus" and data["env"] == {"FOO": "1"}
    assert data["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    assert our_events(data) == set(installer.EVENTS_CONSERVATIVE)  # no claude binary here
    assert len(backups(claude_settings)) == 1
    assert json.loads(backups(claude_settings)[0].read_text()) == USER_SETTINGS


def test_install_twice_changes_nothing(claude_settings, capsys):
    commands.install("claude-code", dry_run=False)
    first = claude_settings.read_bytes()
    assert commands.install("claude-code", dry_run=False) == 0
    assert claude_settings.read_bytes() == first
    assert len(backups(claude_settings)) == 1
    assert "nothing to install" in capsys.readouterr().out


def test_uninstall_restores_the_users_file(claude_settings):
    commands.install("claude-code", dry_run=False)
    assert commands.uninstall("claude-code", dry_run=False) == 0
    assert json.loads(claude_settings.read_text()) == USER_SETTINGS


def test_uninstall_of_a_file_without_hooks_section_removes_the_section(settings, tmp_path):
    path = tmp_path / "settings.json"
    settings.CLAUDE_SETTINGS_PATH = path
    settings.CLAUDE_BIN = None
    commands.install("claude-code", dry_run=False)  # no file yet: created
    commands.uninstall("claude-code", dry_run=False)
    assert json.loads(path.read_text()) == {}


def test_dry_run_shows_the_change_and_writes_nothing(claude_settings, capsys):
    before = claude_settings.read_bytes()
    assert commands.install("claude-code", dry_run=True) == 0
    out = capsys.readouterr().out
    assert "+++ " in out and "telemetry/capture/hook.py" in out
    assert claude_settings.read_bytes() == before
    assert not backups(claude_settings)


def test_hook_command_runs_the_real_interpreter_isolated():
    command = installer.hook_command(home="/tmp/bp home")
    assert command.startswith("trap '' TERM; BLUEPLANE_HOME='/tmp/bp home' /")
    assert " -I -S " in command and "telemetry/capture/hook.py claude-code " in command
    assert command.endswith("; exit 0")  # never 2 ("block") nor 127, whatever is gone
    assert "shims" not in command
    assert installer.is_ours(command)


@pytest.mark.parametrize(
    "command",
    [
        "BLUEPLANE_HOME=/old /usr/bin/python3 -I -S /old/telemetry/capture/hook.py claude-code",
        "trap '' TERM; BLUEPLANE_HOME=/o /usr/bin/python3 -I -S '/my dir/telemetry/capture/hook.py' claude-code",
        installer.hook_command(
            home="/h", python="/usr/bin/python3", script=Path("/x/telemetry/capture/hook.py")
        ),
    ],
    ids=["first-install", "with-trap", "current"],
)
def test_our_commands_of_every_install_are_recognised(command):
    assert installer.is_ours(command)
    data = installer.settings_install({}, command=command, events=["Stop"])
    new = installer.hook_command(home="/new")
    data = installer.settings_install(data, command=new, events=["Stop"])
    assert [h["command"] for g in data["hooks"]["Stop"] for h in g["hooks"]] == [new]


def test_the_users_look_alike_commands_are_not_ours():
    assert not installer.is_ours("python3 ~/bin/telemetry/capture/hook.py claude-code-extra")
    assert not installer.is_ours("~/my-guard.sh")


def test_events_come_from_the_claude_binary_and_skip_worktree_hooks(tmp_path):
    binary = tmp_path / "claude"
    names = json.dumps(list(installer.EVENTS_2_1_331), separators=(",", ":")).encode()
    binary.write_bytes(b"\0" * (2 << 20) + b'x=["PreToolUse","PostToolUse"];' + names + b"\0")
    events, how = installer.events_supported(str(binary))
    assert "WorktreeCreate" not in events and "WorktreeRemove" not in events
    assert len(events) == 31 and "MessageDisplay" in events
    assert "read from" in how


def test_events_by_version_use_the_newest_known_list_not_newer_than_it(tmp_path):
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\necho '2.0.99 (Claude Code)'\n")
    script.chmod(0o755)
    events, how = installer.events_supported(str(script))
    assert events == list(installer.EVENTS_2_0_77)
    assert "2.0.99" in how


def test_an_older_copy_of_our_hook_is_replaced_not_duplicated():
    old = "BLUEPLANE_HOME=/old /usr/bin/python3 -I -S /old/telemetry/capture/hook.py claude-code"
    new = "BLUEPLANE_HOME=/new /usr/bin/python3 -I -S /new/telemetry/capture/hook.py claude-code"
    data = installer.settings_install({}, command=old, events=["Stop", "Setup"])
    data = installer.settings_install(data, command=new, events=["Stop"])
    commands_left = [h["command"] for g in data["hooks"]["Stop"] for h in g["hooks"]]
    assert commands_left == [new]
    assert "Setup" not in data["hooks"]  # an event the installed version does not know is removed


def test_invalid_settings_or_unknown_target_fail_with_one_line(claude_settings, capsys):
    assert commands.install("vscode", dry_run=False) == 2
    claude_settings.write_text("{ not json")
    assert commands.install("claude-code", dry_run=False) == 2
    assert claude_settings.read_text() == "{ not json"
    assert len(capsys.readouterr().err.strip().splitlines()) == 2

import json
import os
import subprocess
import sys
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


def fake_claude(path: Path, events=installer.EVENTS_2_1_331) -> Path:
    """A stand-in for the claude binary: the event-name array is all install reads from it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = json.dumps(list(events), separators=(",", ":")).encode()
    path.write_bytes(b"#!/bin/false\n\0" + b'x=["PreToolUse","PostToolUse"];' + names + b"\0")
    path.chmod(0o755)
    return path


@pytest.fixture
def user_home(monkeypatch, tmp_path):
    """An empty $HOME, a PATH without claude, no npm/bun/nvm variables, no system folders to look in."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    for name in ("CLAUDE_CONFIG_DIR", "NPM_CONFIG_PREFIX", "npm_config_prefix", "BUN_INSTALL", "NVM_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(installer, "SYSTEM_BIN_DIRS", ())
    return home


@pytest.fixture
def claude_settings(settings, tmp_path, user_home):
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS, indent=4))
    settings.CLAUDE_SETTINGS_PATH = path
    settings.CLAUDE_BIN = str(fake_claude(tmp_path / "claude-bin" / "claude"))
    settings.BLUEPLANE_HOME = tmp_path / "bp-home"
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
    return sorted(path.parent.glob("settings.json.blueplane-backup*"))


def test_install_merges_with_the_users_hooks_and_settings(claude_settings, capsys):
    assert commands.install("claude-code", dry_run=False) == 0
    data = json.loads(claude_settings.read_text())
    assert data["model"] == "opus" and data["env"] == {"FOO": "1"}
    assert data["hooks"]["PreToolUse"][0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    assert our_events(data) == set(installer.EVENTS_2_1_331) - installer.EVENTS_NEVER
    assert backups(claude_settings) == [claude_settings.with_name("settings.json.blueplane-backup")]
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


def test_uninstall_removes_the_settings_file_install_created(claude_settings):
    claude_settings.unlink()
    assert commands.install("claude-code", dry_run=False) == 0  # no file yet: created
    assert our_events(json.loads(claude_settings.read_text()))
    assert commands.install("claude-code", dry_run=False) == 0  # a re-install changes nothing of that
    assert commands.uninstall("claude-code", dry_run=False) == 0
    assert not claude_settings.exists()
    assert not backups(claude_settings)


def test_uninstall_keeps_a_created_file_once_the_user_put_settings_in_it(claude_settings):
    claude_settings.unlink()
    commands.install("claude-code", dry_run=False)
    data = json.loads(claude_settings.read_text())
    claude_settings.write_text(json.dumps({**data, "model": "opus"}, indent=2))
    commands.uninstall("claude-code", dry_run=False)
    assert json.loads(claude_settings.read_text()) == {"model": "opus"}
    # It is the user's file from now on, even once it holds nothing but our hooks again.
    claude_settings.write_text("{}")
    commands.install("claude-code", dry_run=False)
    commands.uninstall("claude-code", dry_run=False)
    assert json.loads(claude_settings.read_text()) == {}


def test_uninstall_never_deletes_a_file_the_user_had(claude_settings):
    claude_settings.write_text("{}\n")
    commands.install("claude-code", dry_run=False)
    commands.uninstall("claude-code", dry_run=False)
    assert claude_settings.read_text() == "{}\n"


@pytest.mark.parametrize(
    "indent, end",
    [(2, "\n"), (4, "\n"), ("\t", "\n"), (4, ""), (2, "\r\n")],
    ids=["2-spaces", "4-spaces", "tabs", "no-final-newline", "crlf"],
)
def test_install_and_uninstall_keep_the_files_layout(claude_settings, indent, end):
    original = json.dumps(USER_SETTINGS, indent=indent, ensure_ascii=False)
    if end == "\r\n":
        original = original.replace("\n", "\r\n")
    original += end
    claude_settings.write_bytes(original.encode())
    commands.install("claude-code", dry_run=False)
    installed = claude_settings.read_bytes().decode()
    data = json.loads(installed)
    assert our_events(data)
    expected = json.dumps(data, indent=indent, ensure_ascii=False)
    if end == "\r\n":
        expected = expected.replace("\n", "\r\n")
    assert installed == expected + end
    commands.uninstall("claude-code", dry_run=False)
    assert claude_settings.read_bytes() == original.encode()


def test_one_backup_however_often_install_runs(claude_settings):
    original = claude_settings.read_bytes()
    for _ in range(3):
        assert commands.install("claude-code", dry_run=False) == 0
        assert commands.uninstall("claude-code", dry_run=False) == 0
        assert commands.install("claude-code", dry_run=False) == 0
        assert backups(claude_settings) == [claude_settings.with_name("settings.json.blueplane-backup")]
        assert backups(claude_settings)[0].read_bytes() == original  # never a copy holding our hooks
    # An upgrade (the checkout moved) rewrites our hooks and leaves the backup alone.
    commands.uninstall("claude-code", dry_run=False)
    claude_settings.write_text(json.dumps({**USER_SETTINGS, "model": "sonnet"}, indent=4))
    commands.install("claude-code", dry_run=False)
    edited = claude_settings.with_name("settings.json.blueplane-backup").read_text()
    assert json.loads(edited)["model"] == "sonnet"  # the file as it was before this install


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


def test_install_finds_the_native_installers_claude_off_path(claude_settings, settings, user_home, capsys):
    settings.CLAUDE_BIN = None
    binary = fake_claude(user_home / ".local" / "share" / "claude" / "versions" / "2.1.331")
    (user_home / ".local" / "bin").mkdir(parents=True)
    (user_home / ".local" / "bin" / "claude").symlink_to(binary)
    assert commands.install("claude-code", dry_run=False) == 0
    assert (
        our_events(json.loads(claude_settings.read_text()))
        == set(installer.EVENTS_2_1_331) - installer.EVENTS_NEVER
    )
    assert f"read from {binary}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "where",
    [
        ".local/bin/claude",
        ".claude/local/claude",
        "$CLAUDE_CONFIG_DIR/local/claude",
        "$NPM_CONFIG_PREFIX/bin/claude",
        "~/.npmrc prefix/bin/claude",
        ".npm-global/bin/claude",
        ".nvm/versions/node/v22.3.0/bin/claude",
        ".bun/bin/claude",
        ".local/share/claude/versions/2.1.400",
    ],
)
def test_claude_is_found_where_its_installers_put_it(user_home, monkeypatch, tmp_path, where):
    assert installer.claude_find(home=user_home, environ=os.environ) is None
    if where.startswith("$"):
        variable, _, rest = where[1:].partition("/")
        monkeypatch.setenv(variable, str(tmp_path / variable))
        path = tmp_path / variable / rest
    elif where.startswith("~/.npmrc"):
        (user_home / ".npmrc").write_text(f"cache=/x\nprefix = {tmp_path / 'npm-prefix'}\n")
        path = tmp_path / "npm-prefix" / "bin" / "claude"
    else:
        path = user_home / where
    fake_claude(path)
    assert installer.claude_find(home=user_home, environ=os.environ) == str(path)
    # PATH comes first.
    on_path = fake_claude(tmp_path / "empty-bin" / "claude")
    assert installer.claude_find(home=user_home, environ=os.environ) == str(on_path)


def test_system_folders_of_npm_and_homebrew_are_looked_in(tmp_path):
    candidates = installer.claude_candidates(home=tmp_path, environ={})
    for folder in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin", "/home/linuxbrew/.linuxbrew/bin"):
        assert Path(folder) / "claude" in candidates


def test_the_native_binarys_version_is_read_from_its_name(tmp_path):
    binary = tmp_path / "versions" / "2.1.400"
    binary.parent.mkdir()
    binary.write_bytes(b"\0" * 100)  # no event list in it, and not to be run
    events, how = installer.events_supported(str(binary))
    assert events == [e for e in installer.EVENTS_2_1_331 if e not in installer.EVENTS_NEVER]
    assert "2.1.400" in how


@pytest.mark.parametrize("claude", ["none", "unknown version", "missing file"])
def test_install_without_a_known_claude_fails_in_one_line_and_changes_nothing(
    claude_settings, settings, tmp_path, capsys, claude
):
    if claude == "none":
        settings.CLAUDE_BIN = None
    elif claude == "unknown version":
        script = tmp_path / "old-claude"
        script.write_text("#!/bin/sh\necho '1.0.3 (Claude Code)'\n")
        script.chmod(0o755)
        settings.CLAUDE_BIN = str(script)
    else:
        settings.CLAUDE_BIN = str(tmp_path / "no-such-claude")
    before = claude_settings.read_bytes()
    assert commands.install("claude-code", dry_run=False) != 0
    out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert "--claude-bin PATH" in line and "BLUEPLANE_CLAUDE_BIN" in line
    assert out == ""
    assert claude_settings.read_bytes() == before
    assert not backups(claude_settings)
    assert not settings.BLUEPLANE_HOME.exists()  # no capture.json, no salt


def test_the_claude_bin_option_of_the_command(tmp_path, user_home):
    settings_path = tmp_path / "claude-config" / "settings.json"
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path / "bp-home"),
        "CLAUDE_CONFIG_DIR": str(settings_path.parent),
    }
    for name in (
        "BLUEPLANE_REDIS_URL",
        "BLUEPLANE_DATABASE_URL",
        "BLUEPLANE_CLAUDE_BIN",
        "BLUEPLANE_CLAUDE_SETTINGS",
    ):
        env.pop(name, None)
    blueplane = [str(Path(sys.executable).parent / "blueplane"), "install", "claude-code"]

    def run(*args):
        return subprocess.run(
            [*blueplane, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    missing = run()
    assert missing.returncode != 0 and len(missing.stderr.splitlines()) == 1
    assert "--claude-bin PATH" in missing.stderr and not settings_path.exists()
    done = run("--claude-bin", str(fake_claude(tmp_path / "elsewhere" / "claude")))
    assert done.returncode == 0, done.stderr
    assert (
        our_events(json.loads(settings_path.read_text()))
        == set(installer.EVENTS_2_1_331) - installer.EVENTS_NEVER
    )


def test_invalid_settings_or_unknown_target_fail_with_one_line(claude_settings, capsys):
    assert commands.install("vscode", dry_run=False) == 2
    claude_settings.write_text("{ not json")
    assert commands.install("claude-code", dry_run=False) == 2
    assert claude_settings.read_text() == "{ not json"
    assert len(capsys.readouterr().err.strip().splitlines()) == 2

"""`blueplane install cursor` / `uninstall cursor`: our hook in ~/.cursor/hooks.json, and out again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.capture import commands, cursor_installer

USER_HOOKS = {
    "version": 1,
    "$schema": "https://unpkg.com/cursor-hooks@latest/schema/hooks.schema.json",
    "hooks": {
        "beforeShellExecution": [{"command": "./hooks/guard.sh", "timeout": 5}],
        "afterFileEdit": [{"command": "prettier --write", "failClosed": False}],
        "afterTabFileEdit": [{"command": "./hooks/tab.sh"}],
    },
}


@pytest.fixture
def hooks_file(settings, tmp_path):
    path = tmp_path / "user" / ".cursor" / "hooks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(USER_HOOKS, indent=4) + "\n")
    settings.CURSOR_HOOKS_PATH = path
    settings.BLUEPLANE_HOME = tmp_path / "bp-home"
    return path


def our_events(data: dict) -> dict[str, int]:
    """event -> how many of our hooks it has."""
    counts = {}
    for event, entries in data.get("hooks", {}).items():
        ours = sum(1 for e in entries if cursor_installer.is_ours(e.get("command")))
        if ours:
            counts[event] = ours
    return counts


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob("hooks.json.blueplane-backup*"))


def test_install_merges_with_the_users_hooks_and_keys(hooks_file, capsys):
    assert commands.install("cursor", dry_run=False) == 0
    data = json.loads(hooks_file.read_text())
    assert our_events(data) == dict.fromkeys(cursor_installer.EVENTS, 1)
    assert "beforeTabFileRead" not in data["hooks"]
    assert data["$schema"] == USER_HOOKS["$schema"] and data["version"] == 1
    for event, entries in USER_HOOKS["hooks"].items():
        assert data["hooks"][event][: len(entries)] == entries  # theirs first, unchanged
    ours = data["hooks"]["beforeSubmitPrompt"][0]
    assert ours["timeout"] == cursor_installer.HOOK_TIMEOUT_S
    assert "'{\"continue\":true}'" in ours["command"]
    assert "out='{}'" in data["hooks"]["stop"][0]["command"]
    assert backups(hooks_file) == [hooks_file.with_name("hooks.json.blueplane-backup")]
    assert json.loads(backups(hooks_file)[0].read_text()) == USER_HOOKS
    # The hook's Redis address and the salt are written now, not in the first hook call.
    home = hooks_file.parent.parent.parent / "bp-home"
    assert (home / "capture.json").exists() and (home / "salt").exists()


def test_install_twice_changes_nothing(hooks_file, capsys):
    commands.install("cursor", dry_run=False)
    first = hooks_file.read_bytes()
    assert commands.install("cursor", dry_run=False) == 0
    assert hooks_file.read_bytes() == first
    assert len(backups(hooks_file)) == 1
    assert "nothing to install" in capsys.readouterr().out


def test_uninstall_removes_only_ours_and_restores_the_users_file(hooks_file):
    original = hooks_file.read_bytes()
    commands.install("cursor", dry_run=False)
    assert commands.uninstall("cursor", dry_run=False) == 0
    assert hooks_file.read_bytes() == original
    assert commands.uninstall("cursor", dry_run=False) == 0  # nothing left to remove
    assert hooks_file.read_bytes() == original


def test_uninstall_drops_the_events_left_empty(hooks_file):
    commands.install("cursor", dry_run=False)
    data = json.loads(hooks_file.read_text())
    data["hooks"]["stop"].append({"command": "notify-send done"})  # the user adds one after ours
    hooks_file.write_text(json.dumps(data, indent=4) + "\n")
    commands.uninstall("cursor", dry_run=False)
    after = json.loads(hooks_file.read_text())
    assert set(after["hooks"]) == set(USER_HOOKS["hooks"]) | {"stop"}
    assert after["hooks"]["stop"] == [{"command": "notify-send done"}]


def test_a_file_install_created_is_removed_again(hooks_file):
    hooks_file.unlink()
    assert commands.install("cursor", dry_run=False) == 0
    data = json.loads(hooks_file.read_text())
    assert data["version"] == 1 and our_events(data)
    assert list(data) == ["version", "hooks"]
    assert commands.uninstall("cursor", dry_run=False) == 0
    assert not hooks_file.exists()
    assert not backups(hooks_file)


def test_a_file_the_user_had_is_never_deleted(hooks_file):
    hooks_file.write_text('{"version": 1, "hooks": {}}\n')
    commands.install("cursor", dry_run=False)
    commands.uninstall("cursor", dry_run=False)
    assert json.loads(hooks_file.read_text()) == {"version": 1, "hooks": {}}


@pytest.mark.parametrize(
    "indent, end",
    [(2, "\n"), (4, "\n"), ("\t", "\n"), (4, ""), (2, "\r\n")],
    ids=["2-spaces", "4-spaces", "tabs", "no-final-newline", "crlf"],
)
def test_install_and_uninstall_keep_the_files_layout(hooks_file, indent, end):
    original = json.dumps(USER_HOOKS, indent=indent)
    if end == "\r\n":
        original = original.replace("\n", "\r\n")
    original += end
    hooks_file.write_bytes(original.encode())
    commands.install("cursor", dry_run=False)
    installed = hooks_file.read_bytes().decode()
    expected = json.dumps(json.loads(installed), indent=indent)
    if end == "\r\n":
        expected = expected.replace("\n", "\r\n")
    assert installed == expected + end
    commands.uninstall("cursor", dry_run=False)
    assert hooks_file.read_bytes() == original.encode()


def test_one_backup_however_often_install_runs(hooks_file):
    original = hooks_file.read_bytes()
    for _ in range(3):
        assert commands.install("cursor", dry_run=False) == 0
        assert commands.uninstall("cursor", dry_run=False) == 0
        assert commands.install("cursor", dry_run=False) == 0
        assert backups(hooks_file) == [hooks_file.with_name("hooks.json.blueplane-backup")]
        assert backups(hooks_file)[0].read_bytes() == original  # never a copy holding our hooks


def test_dry_run_shows_the_change_and_writes_nothing(hooks_file, settings, capsys):
    before = hooks_file.read_bytes()
    assert commands.install("cursor", dry_run=True) == 0
    out = capsys.readouterr().out
    assert "+++ " in out and "telemetry/capture/hook.py" in out and "(dry run" in out
    assert hooks_file.read_bytes() == before
    assert not backups(hooks_file)
    assert not Path(settings.BLUEPLANE_HOME, "capture.json").exists()
    commands.install("cursor", dry_run=False)
    installed = hooks_file.read_bytes()
    assert commands.uninstall("cursor", dry_run=True) == 0
    assert hooks_file.read_bytes() == installed


def test_an_unparsable_file_is_a_one_line_error_and_left_alone(hooks_file, capsys):
    for text in ("{ not json", "[1, 2]", '{"hooks": []}'):
        hooks_file.write_text(text)
        assert commands.install("cursor", dry_run=False) == 2
        assert commands.uninstall("cursor", dry_run=False) == 2
        assert hooks_file.read_text() == text
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 2 and "Traceback" not in err
        assert str(hooks_file) in err
    assert not backups(hooks_file)


def test_a_moved_checkout_replaces_our_hook_not_duplicates_it():
    old = cursor_installer.hook_command(
        event="stop", home="/h", python="/usr/bin/python3", script=Path("/old/telemetry/capture/hook.py")
    )
    new = cursor_installer.hook_command(
        event="stop", home="/h", python="/usr/bin/python3", script=Path("/new/telemetry/capture/hook.py")
    )
    data = {"version": 1, "hooks": {"stop": [{"command": "mine"}, {"command": old, "timeout": 5}]}}
    data = cursor_installer.hooks_install(data, commands={"stop": new})
    assert data["hooks"]["stop"] == [{"command": "mine"}, {"command": new, "timeout": 5}]
    # An event we no longer install loses our hook too.
    data = cursor_installer.hooks_install(data, commands={})
    assert data["hooks"]["stop"] == [{"command": "mine"}]


def test_the_users_look_alike_commands_are_not_ours():
    assert cursor_installer.is_ours(cursor_installer.hook_command(event="stop", home="/h"))
    assert not cursor_installer.is_ours("python3 ~/telemetry/capture/hook.py claude-code")
    assert not cursor_installer.is_ours("python3 /x/telemetry/capture/hook.py cursor-extra")
    assert not cursor_installer.is_ours("./hooks/cursor.sh")


def test_hook_command_runs_the_real_interpreter_isolated():
    command = cursor_installer.hook_command(event="stop", home="/tmp/bp home")
    assert command.startswith("trap '' TERM; out=$(BLUEPLANE_HOME='/tmp/bp home' /")
    assert f" -I -S {cursor_installer.HOOK_SCRIPT} cursor stop 2>/dev/null || cat >/dev/null)" in command
    assert command.endswith("exit 0")


def test_the_command_line_installs_and_uninstalls(tmp_path):
    hooks = tmp_path / "cursor-home" / "hooks.json"
    env = {**os.environ, "BLUEPLANE_HOME": str(tmp_path / "bp-home"), "BLUEPLANE_CURSOR_HOOKS": str(hooks)}
    for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
        env.pop(name, None)
    blueplane = str(Path(sys.executable).parent / "blueplane")

    def run(*args):
        return subprocess.run(
            [blueplane, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    done = run("install", "cursor")
    assert done.returncode == 0, done.stderr
    assert our_events(json.loads(hooks.read_text())) == dict.fromkeys(cursor_installer.EVENTS, 1)
    done = run("uninstall", "cursor")
    assert done.returncode == 0, done.stderr
    assert not hooks.exists()
    wrong = run("install", "vscode")
    assert wrong.returncode == 2 and "'cursor'" in wrong.stderr


def test_doctor_tells_whether_the_cursor_hook_is_installed(hooks_file, settings, tmp_path):
    from blueplane.doctor import _cursor_hooks

    assert _cursor_hooks()["status"] == "warn"  # Cursor is here (~/.cursor), our hook is not
    commands.install("cursor", dry_run=False)
    check = _cursor_hooks()
    assert check["status"] == "ok" and check["figures"]["events"] == len(cursor_installer.EVENTS)
    gone = Path(tmp_path, "gone", "telemetry", "capture", "hook.py")
    data = json.loads(hooks_file.read_text())
    data["hooks"]["stop"] = [{"command": cursor_installer.hook_command(event="stop", home="/h", script=gone)}]
    hooks_file.write_text(json.dumps(data))
    check = _cursor_hooks()
    assert check["status"] == "warn" and f"{gone} is missing" in check["message"]
    assert check["fix"] == "blueplane install cursor"
    settings.CURSOR_HOOKS_PATH = tmp_path / "no-cursor" / ".cursor" / "hooks.json"
    assert _cursor_hooks()["status"] == "ok"  # Cursor is not used here


def test_install_replaces_the_earlier_prototypes_hook(settings, tmp_path):
    # The fixture's hooks.json is what the earlier Blueplane prototype installed (a hook that answered
    # `permission: allow`): install replaces it, so each event runs one hook of ours, not two.
    from tests.support.cursor import cursor_home

    path = cursor_home(tmp_path) / ".cursor" / "hooks.json"
    prototype = json.loads(path.read_text())["hooks"]
    assert all("~/.blueplane/hooks/cursor_hook.py" in e[0]["command"] for e in prototype.values())
    settings.CURSOR_HOOKS_PATH = path
    settings.BLUEPLANE_HOME = tmp_path / "bp-home"
    assert commands.install("cursor", dry_run=False) == 0
    data = json.loads(path.read_text())
    assert our_events(data) == dict.fromkeys(cursor_installer.EVENTS, 1)
    assert all(len(entries) == 1 for entries in data["hooks"].values())
    assert "cursor_hook.py" not in path.read_text()
    assert commands.uninstall("cursor", dry_run=False) == 0
    assert not our_events(json.loads(path.read_text()) if path.exists() else {})

"""`blueplane install claude-code --statusline`: Claude Code's `statusLine` setting made ours, a status
line the user already has kept unless forced, and uninstall taking out ours only."""

import json
import os
import subprocess
import sys
from pathlib import Path

from telemetry.capture import commands, installer
from tests.telemetry.capture.test_installer import USER_SETTINGS, claude_settings, user_home  # noqa: F401

THEIRS = {"type": "command", "command": "~/.claude/my-line.sh", "padding": 1}
STATUS = Path(__file__).resolve().parents[2] / "fixtures" / "claude-statusline" / "after-reply.json"


def test_install_sets_our_status_line_and_keeps_everything_else(claude_settings, capsys):  # noqa: F811
    assert commands.statusline_install("claude-code", dry_run=False, force=False) == 0
    data = json.loads(claude_settings.read_text())
    assert installer.is_our_statusline(data["statusLine"])
    assert data["statusLine"]["type"] == "command"
    assert {k: v for k, v in data.items() if k != "statusLine"} == USER_SETTINGS  # no hooks of ours either
    assert commands.statusline_install("claude-code", dry_run=False, force=False) == 0
    assert "nothing to install" in capsys.readouterr().out


def test_the_users_status_line_is_kept_unless_forced(claude_settings, capsys):  # noqa: F811
    claude_settings.write_text(json.dumps({**USER_SETTINGS, "statusLine": THEIRS}, indent=4))
    before = claude_settings.read_text()
    assert commands.statusline_install("claude-code", dry_run=False, force=False) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "kept your status line (~/.claude/my-line.sh)" in out[0] and "--force" in out[0]
    assert claude_settings.read_text() == before

    assert commands.statusline_install("claude-code", dry_run=False, force=True) == 0
    assert installer.is_our_statusline(json.loads(claude_settings.read_text())["statusLine"])
    backup = claude_settings.with_name("settings.json.blueplane-backup")
    assert json.loads(backup.read_text())["statusLine"] == THEIRS  # theirs is in the one backup


def test_uninstall_removes_ours_only(claude_settings):  # noqa: F811
    claude_settings.write_text(json.dumps({**USER_SETTINGS, "statusLine": THEIRS}, indent=4))
    assert commands.uninstall("claude-code", dry_run=False) == 0
    assert commands.statusline_uninstall("claude-code", dry_run=False) == 0
    assert json.loads(claude_settings.read_text())["statusLine"] == THEIRS

    commands.statusline_install("claude-code", dry_run=False, force=True)
    commands.install("claude-code", dry_run=False)
    assert commands.statusline_uninstall("claude-code", dry_run=False) == 0
    data = json.loads(claude_settings.read_text())
    assert "statusLine" not in data and installer.settings_has_ours(data)  # the hooks stay
    commands.statusline_install("claude-code", dry_run=False, force=False)
    assert commands.uninstall("claude-code", dry_run=False) == 0
    assert json.loads(claude_settings.read_text()) == USER_SETTINGS


def test_uninstall_deletes_a_file_only_the_status_line_was_in(claude_settings):  # noqa: F811
    claude_settings.unlink()
    commands.statusline_install("claude-code", dry_run=False, force=False)
    assert claude_settings.exists()
    commands.statusline_uninstall("claude-code", dry_run=False)
    assert not claude_settings.exists()


def test_installed_command_prints_a_line_and_survives_a_missing_script(tmp_path: Path):
    home = tmp_path / "bp"
    env = {"PATH": os.environ["PATH"], "BLUEPLANE_REDIS_URL": f"unix://{tmp_path}/none.sock"}
    command = installer.statusline_command(home=str(home))
    result = subprocess.run(["sh", "-c", command], input=STATUS.read_bytes(), env=env, capture_output=True,
                            timeout=30, check=False)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        b"blueplane: no usage yet | ctx 12%\n",
        b"",
    )
    gone = installer.statusline_command(
        home=str(home), script=tmp_path / "moved" / "blueplane" / "statusline.py"
    )
    result = subprocess.run(["sh", "-c", gone], input=STATUS.read_bytes() * 1000, env=env, capture_output=True,
                            timeout=30, check=False)  # fmt: skip
    assert (result.returncode, result.stderr) == (0, b"")


def test_the_command_line_flags(tmp_path: Path):
    blueplane = Path(sys.executable).parent / "blueplane"
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path / "bp"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
    }
    env.pop("BLUEPLANE_REDIS_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(blueplane), *args], env=env, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip

    assert run("install", "claude-code", "--statusline").returncode == 0
    data = json.loads((tmp_path / "claude" / "settings.json").read_text())
    assert installer.is_our_statusline(data["statusLine"]) and "hooks" not in data
    bad = run("install", "cursor-nope", "--statusline")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert run("uninstall", "claude-code", "--statusline").returncode == 0
    assert not (tmp_path / "claude" / "settings.json").exists()

"""`blueplane install|uninstall claude-code --otel`: the export variables in Claude Code's settings `env`,
idempotent, removable, and the user's own values left alone."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.capture import commands, otel_installer

ROOT = Path(__file__).resolve().parents[3]
USER_SETTINGS = {"model": "opus", "env": {"FOO": "1", "OTEL_METRIC_EXPORT_INTERVAL": "60000"}}


@pytest.fixture
def claude_settings(settings, tmp_path):
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(USER_SETTINGS, indent=4) + "\n")
    settings.CLAUDE_SETTINGS_PATH = path
    settings.BLUEPLANE_HOME = tmp_path / "bp-home"
    settings.OTLP_PORT = 43181
    return path


def env_of(path: Path) -> dict:
    return json.loads(path.read_text()).get("env", {})


def test_install_adds_the_export_variables_keeps_the_users_and_says_so(claude_settings, capsys):
    assert commands.otel_install("claude-code", dry_run=False) == 0
    out = capsys.readouterr().out
    env = env_of(claude_settings)
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:43181"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_LOGS_EXPORTER"] == env["OTEL_METRICS_EXPORTER"] == env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert env["CLAUDE_CODE_ENHANCED_TELEMETRY_BETA"] == "1"
    assert not set(otel_installer.CONTENT_VARIABLES) & set(env)
    # The user's own interval stays, with one line saying so; their other settings too.
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "60000" and env["FOO"] == "1"
    assert [line for line in out.splitlines() if "is yours" in line] == [
        f"{claude_settings}: env OTEL_METRIC_EXPORT_INTERVAL='60000' is yours: left as it is (Blueplane would set '10000')"
    ]
    assert json.loads(claude_settings.read_text())["model"] == "opus"
    assert "    " in claude_settings.read_text()  # the file's indentation is kept
    assert claude_settings.with_name("settings.json.blueplane-backup").exists()
    # Idempotent.
    before = claude_settings.read_text()
    assert commands.otel_install("claude-code", dry_run=False) == 0
    assert claude_settings.read_text() == before
    assert "nothing to install" in capsys.readouterr().out


def test_uninstall_removes_only_what_install_added(claude_settings):
    data = json.loads(claude_settings.read_text())
    data["env"]["CLAUDE_CODE_ENABLE_TELEMETRY"] = "1"  # the user had switched telemetry on already
    claude_settings.write_text(json.dumps(data, indent=4) + "\n")
    assert commands.otel_install("claude-code", dry_run=False) == 0
    # The user changes one of ours afterwards: theirs now.
    data = json.loads(claude_settings.read_text())
    data["env"]["OTEL_LOGS_EXPORT_INTERVAL"] = "1000"
    claude_settings.write_text(json.dumps(data, indent=4) + "\n")
    assert commands.otel_uninstall("claude-code", dry_run=False) == 0
    assert env_of(claude_settings) == {
        "FOO": "1",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORT_INTERVAL": "1000",
    }


def test_a_new_port_updates_our_endpoint(claude_settings, settings):
    assert commands.otel_install("claude-code", dry_run=False) == 0
    settings.OTLP_PORT = 43999
    assert commands.otel_install("claude-code", dry_run=False) == 0
    assert env_of(claude_settings)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:43999"
    assert commands.otel_uninstall("claude-code", dry_run=False) == 0
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_of(claude_settings)


def test_dry_run_shows_the_diff_and_changes_nothing(claude_settings, capsys):
    before = claude_settings.read_text()
    assert commands.otel_install("claude-code", dry_run=True) == 0
    out = capsys.readouterr().out
    assert '+        "CLAUDE_CODE_ENABLE_TELEMETRY": "1"' in out and "(dry run:" in out
    assert claude_settings.read_text() == before
    commands.otel_install("claude-code", dry_run=False)
    after = claude_settings.read_text()
    assert commands.otel_uninstall("claude-code", dry_run=True) == 0
    assert claude_settings.read_text() == after


def test_a_file_install_created_is_removed_again(settings, tmp_path):
    path = tmp_path / "claude" / "settings.json"
    settings.CLAUDE_SETTINGS_PATH = path
    settings.BLUEPLANE_HOME = tmp_path / "bp-home"
    assert commands.otel_install("claude-code", dry_run=False) == 0
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in env_of(path)
    assert commands.otel_uninstall("claude-code", dry_run=False) == 0
    assert not path.exists()


def test_bad_settings_and_targets_fail_in_one_line(claude_settings, capsys):
    claude_settings.write_text('{"env": ["not", "an", "object"]}')
    assert commands.otel_install("claude-code", dry_run=False) == 2
    assert capsys.readouterr().err.strip().endswith("its `env` is not an object")
    assert commands.otel_install("cursor", dry_run=False) == 2
    assert "--otel is for 'claude-code'" in capsys.readouterr().err


def test_the_cli_installs_and_uninstalls(tmp_path):
    settings_path = tmp_path / "claude" / "settings.json"
    env = {
        **os.environ,
        "BLUEPLANE_HOME": str(tmp_path / "home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
        "BLUEPLANE_OTLP_PORT": "43182",
    }
    blueplane = [sys.executable, "-m", "blueplane.cli"]
    done = subprocess.run(
        [*blueplane, "install", "claude-code", "--otel"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert env_of(settings_path)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:43182"
    assert "hooks" not in json.loads(settings_path.read_text())  # --otel only: no hooks
    done = subprocess.run(
        [*blueplane, "uninstall", "claude-code", "--otel"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not settings_path.exists()

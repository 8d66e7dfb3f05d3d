"""Cursor beside Claude Code in the `blueplane` command, run as a user runs it (the console script in
another process) on a store holding both: `report daily|weekly|session` split per platform, tokens
Cursor did not record shown as missing (never 0), `--platform claude-code|cursor` on the reports and
lists (a wrong one is one line and exit 2), and `report ai`. The store: the Claude Code corpus through
the real pipeline, and Cursor's derived rows (tests/factories.py cursor_rows)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import CURSOR_SESSION, CURSOR_SESSION_BARE
from tests.support.ccusage import assert_ccusage_equal
from tests.support.stores import ROOT, store_build, store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"
CCUSAGE = ROOT / "tests" / "fixtures" / "claude-real" / "ccusage"
# Cursor's rows, committed into the home's store (they need Django, so another process builds them).
_ADD_CURSOR = """
import django
django.setup()
from tests.factories import cursor_rows
cursor_rows()
"""


@pytest.fixture(scope="module")
def home(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = store_build(tmp_path_factory.mktemp("cursor-home"), redis_server)
    subprocess.run([sys.executable, "-c", _ADD_CURSOR], env=store_env(built, redis_server), cwd=ROOT,
                   check=True, timeout=120)  # fmt: skip
    return built


def run(home: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BLUEPLANE), *args], env={**store_env(home, redis_url), "TZ": "UTC"}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def as_json(home: Path, redis_url: str, *args: str) -> object:
    result = run(home, redis_url, *args, "--json")
    assert result.returncode == 0 and not result.stderr, result.stderr
    return json.loads(result.stdout)


def test_daily_splits_by_platform_and_says_what_cursor_did_not_record(home, redis_server):
    report = as_json(home, redis_server, "report", "daily", "-z", "UTC")
    first, second = report["daily"]
    assert first["period"] == "2026-11-25" and first["metadata"]["agents"] == ["claude", "cursor"]
    assert first["platforms"]["claude_code"]["outputTokens"] == 1758
    assert first["platforms"]["cursor"]["outputTokens"] == 200
    assert first["outputTokens"] == 1958 and first["responsesWithoutTokens"] == 1
    assert second["period"] == "2026-11-26" and second["totalTokens"] is None and second["totalCost"] is None
    assert report["totals"]["responsesWithoutTokens"] == 2
    assert report["totals"]["platforms"]["cursor"]["totalTokens"] == 1200


def test_claude_codes_part_is_still_ccusages_own_output(home, redis_server):
    for name in ("daily", "weekly", "monthly"):
        for spelling in ("claude-code", "claude_code"):
            ours = as_json(home, redis_server, "report", name, "-z", "UTC", "--platform", spelling)
            assert_ccusage_equal(ours, json.loads((CCUSAGE / f"{name}.json").read_text()))


def test_cursor_alone_has_no_split_and_its_sessions_say_cursor(home, redis_server):
    daily = as_json(home, redis_server, "report", "daily", "-z", "UTC", "--platform", "cursor")
    assert [d["period"] for d in daily["daily"]] == ["2026-11-25", "2026-11-26"]
    assert "platforms" not in daily["daily"][0] and daily["daily"][0]["responsesWithoutTokens"] == 1
    sessions = as_json(home, redis_server, "report", "session", "-z", "UTC", "--platform", "cursor")
    rows = {s["period"]: s for s in sessions["session"]}
    assert set(rows) == {CURSOR_SESSION, CURSOR_SESSION_BARE}
    assert rows[CURSOR_SESSION]["agent"] == "cursor" and rows[CURSOR_SESSION]["totalTokens"] == 1200
    assert rows[CURSOR_SESSION_BARE]["totalTokens"] is None


def test_tables_show_a_row_per_platform_and_missing_tokens(home, redis_server):
    result = run(home, redis_server, "report", "daily", "-z", "UTC")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("└ cursor" in line for line in lines) and any("└ claude_code" in line for line in lines)
    day = next(line for line in lines if line.startswith("2026-11-26"))
    assert "missing" in day and " 0 " not in day
    assert "2 responses without token counts" in result.stdout
    usage = run(home, redis_server, "usage", "--by", "platform", "--since", "2026-11-01", "--until",
                "2026-11-30", "--tz", "UTC")  # fmt: skip
    assert usage.returncode == 0 and "cursor" in usage.stdout and "no tokens" in usage.stdout, usage.stderr


def test_lists_and_reports_take_the_platform(home, redis_server):
    span = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
    sessions = as_json(home, redis_server, "sessions", "--platform", "cursor", "--since", "2026-11-01")
    assert {s["session_id"] for s in sessions} == {CURSOR_SESSION, CURSOR_SESSION_BARE}
    bare = next(s for s in sessions if s["session_id"] == CURSOR_SESSION_BARE)
    assert bare["tokens"] is None and bare["responses_without_tokens"] == 1
    tools = as_json(home, redis_server, "tools", "--platform", "cursor", *span)
    assert [t["tool_name"] for t in tools] == ["run_terminal_cmd"]
    claude_tools = as_json(home, redis_server, "tools", "--platform", "claude-code", *span)
    assert "run_terminal_cmd" not in {t["tool_name"] for t in claude_tools} and claude_tools
    usage = as_json(home, redis_server, "usage", "--by", "session", "--platform", "cursor", *span)
    assert {u["session_id"] for u in usage} == {CURSOR_SESSION, CURSOR_SESSION_BARE}
    projects = as_json(home, redis_server, "projects", "--platform", "cursor")
    assert [p["name"] for p in projects] == ["cursor-app"]
    analysis = as_json(home, redis_server, "analyze", CURSOR_SESSION_BARE, "--platform", "cursor")
    assert analysis["session"]["platform"] == "cursor" and analysis["session"]["tokens"] is None
    blocks = as_json(home, redis_server, "report", "blocks", "-z", "UTC", "--platform", "cursor")["blocks"]
    assert {m for b in blocks for m in b["models"]} == {"gpt-5", "claude-4.5-sonnet"}
    one = as_json(home, redis_server, "analyze", CURSOR_SESSION)
    assert [c["conversation_id"] for c in one["conversations"]] == ["composer-1", "composer-2"]
    assert one["conversations"][0]["responses"] == 2 and one["conversations"][0]["lines_added"] == 12
    shown = run(home, redis_server, "analyze", CURSOR_SESSION)
    assert shown.returncode == 0 and "1 responses without token counts" in shown.stdout, shown.stderr
    assert "Conversations" in shown.stdout and "composer-2" in shown.stdout
    assert "tokens not recorded" in shown.stdout


@pytest.mark.parametrize(
    "args",
    [["report", "daily"], ["report", "session"], ["report", "ai"], ["report", "blocks"], ["usage"], ["sessions"],
     ["tools"],
     ["errors"], ["projects"], ["export"], ["analyze", CURSOR_SESSION]],
)  # fmt: skip
def test_an_unknown_platform_is_one_line_and_exit_2(home, redis_server, args):
    result = run(home, redis_server, *args, "--platform", "vim")
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "unknown platform 'vim'; choose claude-code or cursor" in errors[0]


def test_report_ai_counts_commits_once_and_lines_by_source(home, redis_server):
    report = as_json(home, redis_server, "report", "ai", "-z", "UTC")
    assert report["commits"]["totals"]["commits"] == 2 and report["commits"]["totals"]["ai_lines_added"] == 26
    assert [r["source"] for r in report["lines"]["rows"]] == ["composer", "tab"]
    by_model = as_json(home, redis_server, "report", "ai", "-z", "UTC", "--lines-by", "model", "--project",
                       "cursor-app")  # fmt: skip
    assert by_model["lines"]["rows"] == [{"model": "gpt-5", "lines": 4, "sessions": 1}]
    table = run(home, redis_server, "report", "ai", "-z", "UTC", "--period", "weekly")
    assert table.returncode == 0, table.stderr
    assert "31.3%" in table.stdout and "composer" in table.stdout and "2026-11-23" in table.stdout
    empty = run(home, redis_server, "report", "ai", "-z", "UTC", "--platform", "claude-code")
    assert empty.returncode == 0 and "no AI-authored code recorded" in empty.stdout

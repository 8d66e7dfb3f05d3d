"""Cursor beside Claude Code in the REST API: usage split per platform, tokens Cursor did not record shown
as missing (null, never 0), a platform filter on every report (an unknown platform is a 400), Cursor's
sessions with their conversations, turns and tool calls, and the AI-authored code report. The store: the
Claude Code corpus through the real pipeline, and Cursor's derived rows (tests/factories.py)."""

import json
from pathlib import Path

import pytest

from blueplane import cli
from tests.factories import CURSOR_PROJECT, CURSOR_SESSION, CURSOR_SESSION_BARE, cursor_rows
from tests.support.ccusage import assert_ccusage_equal

from .resources_support import error, ok

pytestmark = pytest.mark.django_db

CCUSAGE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-real" / "ccusage"
SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost_usd")


@pytest.fixture
def both(corpus) -> None:
    cursor_rows()


def test_days_split_cost_and_tokens_by_platform(both, client):
    report = ok(client, "usage/", group="day", **SPAN)
    first, second = report["rows"]
    assert (first["day"], second["day"]) == ("2026-11-25", "2026-11-26")
    assert set(first["platforms"]) == {"claude_code", "cursor"}
    cursor = first["platforms"]["cursor"]
    assert (cursor["messages"], cursor["input_tokens"], cursor["output_tokens"]) == (2, 1000, 200)
    assert cursor["responses_without_tokens"] == 1 and cursor["cost_usd"] == pytest.approx(0.01)
    claude = first["platforms"]["claude_code"]
    assert claude["output_tokens"] == 1758 and claude["responses_without_tokens"] == 0
    assert first["output_tokens"] == 1758 + 200 and first["responses_without_tokens"] == 1
    assert first["cost_usd"] == pytest.approx(3.22896975 + 0.01, abs=1e-8)
    # The next day only Cursor worked, and it recorded no tokens: missing, not 0.
    assert second["messages"] == 1 and second["responses_without_tokens"] == 1
    assert all(second[k] is None for k in TOKENS)
    assert all(second["platforms"]["cursor"][k] is None for k in TOKENS)
    assert report["totals"]["responses_without_tokens"] == 2 and report["totals"]["output_tokens"] == 1958


def test_usage_by_platform_and_filtered_to_one(both, client):
    rows = {r["platform"]: r for r in ok(client, "usage/", group="platform", **SPAN)["rows"]}
    assert rows["cursor"]["messages"] == 3 and rows["cursor"]["responses_without_tokens"] == 2
    assert rows["claude_code"]["output_tokens"] == 1758
    only = ok(client, "usage/", group="day", platform="cursor", **SPAN)
    assert [r["day"] for r in only["rows"]] == ["2026-11-25", "2026-11-26"]
    assert all("platforms" not in r for r in only["rows"])  # one platform: nothing to split
    claude = ok(client, "usage/", group="day", platform="claude_code", **SPAN)
    assert claude["totals"]["output_tokens"] == 1758 and claude["totals"]["responses_without_tokens"] == 0


def test_usage_by_model_says_which_tokens_are_missing(both, client):
    rows = {r["model"]: r for r in ok(client, "usage/", group="model", **SPAN)["rows"]}
    assert rows["gpt-5"]["input_tokens"] == 1000 and rows["gpt-5"]["responses_without_tokens"] == 1
    assert rows["claude-4.5-sonnet"]["input_tokens"] is None and rows["claude-4.5-sonnet"]["cost_usd"] is None


def test_ccusage_shape_keeps_claude_codes_and_adds_cursors(both, client):
    claude = ok(client, "usage/", group="day", format="ccusage", platform="claude_code", **SPAN)
    assert_ccusage_equal(claude, json.loads((CCUSAGE / "daily.json").read_text()))
    mixed = ok(client, "usage/", group="day", format="ccusage", **SPAN)
    first, second = mixed["daily"]
    assert first["platforms"]["claude_code"]["outputTokens"] == 1758
    assert first["platforms"]["cursor"] == {
        "inputTokens": 1000, "outputTokens": 200, "cacheCreationTokens": 0, "cacheReadTokens": 0,
        "totalTokens": 1200, "totalCost": pytest.approx(0.01), "responsesWithoutTokens": 1,
    }  # fmt: skip
    assert first["metadata"]["agents"] == ["claude", "cursor"]
    assert (
        second["totalTokens"] is None
        and second["totalCost"] is None
        and second["responsesWithoutTokens"] == 1
    )
    (sonnet,) = second["modelBreakdowns"]
    assert sonnet["modelName"] == "claude-4.5-sonnet" and sonnet["cost"] is None
    assert mixed["totals"]["responsesWithoutTokens"] == 2
    assert set(mixed["totals"]["platforms"]) == {"claude_code", "cursor"}
    sessions = ok(client, "usage/", group="session", format="ccusage", platform="cursor", **SPAN)["session"]
    bare = next(s for s in sessions if s["period"] == CURSOR_SESSION_BARE)
    assert bare["agent"] == "cursor" and bare["totalTokens"] is None and bare["responsesWithoutTokens"] == 1


@pytest.mark.parametrize("path", ["usage/", "tools/", "errors/", "acceptance/", "activity/", "productivity/",
                                  "ai-code/", "export/", "data-issues/", "data-issues/counts/", "sessions/",
                                  "projects/", "turns/", "tool-calls/", "code-changes/", "conversations/"])  # fmt: skip
def test_an_unknown_platform_is_a_400_naming_it(both, client, path):
    body = error(client, path, 400, platform="vim")
    assert "platform" in json.dumps(body)


def test_cursor_sessions_are_listed_with_their_conversations_turns_and_tool_calls(both, client):
    listed = ok(client, "sessions/", platform="cursor")["results"]
    assert {s["session_id"] for s in listed} == {CURSOR_SESSION, CURSOR_SESSION_BARE}
    bare = next(s for s in listed if s["session_id"] == CURSOR_SESSION_BARE)
    assert bare["platform"] == "cursor" and bare["tokens"] is None and bare["cost_usd"] is None
    assert bare["responses_without_tokens"] == 1
    detail = ok(client, f"sessions/{CURSOR_SESSION}/")
    assert (
        detail["conversations"] == 2 and detail["tokens"] == 1200 and detail["responses_without_tokens"] == 1
    )
    assert detail["project"] == CURSOR_PROJECT[1]
    talks = {
        c["conversation_id"]: c for c in ok(client, f"sessions/{CURSOR_SESSION}/conversations/")["results"]
    }
    assert (talks["composer-1"]["lines_added"], talks["composer-1"]["lines_removed"]) == (12, 3)
    assert talks["composer-2"]["lines_added"] is None and talks["composer-2"]["platform"] == "cursor"
    turns = {t["key"]: t for t in ok(client, f"sessions/{CURSOR_SESSION}/turns/")["results"]}
    assert turns["r1"]["tokens_known"] and turns["r1"]["input_tokens"] == 1000
    assert not turns["r2"]["tokens_known"] and turns["r2"]["input_tokens"] is None
    calls = ok(client, f"sessions/{CURSOR_SESSION}/tool-calls/")["results"]
    assert [c["tool_name"] for c in calls] == ["run_terminal_cmd"]
    timeline = ok(client, f"sessions/{CURSOR_SESSION}/timeline/")["results"]
    r2 = next(i for i in timeline if i["type"] == "turn" and i["key"] == "r2")
    assert r2["tokens_known"] is False and r2["output_tokens"] is None
    turn_rows = ok(client, "turns/", platform="cursor", kind="assistant_response")["results"]
    assert {t["session_id"] for t in turn_rows} == {CURSOR_SESSION, CURSOR_SESSION_BARE}


def test_ai_code_counts_each_commit_once_and_lines_by_source(both, client):
    report = ok(client, "ai-code/", **SPAN)
    assert report["platform"] == "cursor"
    (day,) = report["commits"]["rows"]
    totals = report["commits"]["totals"]
    assert day["day"] == "2026-11-25" and totals["commits"] == 2
    assert (totals["lines_added"], totals["tab_lines_added"], totals["composer_lines_added"]) == (86, 7, 19)
    assert (totals["human_lines_added"], totals["blank_lines_added"], totals["ai_lines_added"]) == (57, 3, 26)
    assert totals["ai_share"] == pytest.approx(26 / 83)
    assert report["lines"]["rows"] == [
        {"source": "composer", "lines": 4, "sessions": 1}, {"source": "tab", "lines": 1, "sessions": 0},
    ]  # fmt: skip
    assert report["lines"]["total"] == 5


@pytest.mark.parametrize(
    ("lines_by", "expected"),
    [
        ("model", [{"model": "gpt-5", "lines": 4, "sessions": 1}, {"model": "", "lines": 1, "sessions": 0}]),
        ("extension", [{"extension": ".py", "lines": 3, "sessions": 1},
                       {"extension": ".ts", "lines": 2, "sessions": 1}]),
        ("project", [{"project": CURSOR_PROJECT[1], "project_key": CURSOR_PROJECT[0], "lines": 4, "sessions": 1},
                     {"project": None, "project_key": None, "lines": 1, "sessions": 0}]),
    ],
)  # fmt: skip
def test_ai_lines_by_model_extension_and_project(both, client, lines_by, expected):
    assert ok(client, "ai-code/", lines_by=lines_by, **SPAN)["lines"]["rows"] == expected


def test_ai_code_of_claude_code_or_another_span_is_empty(both, client):
    claude = ok(client, "ai-code/", platform="claude_code", **SPAN)
    assert claude["commits"]["rows"] == [] and claude["lines"]["total"] == 0
    assert claude["commits"]["totals"]["ai_share"] is None
    later = ok(client, "ai-code/", since="2026-11-26", until="2026-11-30")
    assert later["commits"]["totals"]["commits"] == 0
    weeks = ok(client, "ai-code/", group="month", **SPAN)["commits"]["rows"]
    assert [w["month"] for w in weeks] == ["2026-11"]
    error(client, "ai-code/", 400, lines_by="file")


def test_the_cli_prints_the_apis_answers(both, client, capsys):
    cli_span = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
    assert cli.main(["usage", "--by", "day", "--json", *cli_span]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == json.loads(json.dumps(ok(client, "usage/", group="day", **SPAN)["rows"]))
    assert cli.main(["report", "ai", "--json", "-s", "2026-11-01", "-u", "2026-11-30", "-z", "UTC"]) == 0
    assert json.loads(capsys.readouterr().out) == ok(client, "ai-code/", **SPAN)


def test_projects_and_models_count_responses_without_tokens(both, client):
    (project,) = ok(client, "projects/", platform="cursor")["results"]
    assert project["name"] == CURSOR_PROJECT[1] and project["sessions"] == 2
    assert (project["messages"], project["responses_without_tokens"], project["input_tokens"]) == (3, 2, 1000)
    models = {m["model"]: m for m in ok(client, "models/", platform="cursor")["results"]}
    assert models["gpt-5"]["responses_without_tokens"] == 1 and models["gpt-5"]["output_tokens"] == 200
    sonnet = models["claude-4.5-sonnet"]
    assert sonnet["messages"] == 1 and sonnet["input_tokens"] is None and sonnet["cost_usd"] is None


def test_blocks_take_the_platform(both, client):
    span = {"since": "2026-11-01", "until": "2026-11-30"}
    cursor = ok(client, "blocks/", platform="cursor", **span)["blocks"]
    assert {m for b in cursor for m in b["models"]} == {"gpt-5", "claude-4.5-sonnet"}
    claude = ok(client, "blocks/", platform="claude_code", **span)["blocks"]
    assert claude and not {"gpt-5", "claude-4.5-sonnet"} & {m for b in claude for m in b["models"]}

"""The MCP tools on a store holding Claude Code and Cursor (in-process, the tools as plain functions): the
platform argument, tokens Cursor did not record as null with their count, Cursor's sessions, and the
AI-authored code tool, each the same JSON as the API's answer to the same question."""

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from api.mcp import tools
from tests.factories import CURSOR_SESSION, CURSOR_SESSION_BARE, cursor_rows

pytestmark = pytest.mark.django_db

SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}


@pytest.fixture
def both(corpus) -> None:
    cursor_rows()


def test_usage_splits_by_platform_and_says_what_is_missing(both, client):
    answer = tools.usage_report(group="day", **SPAN)
    assert answer == client.get("/api/v1/usage/", {"group": "day", **SPAN}).json()
    first, second = answer["rows"]
    assert set(first["platforms"]) == {"claude_code", "cursor"}
    assert second["input_tokens"] is None and second["responses_without_tokens"] == 1
    cursor = tools.usage_report(group="model", platform="cursor", **SPAN)
    assert {r["model"] for r in cursor["rows"]} == {"gpt-5", "claude-4.5-sonnet"}
    assert cursor["totals"]["responses_without_tokens"] == 2


def test_sessions_of_cursor_with_their_platform(both):
    found = tools.sessions_search(platform="cursor", since="2026-11-01", limit=10)["results"]
    assert {s["session_id"] for s in found} == {CURSOR_SESSION, CURSOR_SESSION_BARE}
    assert {s["platform"] for s in found} == {"cursor"}
    detail = tools.current_session(session_id=CURSOR_SESSION, platform="cursor")
    assert detail["conversations"] == 2 and detail["responses_without_tokens"] == 1
    summary = tools.session_summary(session_id=CURSOR_SESSION_BARE)
    assert summary["session"]["tokens"] is None


def test_ai_code_is_the_apis_answer(both, client):
    answer = tools.ai_code(lines_by="extension", **SPAN)
    assert answer == client.get("/api/v1/ai-code/", {"lines_by": "extension", **SPAN}).json()
    assert answer["commits"]["totals"]["commits"] == 2
    assert [r["extension"] for r in answer["lines"]["rows"]] == [".py", ".ts"]
    assert tools.ai_code(platform="claude_code", **SPAN)["lines"]["total"] == 0


def test_a_platform_not_known_is_a_tool_error(both):
    with pytest.raises(ToolError, match="platform"):
        tools.ai_code(platform="vim", **SPAN)  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="platform"):
        tools.usage_report(platform="vim", **SPAN)  # type: ignore[arg-type]

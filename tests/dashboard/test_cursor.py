"""Cursor beside Claude Code on the dashboard, over a mixed store (tests/dashboard/cursor_store.py): the
platform filter narrows lists and figures, a Cursor session's page shows its conversations, prompts,
responses, tool calls and edits, tokens Cursor did not record are shown as missing (never as 0), the
overview splits cost and tokens by platform, and the AI-authored lines card adds up. First the figures
in-process, then the pages in real Chromium against a whole install holding the same rows."""

import json
from decimal import Decimal

import pytest
from django.test import Client

from api.dashboard.filters import PageFilters, filters_parse
from api.dashboard.pages import overview, projects, tools
from api.dashboard.pages import session as session_page
from api.dashboard.pages import sessions as sessions_page
from telemetry.selectors import ai_lines_pages
from tests.dashboard.cursor_store import (
    CLAUDE,
    COMPOSERS,
    CURSOR,
    CURSOR_NO_TOKENS,
    DAY,
    EXPECTED,
    SPAN,
    build_in_install,
    mixed_store_build,
)
from tests.dashboard.test_overview import answers
from tests.support.browser import LAPTOP, page_open, screenshot
from tests.support.system import install_home


@pytest.fixture
def store(db: None) -> dict:
    return mixed_store_build()


def listed(**params: str) -> dict[str, dict]:
    found = sessions_page.figures(filters_parse({**SPAN, **params}))
    return {s["session_id"]: s for s in found["sessions"]}


# --- figures, in-process -------------------------------------------------------------------------------


def test_platform_filter_narrows_the_sessions_and_the_overview(store) -> None:
    assert set(listed()) == {CLAUDE, CURSOR, CURSOR_NO_TOKENS}
    assert set(listed(platform="cursor")) == {CURSOR, CURSOR_NO_TOKENS}
    assert set(listed(platform="claude_code")) == {CLAUDE}
    for platform in ("claude_code", "cursor"):
        fig = overview.figures(PageFilters(**SPAN, platform=platform))
        assert Decimal(fig["period"]["cost_usd"]) == EXPECTED["cost_usd"][platform]
        assert fig["period"]["tokens"] == EXPECTED["tokens"][platform]
        assert {s["platform"] for s in fig["sessions"]} == {platform}
        assert fig["platforms"] is None  # one platform: the page itself is its split
    calls = tools.figures(PageFilters(**SPAN, platform="cursor"))
    assert {t["tool_name"] for t in calls["tools"]} == {"run_terminal_cmd", "edit_file"}
    assert calls["totals"]["failures"] == 1
    assert {t["tool_name"] for t in tools.figures(PageFilters(**SPAN, platform="claude_code"))["tools"]} == {
        "Bash"
    }


def test_overview_splits_cost_and_tokens_by_platform(store) -> None:
    fig = overview.figures(PageFilters(**SPAN))
    rows = {r["platform"]: r for r in fig["platforms"]["rows"]}
    assert set(rows) == {"claude_code", "cursor"}
    for platform, row in rows.items():
        assert Decimal(row["cost_usd"]) == EXPECTED["cost_usd"][platform]
        assert row["tokens"] == EXPECTED["tokens"][platform]
    assert rows["cursor"]["responses_without_tokens"] == EXPECTED["responses_without_tokens"]["cursor"]
    assert rows["claude_code"]["responses_without_tokens"] == 0
    series = {s["name"]: sum(Decimal(v) for v in s["values"]) for s in fig["platforms"]["cost_by_platform"]}
    assert series == EXPECTED["cost_usd"]
    assert Decimal(fig["period"]["cost_usd"]) == sum(EXPECTED["cost_usd"].values())


def test_tokens_not_recorded_are_counted_as_missing_never_as_zero(store) -> None:
    fig = overview.figures(PageFilters(**SPAN))
    assert fig["period"]["responses_without_tokens"] == 3
    assert fig["period"]["messages"] == 6  # the 3 without tokens are responses all the same
    rows = listed()
    assert (rows[CURSOR_NO_TOKENS]["responses_without_tokens"], rows[CURSOR_NO_TOKENS]["responses"]) == (2, 2)
    assert (rows[CURSOR]["responses_without_tokens"], rows[CURSOR]["responses"]) == (1, 2)
    assert rows[CLAUDE]["responses_without_tokens"] == 0
    found = session_page.figures(filters_parse({}), session_id=CURSOR)
    responses = [i for i in found["timeline"] if i.get("kind") == "assistant_response"]
    assert [r["tokens_known"] for r in responses] == [True, False]
    assert [t["responses_without_tokens"] for t in found["turns"]] == [1, 0]
    projects = {p["project"]: p for p in fig["projects"]}
    assert (projects["web"]["tokens"], projects["web"]["responses_without_tokens"]) == (0, 2)
    assert projects["shop"]["responses_without_tokens"] == 1


def test_projects_page_says_which_tokens_are_missing(store) -> None:
    fig = projects.figures(PageFilters(**SPAN))
    by_project = {p["project"]: p for p in fig["projects"]}
    assert (by_project["web"]["tokens"], by_project["web"]["responses_without_tokens"]) == (0, 2)
    assert by_project["shop"]["responses_without_tokens"] == 1
    by_model = {m["model"]: m for m in fig["models"]}
    assert (
        by_model["claude-4.5-sonnet"]["tokens"],
        by_model["claude-4.5-sonnet"]["responses_without_tokens"],
    ) == (0, 2)
    assert (
        by_model["gpt-5"]["responses_without_tokens"] == 1
        and by_model["claude-opus-4-1"]["responses_without_tokens"] == 0
    )
    one = projects.figures(PageFilters(**SPAN, model="gpt-5"))
    assert [(p["project"], p["responses_without_tokens"]) for p in one["projects"]] == [("shop", 1)]
    assert json.loads(json.dumps(fig)) == fig
    everything = overview.figures(PageFilters(**SPAN))
    assert json.loads(json.dumps(everything)) == everything


def test_cursor_session_page_has_its_conversations_prompts_tool_calls_and_edits(store) -> None:
    found = session_page.figures(filters_parse({}), session_id=CURSOR)
    assert found["session"]["platform"] == "cursor"
    conversations = {c["conversation_id"]: c for c in found["conversations"]}
    assert list(conversations) == list(COMPOSERS)
    assert (conversations[COMPOSERS[0]]["lines_added"], conversations[COMPOSERS[0]]["lines_removed"]) == (
        12,
        3,
    )
    assert conversations[COMPOSERS[1]]["archived"] and conversations[COMPOSERS[1]]["lines_added"] is None
    kinds = [
        (i["type"], i.get("kind") or i.get("tool_name") or i.get("file_extension")) for i in found["timeline"]
    ]
    assert ("turn", "user_prompt") in kinds and ("code_change", "") in kinds
    calls = {i["tool_name"]: i for i in found["timeline"] if i["type"] == "tool_call"}
    assert (calls["run_terminal_cmd"]["status"], calls["run_terminal_cmd"]["duration_ms"]) == (
        "success",
        1200,
    )
    assert (calls["edit_file"]["status"], calls["edit_file"]["error_type"]) == ("failure", "edit_failed")
    assert json.loads(json.dumps(found)) == found


def test_ai_lines_count_each_commit_once(store) -> None:
    fig = overview.figures(PageFilters(**SPAN))
    ai = fig["ai_lines"]
    assert ai["commits"] == EXPECTED["commits"]
    assert (ai["ai_lines"], ai["human_lines_added"]) == (EXPECTED["ai_lines"], EXPECTED["human_lines"])
    assert ai["ai_share"] == pytest.approx(EXPECTED["ai_share"])
    assert (ai["lines_added"], ai["lines_deleted"], ai["blank_lines_added"]) == (86, 18, 3)
    assert [(d["day"], d["commits"]) for d in ai["by_day"]] == [("2025-10-20", 1), ("2025-10-21", 1)]
    assert [(s["source"], s["lines"]) for s in ai["code_lines_by_source"]] == EXPECTED["code_lines_by_source"]
    # A day in a zone: the local days the commits fall on.
    day = ai_lines_pages.ai_lines_summary(start=DAY.date(), end=DAY.date(), tz="UTC")
    assert (day["commits"], day["ai_lines"]) == (1, 4 + 9)
    # Not on a page of Claude Code alone, nor of one project (Cursor names no repository for a commit).
    assert overview.figures(PageFilters(**SPAN, platform="claude_code"))["ai_lines"] is None
    assert overview.figures(PageFilters(**SPAN, project="k-shop"))["ai_lines"] is None


def test_no_ai_lines_card_without_cursors_tracking(db: None) -> None:
    assert overview.figures(PageFilters(**SPAN))["ai_lines"] is None


def test_pages_render_over_the_mixed_store(store) -> None:
    client = Client()
    for path in ("/", "/sessions/", f"/sessions/{CURSOR}/", "/tools/", "/projects/"):
        for platform in ("", "cursor", "claude_code"):
            answer = client.get(path, {"period": "all", **({"platform": platform} if platform else {})})
            assert answer.status_code in (200, 404), (path, platform)
            assert answer.status_code == 200 or (
                path.startswith("/sessions/cu") and platform == "claude_code"
            )


# --- in Chromium, against a whole install ----------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_install():
    with install_home("bp-cur-") as inst:
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr + inst.log_tail()
        inst.wait_for(lambda: answers(inst.url + "/healthz"), what="the web server")
        build_in_install(inst.env)
        yield inst


def _texts(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent.trim())")


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_mixed_store_in_chromium(mixed_install, browser) -> None:
    url = mixed_install.url
    page = page_open(browser, viewport=LAPTOP)

    # Sessions: a platform column; the platform filter narrows the list; missing tokens are "—", not 0.
    assert page.goto(f"{url}/sessions/?period=all&tz=UTC").status == 200
    page.wait_for_selector("table.sessions tbody tr")
    assert sorted(_texts(page, "table.sessions tbody td:nth-child(2)")) == ["Claude Code", "Cursor", "Cursor"]
    bare = page.locator("table.sessions tbody tr", has=page.locator(f"a[title='{CURSOR_NO_TOKENS}']"))
    cell = bare.locator("td:nth-child(10) .tokens-missing")
    assert cell.inner_text() == "—" and "not recorded" in cell.get_attribute("title")
    cost = bare.locator("td:nth-child(11) .tokens-missing")
    assert cost.inner_text() == "—" and "Cost unknown" in cost.get_attribute("title")
    partly = page.locator("table.sessions tbody tr", has=page.locator(f"a[title='{CURSOR}']")).locator(
        "td:nth-child(10) .tokens-missing"
    )
    assert partly.inner_text().startswith("1.20k") and "1 response of 2" in partly.get_attribute("title")
    screenshot(page, "cursor-sessions")
    page.select_option("select[name=platform]", "cursor")
    page.wait_for_url("**platform=cursor**")
    page.wait_for_selector("table.sessions tbody tr")
    assert set(_texts(page, "table.sessions tbody td:nth-child(2)")) == {"Cursor"}

    # A Cursor session's page: its two conversations, prompts, responses, tool calls, edits.
    assert page.goto(f"{url}/sessions/{CURSOR}/").status == 200
    page.wait_for_selector("#timeline li.tl")
    assert page.is_visible("#conversations-card")
    assert page.locator("#conversations-table tbody tr").count() == 2
    assert "archived" in page.inner_text("#conversations-table") and "+12" in page.inner_text(
        "#conversations-table"
    )
    timeline = page.inner_text("#timeline")
    for text in (
        "Prompt",
        "run_terminal_cmd",
        "1.2 s",
        "edit_file",
        "failure",
        "Edit",
        "tokens not recorded",
    ):
        assert text in timeline, text
    assert "Cursor" in page.inner_text(".session-meta")
    turn_tokens = _texts(page, "#turns-table tbody td:nth-child(8)")
    assert turn_tokens[0].startswith("1.20k") and turn_tokens[1] == "0"  # turn 2 has no response at all
    screenshot(page, "cursor-session")
    bare_page = page.goto(f"{url}/sessions/{CURSOR_NO_TOKENS}/")
    assert bare_page.status == 200
    page.wait_for_selector("#timeline li.tl")
    assert page.inner_text("#session-kpis [data-figure=tokens]") == "—"
    assert page.inner_text("#session-kpis [data-figure=cost_usd]") == "—"
    assert page.inner_text("#turns-table tbody td:nth-child(8)") == "—"
    assert page.inner_text("#turns-table tbody td:nth-child(9)") == "—"  # nor its cost 0

    # Overview: cost and tokens by platform, the tokens KPI's missing note, the AI-lines card.
    assert page.goto(f"{url}/?period=all&tz=UTC").status == 200
    page.wait_for_selector("#platforms-table tbody tr")
    rows = page.eval_on_selector_all(
        "#platforms-table tbody tr", "rs => rs.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
    assert sorted(r[:3] for r in rows) == [
        ["Claude Code", "$1.75", "1.16k"],
        ["Cursor", "$0.250+?", "1.20k+?"],
    ]
    assert "3 responses without recorded tokens" in page.inner_text("#tokens-missing")
    web = page.locator("#projects-table tbody tr", has=page.locator("a:text-is('web')"))
    assert web.locator("td:nth-child(3) .tokens-missing").inner_text() == "—"
    assert page.is_visible("#ai-lines-row")
    assert page.inner_text("#ai-kpis [data-figure=commits]") == "2"
    assert page.inner_text("#ai-kpis [data-figure=ai_lines]") == "26"
    assert page.inner_text("#ai-kpis [data-figure=human_lines_added]") == "57"
    assert page.inner_text("#ai-kpis [data-figure=ai_share]") == "31%"
    sources = page.eval_on_selector_all(
        "#ai-sources-table tbody tr", "rs => rs.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
    assert sources == [[s, str(n)] for s, n in EXPECTED["code_lines_by_source"]]
    page.wait_for_function("document.querySelector('#card-platforms canvas').width > 0")
    screenshot(page, "cursor-overview")
    # The platform picker narrows the figures: Claude Code alone has no split and no AI-lines card.
    page.select_option("select[name=platform]", "claude_code")
    page.wait_for_url("**platform=claude_code**")
    page.wait_for_selector("[data-figure=period_cost_usd]:text('$1.75')")
    assert not page.is_visible("#platforms-row") and not page.is_visible("#ai-lines-row")
    assert page.is_hidden("#tokens-missing")

    # Projects & models: a model whose tokens Cursor never recorded has "—", not 0.
    assert page.goto(f"{url}/projects/?period=all&tz=UTC").status == 200
    page.wait_for_selector("#models-table tbody tr")
    sonnet = page.locator("#models-table tbody tr", has=page.locator("a[title='claude-4.5-sonnet']"))
    assert sonnet.locator("td:nth-child(8)").inner_text() == "—"
    assert "+?" in page.inner_text("[data-figure=tokens]")

    # Tools: a platform picker.
    assert page.goto(f"{url}/tools/?period=all&platform=cursor").status == 200
    page.wait_for_selector("#tools-table tbody tr")
    assert "run_terminal_cmd" in page.inner_text("#tools-table") and "Bash" not in page.inner_text(
        "#tools-table"
    )
    assert page.console_seen.errors == []

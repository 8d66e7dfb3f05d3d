"""Claude Code's OpenTelemetry ledger on the dashboard, over tests.factories.otel_rows() and a session no
OTel saw (tests/dashboard/otel_store.py): the overview says where the numbers come from (each source's
calls and cost, the calls only OTel saw, the conflict's two readings) and what only OTel reports beside
Blueplane's figures (active time, lines, edit decisions, errors and retries, possible loss); a session's
page marks each API call's source, each tool call's decision and who made it, and its OTel figures; the
tools page has decisions by tool. Without OTel data, or for Cursor alone, the cards are absent: a figure
OTel did not report is never a 0. First the figures in-process, then the pages in real Chromium."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from api.dashboard.filters import PageFilters, filters_parse
from api.dashboard.pages import overview, tools
from api.dashboard.pages import session as session_page
from api.dashboard.pages.provenance import reading, session_otel
from telemetry.selectors import provenance
from tests.dashboard.otel_store import (
    EXPECTED,
    OTEL_SPAN,
    PLAIN_DAY,
    PLAIN_SESSION,
    PLAIN_SPAN,
    build_in_install,
    otel_store_build,
)
from tests.dashboard.test_overview import answers
from tests.factories import OTEL_PROJECT, OTEL_SESSION
from tests.support.browser import LAPTOP, page_open, screenshot
from tests.support.system import install_home


@pytest.fixture
def store(db: None) -> dict:
    return otel_store_build()


def span(base: dict = OTEL_SPAN, **params: str) -> PageFilters:
    return filters_parse({**base, **params})


def otel_of(**params: str) -> dict | None:
    return overview.figures(span(**params))["otel"]


def session_figures(session_id: str) -> dict:
    return session_page.figures(filters_parse({}), session_id=session_id)


# --- figures, in-process -------------------------------------------------------------------------------


def test_overview_says_where_each_number_comes_from(store) -> None:
    otel = otel_of()
    sources = {r["source"]: r for r in otel["sources"]}
    assert list(sources) == ["both", "transcript", "otel", "conflict"]
    assert {s: r["messages"] for s, r in sources.items()} == EXPECTED["calls"]
    assert {s: Decimal(r["cost_usd"]) for s, r in sources.items()} == {
        s: Decimal(c) for s, c in EXPECTED["cost_usd"].items()
    }
    assert otel["total"]["messages"] == 4  # each call once, whichever source saw it
    assert Decimal(otel["total"]["cost_usd"]) == Decimal(EXPECTED["total_cost_usd"])
    # Claude Code's own figures beside the ledger, never added to it.
    assert otel["reported"]["events"]["calls"] == 3
    assert Decimal(otel["reported"]["events"]["cost_usd"]) == Decimal("0.115988")
    assert otel["reported"]["metrics"]["cost_usd"] == "0.115988"
    [conflict] = otel["conflicts"]
    assert conflict["request_id"] == EXPECTED["conflict"]["request_id"]
    assert conflict["session_id"] == OTEL_SESSION
    assert conflict["transcript"]["output_tokens"] == EXPECTED["conflict"]["transcript_output"]
    assert conflict["otel"]["output_tokens"] == EXPECTED["conflict"]["otel_output"]
    assert otel["joins"]["otel_gaps"] == {"sessions": 1, "records": 1}


def test_overview_shows_what_only_otel_reports_beside_blueplanes_figures(store) -> None:
    act = otel_of()["activity"]
    assert (act["otel_active_seconds"], act["active_seconds"]) == (
        EXPECTED["otel_active_seconds"],
        EXPECTED["active_seconds"],
    )
    assert (act["otel_lines_added"], act["otel_lines_removed"], act["lines_added"]) == (30, 2, 30)
    assert (act["otel_edit_accepts"], act["otel_edit_rejects"], act["edits_accepted"]) == (11, 0, 3)
    assert (act["api_errors"], act["api_retries"]) == (1, 2)
    assert act["decisions"] == {"accept": 1, "reject": 1}


def test_no_otel_cards_without_otel_data(store) -> None:
    assert overview.figures(span(PLAIN_SPAN))["otel"] is None  # transcript-only usage that day
    assert overview.figures(span(PLAIN_SPAN))["period"]["messages"] == 1
    assert otel_of(project="plain-app") is None  # the span holds OTel data, that project none
    assert otel_of(project=OTEL_PROJECT[1]) is not None
    assert otel_of(project=OTEL_PROJECT[0]) is not None


def test_no_otel_cards_on_an_empty_store(db: None) -> None:
    assert overview.figures(PageFilters(period="all"))["otel"] is None
    assert tools.figures(PageFilters(period="all"))["decisions"] is None


def test_a_cursor_only_filter_hides_the_otel_figures(store) -> None:
    assert otel_of(platform="cursor") is None
    assert otel_of(platform="claude_code") is not None
    assert tools.figures(span(platform="cursor"))["decisions"] is None


def test_session_page_marks_each_calls_source_and_each_decision(store) -> None:
    found = session_figures(OTEL_SESSION)
    responses = {i["id"]: i for i in found["timeline"] if i.get("kind") == "assistant_response"}
    assert sorted(r["source"] for r in responses.values()) == sorted(EXPECTED["calls"])
    [conflict] = [r for r in responses.values() if r["source"] == "conflict"]
    assert conflict["readings"]["transcript"]["output_tokens"] == 300
    assert conflict["readings"]["otel"]["output_tokens"] == 301
    assert conflict["readings"]["otel"]["cost_usd"] == "0.004605"
    assert all("readings" not in r for r in responses.values() if r["source"] != "conflict")
    calls = {i["tool_name"]: i for i in found["timeline"] if i["type"] == "tool_call"}
    assert (calls["Bash"]["decision"], calls["Bash"]["decision_source"]) == ("reject", "user_reject")
    assert (calls["Write"]["decision"], calls["Write"]["otel_duration_ms"]) == ("accept", 180)
    assert (calls["Read"]["decision"], calls["Read"]["otel_duration_ms"]) == ("", None)
    otel = found["otel"]
    assert otel["requests"] == EXPECTED["calls"]
    assert (otel["active_seconds"], found["session"]["active_seconds"]) == (23.852, 420)
    assert (otel["lines_added"], otel["edit_accepts"], otel["edit_rejects"]) == (30, 11, 0)
    assert (otel["api_retries"], otel["gaps"], otel["tool_calls_in_otel"]) == (2, 1, 2)
    assert [c["request_id"] for c in otel["conflicts"]] == ["req_conflict"]
    assert json.loads(json.dumps(found)) == found


def test_a_session_no_otel_saw_has_no_otel_figures(store) -> None:
    found = session_figures(PLAIN_SESSION)
    assert found["otel"] is None
    [response] = [i for i in found["timeline"] if i.get("kind") == "assistant_response"]
    assert response["source"] == "transcript" and "readings" not in response


def test_tools_page_has_decisions_by_tool_and_who_decided(store) -> None:
    found = tools.figures(span())
    assert [
        (d["tool_name"], d["decision"], d["decision_source"], d["calls"]) for d in found["decisions"]
    ] == [
        ("Bash", "reject", "user_reject", 1),
        ("Write", "accept", "config", 1),
    ]
    only = tools.figures(span(tool="Write"))["decisions"]
    assert [d["tool_name"] for d in only] == ["Write"]
    assert tools.figures(span(PLAIN_SPAN))["decisions"] is None


def test_figures_are_json(store) -> None:
    for fig in (overview.figures(span()), tools.figures(span())):
        assert json.loads(json.dumps(fig)) == fig


# --- in Chromium, against a whole install ----------------------------------------------------------------


@pytest.fixture(scope="module")
def otel_install():
    with install_home("bp-otel-") as inst:
        up = inst.run("up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr + inst.log_tail()
        inst.wait_for(lambda: answers(inst.url + "/healthz"), what="the web server")
        build_in_install(inst.env)
        yield inst


def _rows(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        selector + " tbody tr", "rs => rs.map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )


def _query(span: dict, **more: str) -> str:
    return "&".join(f"{k}={v}" for k, v in {**span, **more}.items())


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_otel_ledger_in_chromium(otel_install, browser) -> None:
    url = otel_install.url
    page = page_open(browser, viewport=LAPTOP)

    # Overview: each source's calls and cost, the OTel-only call, the conflict's two readings.
    assert page.goto(f"{url}/?{_query(OTEL_SPAN)}").status == 200
    page.wait_for_selector("#sources-table tbody tr")
    assert page.is_visible("#otel-row")
    rows = {r[0]: r[1:] for r in _rows(page, "#sources-table")}
    assert rows == {
        "both Both agreeing": ["1", "6.11k", "$0.020"],
        "transcript Transcript only": ["1", "6.22k", "$0.005"],
        "OTel OTel only": ["1", "24.2k", "$0.091"],
        "conflict Disagreeing": ["1", "330", "$0.005"],
        "All (each call once)": ["4", "36.9k", "$0.121"],
    }
    assert "1 API call only OTel saw" in page.inner_text("#otel-only-note")
    assert "1 call where the transcript and OTel disagree" in page.inner_text("#conflicts-note")
    assert "Claude Code's own cost: $0.116" in page.inner_text("#reported-note")
    assert not page.is_visible("#conflicts-table")
    page.click("#conflicts-link")
    page.wait_for_selector("#conflicts-table tbody tr")
    [conflict] = _rows(page, "#conflicts-table")
    assert conflict[2] == "req_conflict"
    assert "300 out" in conflict[3] and "301 out" in conflict[4] and conflict[5] == "$0.005"
    differs = page.eval_on_selector_all("#conflicts-table mark.differs", "ms => ms.map(m => m.textContent)")
    assert differs == ["300 out", "301 out"]  # the kind that differs, marked in each reading

    # The OpenTelemetry card: Claude Code's own active time beside Blueplane's, and the rest.
    activity = {r[0]: r[1:] for r in _rows(page, "#otel-activity")}
    assert activity["Active time"] == ["24s", "7m 0s"]
    assert (
        page.get_attribute("#otel-activity tr[data-row=active] td:nth-child(2) span", "title") == "23.852 s"
    )
    assert activity["Lines added / removed"] == ["+30 \N{MINUS SIGN}2"] * 2
    assert activity["Edits accepted / rejected"] == ["11 / 0", "3 / 0"]
    assert activity["Tool decisions accepted / rejected"] == ["1 / 1", "—"]
    assert page.inner_text("#api-errors-note").startswith("API errors 1 · retries 2")
    assert "Possibly lost: 1 OTel record in 1 session" in page.inner_text("#gaps-note")
    screenshot(page, "otel-overview")

    # A Cursor-only filter hides both cards; a day without OTel data has none either.
    page.select_option("select[name=platform]", "cursor")
    page.wait_for_url("**platform=cursor**")
    page.wait_for_selector("#sources-table", state="attached")
    assert page.is_hidden("#otel-row")
    assert page.goto(f"{url}/?{_query(PLAIN_SPAN)}").status == 200
    page.wait_for_selector("[data-figure=period_cost_usd]:text('$0.001')")
    assert page.is_hidden("#otel-row")

    # The session's page: each call's source, the conflict's readings, decisions, OTel figures, the gap.
    assert page.goto(f"{url}/sessions/{OTEL_SESSION}/").status == 200
    page.wait_for_selector("#timeline li.tl")
    badges = page.eval_on_selector_all("#timeline .badge.source", "bs => bs.map(b => b.dataset.source)")
    assert sorted(badges) == sorted(EXPECTED["calls"])
    conflict_title = page.get_attribute("#timeline .badge.source[data-source=conflict]", "title")
    assert "Transcript: 30 in · 300 out" in conflict_title and "OTel: 30 in · 301 out" in conflict_title
    assert "$0.005 (Claude Code's cost)" in conflict_title
    assert "OTel 30 in · 301 out" in page.inner_text("#timeline .conflict-readings")
    bash = page.locator("#timeline li.tl", has=page.locator("strong:text-is('Bash')")).inner_text()
    assert "rejected" in bash and "reject by user_reject" in bash and "Claude Code 90 ms" in bash
    write = page.locator("#timeline li.tl", has=page.locator("strong:text-is('Write')")).inner_text()
    assert "accept by config" in write
    read = page.locator("#timeline li.tl", has=page.locator("strong:text-is('Read')")).inner_text()
    assert " by " not in read and "Claude Code" not in read  # nothing OTel said of it
    assert page.is_visible(
        "#otel-gap-note"
    ) and "1 record of this session may have been lost" in page.inner_text("#otel-gap-note")
    figures = {r[0]: r[1:] for r in _rows(page, "#otel-figures")}
    assert figures["Active time"] == ["24s", "7m 0s"]
    assert figures["API retries"] == ["2", "—"]
    assert figures["Edits accepted / rejected"] == ["11 / 0", "—"]
    assert "API calls:" in page.inner_text("#otel-sources")
    assert page.is_visible("#otel-conflicts")
    screenshot(page, "otel-session")

    # A session no OTel saw: no OTel card, no badge, no gap note.
    assert page.goto(f"{url}/sessions/{PLAIN_SESSION}/").status == 200
    page.wait_for_selector("#timeline li.tl")
    assert page.is_hidden("#otel-card") and page.is_hidden("#otel-gap-note")
    assert page.locator("#timeline .badge.source").count() == 0

    # Tools: decisions by tool and who decided; none for Cursor alone.
    assert page.goto(f"{url}/tools/?{_query(OTEL_SPAN)}").status == 200
    page.wait_for_selector("#decisions-table tbody tr")
    assert _rows(page, "#decisions-table") == [
        ["Bash", "rejected", "user_reject", "1"],
        ["Write", "accepted", "config", "1"],
    ]
    screenshot(page, "otel-tools")
    assert page.goto(f"{url}/tools/?{_query(OTEL_SPAN, platform='cursor')}").status == 200
    page.wait_for_selector("#tools-table tbody tr")
    assert page.is_hidden("#decisions-card")
    assert page.console_seen.errors == []


def test_otel_figures_cost_no_query_per_row(store, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(2):  # a session no OTel saw: its calls by source, its tool calls
        assert session_otel(store[PLAIN_SESSION]) is None
    with django_assert_max_num_queries(1):  # a span without OTel: one query, no ledger
        assert provenance.otel_seen(start=PLAIN_DAY, end=PLAIN_DAY + timedelta(days=1)) is False


def test_odd_readings_are_shown_as_missing_not_a_traceback() -> None:
    odd = reading(
        {"input_tokens": "x", "output_tokens": 2**70, "cache_write_tokens": True, "cost_usd": "9" * 100}
    )
    assert (odd["input_tokens"], odd["cache_write_tokens"], odd["cache_read_tokens"]) == (None, None, 0)
    assert odd["tokens"] == odd["output_tokens"] == 2**70 and len(odd["cost_usd"]) == 40
    assert reading(["not", "a", "reading"]) is None and reading({}) is None and reading(None) is None


def test_pages_render_extreme_readings(store, client) -> None:
    from telemetry.models import Turn

    huge = {"input_tokens": 2**63, "output_tokens": 10**9, "cache_write_tokens": 0, "cost_usd": "99999999.99"}
    Turn.objects.filter(request_id="req_conflict").update(otel_usage=huge)
    [conflict] = otel_of()["conflicts"]
    assert conflict["otel"]["tokens"] == 2**63 + 10**9
    for path in ("/", f"/sessions/{OTEL_SESSION}/", "/tools/"):
        assert client.get(path, OTEL_SPAN).status_code == 200, path

"""The sessions list, a session's page and its raw-event view: their figures over the real corpus (the
`corpus` fixture, in-process), equal to the API's answers for the same filters; bad parameters are a 400
page and unknown sessions a 404 page; then the pages in real Chromium against a whole install."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.test import Client
from rest_framework.test import APIClient

from api.dashboard.filters import FilterError, filters_parse
from api.dashboard.pages import session as session_page
from api.dashboard.pages import session_event, sessions
from telemetry.selectors.sessions import SESSION_ORDERINGS
from tests.api.resources_support import API_ERROR, FAILURES, SUBAGENT
from tests.support.browser import DESKTOP, LAPTOP, NARROW, page_open, screenshot

ALL = {"period": "all"}


def api_sessions(client: APIClient, **params: str) -> list[dict]:
    """Every session /api/v1/sessions/ lists for these parameters, page after page."""
    out, url = [], "/api/v1/sessions/?" + urlencode({"page_size": 200, **params})
    while url:
        body = client.get(url).json()
        out += body["results"]
        url = body["next"]
    return out


def page_sessions(**params: str) -> list[dict]:
    """Every session the sessions page lists for these parameters, page after page."""
    filters = filters_parse(params)
    out, cursor = [], ""
    while True:
        found = sessions.figures(
            filters, ordering=params.get("ordering", sessions.DEFAULT_ORDERING), cursor=cursor
        )
        out += found["sessions"]
        if not found["next"]:
            return out
        cursor = found["next"]


# --- figures, in-process -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sessions_list_equals_the_api_for_the_same_filters(corpus) -> None:
    api = APIClient()
    every = page_sessions(**ALL)
    assert len(every) > 10  # the corpus has a few dozen sessions
    assert [s["session_id"] for s in every] == [s["session_id"] for s in api_sessions(api)]
    first = api_sessions(api)[0]
    row = every[0]
    assert (row["tokens"], Decimal(row["cost_usd"]), row["prompts"], row["tool_calls"]) == (
        first["tokens"], Decimal(str(first["cost_usd"])), first["prompts"], first["tool_calls"]
    )  # fmt: skip
    model = next(s["models"][0] for s in every if s["models"])
    by_model = page_sessions(**ALL, model=model)
    assert 0 < len(by_model) < len(every)
    assert [s["session_id"] for s in by_model] == [s["session_id"] for s in api_sessions(api, model=model)]
    # A custom span in a zone, and an ordering: the API's since/until/tz and ordering mean the same.
    day = every[len(every) // 2]["started_at"][:10]
    span = {"since": day, "until": day, "tz": "Asia/Tokyo"}
    assert [s["session_id"] for s in page_sessions(**span, ordering="-cost_usd")] == [
        s["session_id"] for s in api_sessions(api, **span, ordering="-cost_usd")
    ]


@pytest.mark.django_db
def test_sessions_pages_walk_forward_and_back_by_keyset(corpus) -> None:
    filters = filters_parse(ALL)
    sessions.PAGE_SIZE, size = 7, sessions.PAGE_SIZE
    try:
        first = sessions.figures(filters)
        second = sessions.figures(filters, cursor=first["next"])
        back = sessions.figures(filters, cursor=second["previous"])
    finally:
        sessions.PAGE_SIZE = size
    assert len(first["sessions"]) == 7 and first["previous"] is None and first["next"]
    assert not {s["session_id"] for s in first["sessions"]} & {s["session_id"] for s in second["sessions"]}
    assert back["sessions"] == first["sessions"]


def test_every_ordering_has_a_label_in_the_form() -> None:
    assert set(sessions.ORDERING_LABELS) == set(SESSION_ORDERINGS)


@pytest.mark.django_db
def test_sessions_list_takes_few_queries(corpus, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(2):  # the page of sessions with their projects, nothing per row
        sessions.figures(filters_parse(ALL))


@pytest.mark.django_db
def test_session_figures_equal_the_api(corpus) -> None:
    api = APIClient()
    found = session_page.figures(filters_parse({}), session_id=FAILURES)
    detail = api.get(f"/api/v1/sessions/{FAILURES}/").json()
    header = found["session"]
    for name in ("prompts", "tool_calls", "tool_failures", "tokens", "git_branch", "models", "status"):
        assert header[name] == detail[name], name
    assert Decimal(header["cost_usd"]) == Decimal(str(detail["cost_usd"]))
    timeline = api.get(f"/api/v1/sessions/{FAILURES}/timeline/?page_size=500").json()["results"]
    assert [(i["type"], i["id"]) for i in found["timeline"]] == [(i["type"], i["id"]) for i in timeline]
    calls = [i for i in found["timeline"] if i["type"] == "tool_call"]
    assert len(calls) == 5 and sum(c["status"] != "success" for c in calls) == 4  # 03-failures
    # Per turn: one per prompt, and the API's responses summed between prompts.
    rows = api.get(f"/api/v1/sessions/{FAILURES}/turns/?page_size=500").json()["results"]
    responses = [r for r in rows if r["kind"] == "assistant_response"]
    assert [t["index"] for t in found["turns"]] == list(range(1, detail["prompts"] + 1))
    assert sum(t["responses"] for t in found["turns"]) == len(responses)
    assert sum(t["output_tokens"] for t in found["turns"]) == sum(r["output_tokens"] for r in responses)
    assert sum(t["tokens"] for t in found["turns"]) == detail["tokens"]
    assert found["tool_errors_total"] >= 1


@pytest.mark.django_db
def test_figures_are_plain_json(corpus) -> None:
    # /ws/metrics sends them with json.dumps: no Decimal, no datetime.
    for found in (
        sessions.figures(filters_parse(ALL)),
        session_page.figures(filters_parse({}), session_id=SUBAGENT),
        session_page.figures(filters_parse({}), session_id=FAILURES),
    ):
        assert json.loads(json.dumps(found)) == found


@pytest.mark.django_db
def test_earlier_timeline_items_walk_back_to_the_apis_whole_timeline(corpus, monkeypatch) -> None:
    monkeypatch.setattr(session_page, "TIMELINE_MAX", 4)
    found = session_page.figures(filters_parse({}), session_id=FAILURES)
    items, before = found["timeline"], found["timeline_before"]
    assert len(items) == 4 and before
    client = Client()
    while before:
        answer = client.get(f"/sessions/{FAILURES}/timeline/", {"before": before})
        assert answer.status_code == 200
        page = answer.json()
        items, before = page["items"] + items, page["before"]
    api = APIClient().get(f"/api/v1/sessions/{FAILURES}/timeline/?page_size=500").json()["results"]
    assert [(i["type"], i["id"]) for i in items] == [(i["type"], i["id"]) for i in api]
    # A position is good only for the session it came from, and only as the page made it.
    assert (
        client.get(f"/sessions/{SUBAGENT}/timeline/", {"before": found["timeline_before"]}).status_code == 400
    )
    assert client.get(f"/sessions/{FAILURES}/timeline/", {"before": "x" * 100_000}).status_code == 400
    assert client.get(f"/sessions/{FAILURES}/timeline/").status_code == 400
    assert client.get("/sessions/no-such-session/timeline/", {"before": "x"}).status_code == 404


@pytest.mark.django_db
def test_session_by_unique_prefix_and_unknown(corpus) -> None:
    filters = filters_parse({})
    assert session_page.figures(filters, session_id=SUBAGENT[:8])["session_id"] == SUBAGENT
    assert session_page.figures(filters, session_id="no-such-session") is None
    assert session_page.figures(filters, session_id="x" * 100_000) is None
    assert session_page.figures(filters, session_id="8c\x00") is None
    assert session_page.figures(filters, session_id="") is None  # every id starts with it: not one session


@pytest.mark.django_db
def test_session_figures_take_few_queries(corpus, django_assert_max_num_queries) -> None:
    # lookup, 3 timeline tables, the analysis, its provenance (2 without OTel): none per row
    with django_assert_max_num_queries(18):
        found = session_page.figures(filters_parse({}), session_id=SUBAGENT)
    assert found["subagents"] and any(i["type"] == "turn" for i in found["timeline"])


@pytest.mark.django_db
def test_raw_event_view_reads_the_stored_envelope(corpus) -> None:
    found = session_page.figures(filters_parse({}), session_id=FAILURES)
    at = found["timeline"][0]["at"]
    around = session_event.event_figures(session_id=FAILURES, at=at)
    assert around["events"] and any(e["exact"] for e in around["events"])
    event = around["events"][0]
    assert event["body"]["text"].lstrip().startswith("{") and FAILURES in event["body"]["text"]
    one = session_event.event_figures(session_id=FAILURES, seq=event["seq"])
    assert one["events"][0]["body"] == event["body"]
    other = session_event.event_figures(session_id=SUBAGENT, seq=event["seq"])
    assert other is None  # another session's event is not shown under this one
    with pytest.raises(session_event.EventError):
        session_event.event_figures(session_id=FAILURES, at="9999-99-99")


@pytest.mark.django_db
def test_a_stored_megabyte_event_is_shown_cut_with_a_note(redis) -> None:
    # Stored by the real fast path; its session not derived yet (the view finds it by its raw events).
    from tests.factories import envelope
    from tests.telemetry.test_consumer import drain, make_consumer, publish

    big = envelope(session_id="big-one", payload={"tool_name": "Read", "blob": "x" * 1_000_000})
    publish(redis, [big])
    assert drain(make_consumer(redis)) == 1
    found = session_event.event_figures(session_id="big-one", at=big["timestamp"])
    (event,) = found["events"]
    assert event["exact"] and event["body"]["truncated"] and event["body"]["bytes"] > 1_000_000
    assert len(event["body"]["text"].encode()) <= session_event.BODY_MAX_BYTES
    answer = Client().get(f"/sessions/big-one/events/{event['seq']}/")
    assert answer.status_code == 200 and b"only its first" in answer.content
    assert len(answer.content) < 2 * session_event.BODY_MAX_BYTES


def test_a_megabyte_body_is_cut_with_a_note() -> None:
    raw = b'{"payload": "' + b"x" * 3_000_000 + b'"}'
    body = session_event._body(raw)
    assert body["truncated"] and body["bytes"] == len(raw)
    assert len(body["text"].encode()) <= session_event.BODY_MAX_BYTES


# --- pages over HTTP, in-process -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"since": "9999-12-31", "until": "1-01-01"},
        {"since": "99999-01-01"},
        {"status": "sleeping"},
        {"ordering": "-" + "9" * 40},
        {"cursor": "9" * 30},
        {"cursor": "x" * 3000},
        {"project": "p" * 1_000_000},
        {"platform": "x" * 1_000_000},
        {"tz": "Mars/Olympus"},
    ],
)
def test_bad_filters_are_a_400_page(corpus, query) -> None:
    answer = Client().get("/sessions/", query)
    assert answer.status_code == 400, answer.content[:300]
    assert b"bad filter" in answer.content


@pytest.mark.django_db
def test_edge_values_that_are_valid_give_a_page(corpus) -> None:
    client = Client()
    for query in ({"since": "0001-01-01", "until": "9999-12-31"}, {"branch": "b" * 200, "period": "all"}):
        assert client.get("/sessions/", query).status_code == 200
    assert client.get("/sessions/9999999999999999999999/events/99999999999999999999999/").status_code == 404
    assert client.get(f"/sessions/{FAILURES}/events/", {"at": "9" * 1_000_000}).status_code == 400
    assert client.get(f"/sessions/{FAILURES}/events/", {"at": "9999-12-31T23:59:59+00:00"}).status_code == 200
    assert client.get(f"/sessions/{FAILURES}/events/99999999999999999999999/").status_code == 404


@pytest.mark.django_db
def test_unknown_session_is_a_404_page(corpus) -> None:
    answer = Client().get("/sessions/no-such-session/")
    assert answer.status_code == 404 and b"No such session" in answer.content
    assert Client().get(f"/sessions/{API_ERROR}/").status_code == 200


# --- in Chromium, against a whole install ----------------------------------------------------------------


def _shown_sessions(page) -> list[str]:
    return page.eval_on_selector_all(
        "table.sessions tbody tr td:first-child a", "els => els.map(e => e.title)"
    )


def _link_params(href: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(href).query).items()}


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_sessions_page_in_chromium_lists_what_the_api_lists(system, browser) -> None:
    page = page_open(browser, viewport=LAPTOP)
    api = page.request.get(f"{system.url}/api/v1/sessions/?page_size=50").json()["results"]
    answer = page.goto(f"{system.url}/sessions/?period=all")
    assert answer.status == 200
    page.wait_for_selector("table.sessions tbody tr")
    links = page.eval_on_selector_all(
        "table.sessions tbody tr td:first-child a", "els => els.map(e => e.title)"
    )
    assert links == [s["session_id"] for s in api]
    screenshot(page, "sessions-laptop")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "sessions-desktop")
    page.set_viewport_size(NARROW)
    page.wait_for_function(
        f"document.documentElement.scrollWidth <= {NARROW['width']}"
    )  # the table scrolls alone
    screenshot(page, "sessions-narrow")
    page.set_viewport_size(LAPTOP)
    # A filter from the form goes into the URL, and the list follows it.
    # A column head sorts, through the URL, as the API's ordering does.
    page.click("table.sessions th a:text('Cost')")
    page.wait_for_url("**ordering=-cost_usd**")
    page.wait_for_selector("table.sessions tbody tr")
    by_cost = page.request.get(f"{system.url}/api/v1/sessions/?page_size=50&ordering=-cost_usd").json()
    assert _shown_sessions(page) == [s["session_id"] for s in by_cost["results"]]
    status = api[-1]["status"]
    page.select_option("select[name=status]", status)
    page.wait_for_url(f"**status={status}**")
    page.wait_for_selector("table.sessions tbody tr")
    statuses = page.eval_on_selector_all(
        "table.sessions td:nth-child(6)", "els => els.map(e => e.textContent)"
    )
    assert statuses and set(statuses) == {status.replace("_", " ")}
    assert page.console_seen.errors == []


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_session_page_in_chromium_shows_its_timeline_turns_and_raw_events(system, browser) -> None:
    page = page_open(browser, viewport=LAPTOP)
    timeline = page.request.get(f"{system.url}/api/v1/sessions/{FAILURES}/timeline/?page_size=500").json()
    answer = page.goto(f"{system.url}/sessions/{FAILURES[:8]}/?period=all")
    assert answer.status == 200
    page.wait_for_selector("#timeline li.tl")
    rows = page.eval_on_selector_all(
        "#timeline li.tl", "els => els.map(e => [e.dataset.type, Number(e.dataset.id)])"
    )
    assert rows == [[i["type"], i["id"]] for i in timeline["results"]]
    assert page.locator("#turns-table tbody tr").count() >= 1
    assert "not stored (privacy)" in page.inner_text("#timeline")
    screenshot(page, "session-laptop")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "session-desktop")
    page.set_viewport_size(NARROW)
    # Usable narrow: nothing but the wide tables' own boxes scrolls sideways (once the charts have resized).
    page.wait_for_function(f"document.documentElement.scrollWidth <= {NARROW['width']}")
    screenshot(page, "session-narrow")
    page.set_viewport_size(LAPTOP)
    # A timeline row's "raw" link opens the stored envelope of the events at its time.
    href = page.get_attribute("#timeline li.tl-tool a.raw", "href")
    assert _link_params(href)["at"]
    page.click("#timeline li.tl-tool a.raw")
    page.wait_for_selector("pre.envelope")
    assert FAILURES in page.inner_text("pre.envelope")
    screenshot(page, "session-raw-event")
    assert page.console_seen.errors == []
    missing = page.goto(f"{system.url}/sessions/no-such-session/")
    assert missing.status == 404
    bad = page.goto(f"{system.url}/sessions/?since=9999-12-31&until=0001-01-01")
    assert bad.status == 400


def _hook_event(session_id: str, event_type: str, payload: dict) -> dict:
    return {
        "event_id": f"dashboard-live:{uuid.uuid4()}", "platform": "claude_code", "source": "hook",
        "event_type": event_type, "hook_type": event_type, "session_id": session_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "payload": {"hook_event_name": event_type, "session_id": session_id, **payload},
    }  # fmt: skip


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_session_page_shows_a_new_event_without_a_reload(system, browser) -> None:
    session_id = f"dashboard-live-{uuid.uuid4()}"
    page = page_open(browser, viewport=LAPTOP)
    prompt = _hook_event(
        session_id, "UserPromptSubmit", {"prompt": {"chars": 5, "lines": 1, "hash": "0" * 16}}
    )
    assert page.request.post(f"{system.url}/api/v1/events", data=[prompt]).status == 202
    system.wait_for(
        lambda: page.request.get(f"{system.url}/api/v1/sessions/{session_id}/").status == 200,
        what="the new session derived",
    )
    page.goto(f"{system.url}/sessions/{session_id}/")
    page.wait_for_selector("#live-state[data-state=live]")
    page.evaluate("window.stillTheSamePage = true")
    call = _hook_event(
        session_id, "PreToolUse", {"tool_name": "Bash", "tool_use_id": f"toolu_{uuid.uuid4().hex}"}
    )
    assert page.request.post(f"{system.url}/api/v1/events", data=[call]).status == 202
    # The event's row comes over /ws/events at once (marked live), then as a derived tool call.
    page.wait_for_selector("#timeline li.tl-live, #timeline li[data-type=tool_call]", timeout=30_000)
    page.wait_for_selector("#timeline li[data-type=tool_call]", timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True
    assert "Bash" in page.inner_text("#timeline")
    assert page.console_seen.errors == []


def test_an_unknown_status_is_a_filter_error_for_pages_and_live_updates_alike() -> None:
    # filters_parse serves /ws/metrics too: a bad status closes the socket with 4400 there.
    with pytest.raises(FilterError, match="status"):
        filters_parse({"status": "sleeping"})
    assert filters_parse({"status": "timed_out"}).status == "timed_out"

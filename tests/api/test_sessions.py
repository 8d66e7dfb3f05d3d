"""/api/v1/sessions/ and everything under one session, over the repository's Claude Code corpus stored and
derived by the real pipeline (the `corpus` fixture): filters, orderings, pages, the timeline, raw events."""

from decimal import Decimal

import orjson
import pytest
from rest_framework.test import APIClient

from telemetry.models import ClaudeRawTrace, CodeChange, Session, SessionProgress, ToolCall, Turn
from telemetry.store import units
from telemetry.store.keys import session_key

from .resources_support import (
    API_ERROR,
    FAILURES,
    FORK_CHILD,
    FORK_PARENT,
    SUBAGENT,
    error,
    last_page,
    ok,
    walk,
    walk_back,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def ids(rows: list[dict]) -> list[str]:
    return [r["session_id"] for r in rows]


# --- the list ----------------------------------------------------------------------------------------


def test_lists_every_session_newest_activity_first_with_the_clis_numbers(corpus, client):
    rows = ok(client, "sessions/")["results"]
    assert len(rows) == Session.objects.count() == 21
    stamps = [r["last_event_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    # The corpus's usage, as ccusage and `blueplane usage` report it (tests/fixtures/claude-real/README.md).
    assert sum(r["output_tokens"] for r in rows) == 1758
    assert sum(r["cache_write_tokens"] for r in rows) == 692175
    assert round(sum(Decimal(str(r["cost_usd"])) for r in rows), 4) == Decimal("3.2290")
    failures = next(r for r in rows if r["session_id"] == FAILURES)
    assert (failures["tool_calls"], failures["tool_failures"], failures["project"]) == (5, 4, "03-failures")
    assert failures["tokens"] == sum(failures[k] for k in ("input_tokens", "output_tokens",
                                                           "cache_write_tokens", "cache_read_tokens"))  # fmt: skip
    assert isinstance(failures["cost_usd"], float)  # money is a JSON number
    assert failures["started_at"].endswith("Z")  # ISO 8601 in UTC


def test_walking_pages_of_three_returns_each_session_once_in_every_ordering(corpus, client):
    for ordering in ("-last_event_at", "last_event_at", "started_at", "-started_at", "cost_usd", "-cost_usd",
                     "tokens", "-tokens"):  # fmt: skip
        whole = ok(client, "sessions/", ordering=ordering, page_size=1000)["results"]
        walked = walk(client, "sessions/", page_size=3, ordering=ordering)
        assert ids(walked) == ids(whole), ordering
        assert len(set(ids(walked))) == 21
        field = ordering.lstrip("-")
        values = [r[field] for r in walked]
        assert values == sorted(values, reverse=ordering.startswith("-")), ordering


def test_previous_links_walk_back_over_the_same_rows(corpus, client):
    forward = walk(client, "sessions/", page_size=4, ordering="-tokens")
    end = last_page(client, "sessions/", page_size=4, ordering="-tokens")
    assert ids(walk_back(client, end)) == ids(forward)


def test_sessions_without_times_sort_after_the_dated_ones_both_ways(corpus, client):
    Session.objects.create(platform="cursor", session_id="undated-1")
    Session.objects.create(platform="cursor", session_id="undated-2")
    for ordering in ("-last_event_at", "last_event_at", "-started_at", "started_at"):
        walked = walk(client, "sessions/", page_size=2, ordering=ordering)
        assert len(walked) == 23 and len(set(ids(walked))) == 23, ordering
        assert set(ids(walked)[-2:]) == {"undated-1", "undated-2"}, ordering
        back = walk_back(client, last_page(client, "sessions/", page_size=2, ordering=ordering))
        assert ids(back) == ids(walked), ordering


def test_filters_narrow_the_list(corpus, client):
    def found(**params: object) -> set[str]:
        return set(ids(ok(client, "sessions/", page_size=1000, **params)["results"]))

    everyone = found()
    assert found(platform="claude_code") == everyone and found(platform="cursor") == set()
    assert found(project="03-failures") == {FAILURES}
    assert found(project=ok(client, f"sessions/{FAILURES}/")["project_key"]) == {FAILURES}
    assert found(project="19-fork-session") == {FORK_CHILD, FORK_PARENT}
    assert found(branch="master") == everyone and found(branch="main") == set()
    assert found(status="active") == everyone and found(status="ended") == set()
    haiku = found(model="claude-haiku-4-5-20251001")
    assert len(haiku) == 5 and all(
        "claude-haiku-4-5-20251001" in Session.objects.get(session_id=s).models_used for s in haiku
    )
    assert found(model="claude-unknown") == set()
    agents = found(tool="Agent")
    assert SUBAGENT in agents and agents == set(
        ToolCall.objects.filter(tool_name="Agent").values_list("session__session_id", flat=True)
    )
    assert found(min_cost="0.4") == {
        s.session_id for s in Session.objects.filter(cost_usd__gte=Decimal("0.4"))
    }
    assert found(min_cost="0") == everyone
    big = {s.session_id for s in Session.objects.all() if
           s.input_tokens + s.output_tokens + s.cache_write_tokens + s.cache_read_tokens >= 100_000}  # fmt: skip
    assert found(min_tokens=100_000) == big and 0 < len(big) < 21
    assert found(search=FAILURES) == {FAILURES}
    assert found(search="fork") == {FORK_CHILD, FORK_PARENT}
    assert found(search="FORK-SESSION") == {FORK_CHILD, FORK_PARENT}
    assert found(search="8c01be02") == set()  # a session id matches whole, not in part
    assert found(project="03-failures", tool="Bash", min_cost="0.1") == {FAILURES}


def test_time_range_is_activity_overlapping_it_in_the_given_zone(corpus, client):
    def count(**params: object) -> int:
        return len(ok(client, "sessions/", page_size=1000, **params)["results"])

    # Every session of the corpus ran on 2026-11-25 between 10:24 and 10:26 UTC.
    assert count(since="2026-11-25", until="2026-11-25") == 21
    assert count(since="2026-11-26") == 0 and count(until="2026-11-24") == 0
    # In Kiritimati (UTC+14) that morning is already the 26th.
    assert count(since="2026-11-25", until="2026-11-25", tz="Pacific/Kiritimati") == 0
    assert count(since="2026-11-26", until="2026-11-26", tz="Pacific/Kiritimati") == 21
    # Date-times: with a zone, or in tz; sessions still active at `since` count.
    assert count(since="2026-11-25T10:25:00Z") == 3
    assert count(since="2026-11-25T11:25:00", tz="Europe/Berlin") == 3
    assert count(since="2026-11-25T10:25:00+00:00", until="2026-11-25T10:25:08.35Z") == 2
    assert count(until="2026-11-25T10:24:35Z") == 1
    # The calendar's ends are ranges like any other.
    for tz in ("UTC", "Pacific/Kiritimati", "America/Adak"):
        assert count(since="0001-01-01", until="9999-12-31", tz=tz) == 21
        assert count(since="9999-12-31", tz=tz) == 0
        assert count(until="0001-01-01", tz=tz) == 0
        assert count(since="0001-01-01T00:00:00", until="9999-12-31T23:59:59.999999", tz=tz) == 21


# --- one session -------------------------------------------------------------------------------------


def test_detail_has_counters_project_models_and_counts(corpus, client):
    session = ok(client, f"sessions/{FAILURES}/")
    assert session["session_id"] == FAILURES and session["platform"] == "claude_code"
    assert session["project"] == "03-failures" and session["git_branch"] == "master"
    assert session["models"] == ["claude-sonnet-4-5-20250929"]
    assert session["conversations"] == 1 and session["data_issues"] == 0
    assert (session["tool_calls"], session["tool_failures"], session["prompts"]) == (5, 4, 1)
    fork = ok(client, f"sessions/{FORK_CHILD}/")
    assert fork["parent_session_id"] == FORK_PARENT


def test_unknown_session_is_a_404_naming_it(corpus, client):
    for path in ("", "timeline/", "events/", "turns/", "tool-calls/", "code-changes/", "conversations/"):
        body = error(client, f"sessions/no-such-session/{path}", 404)
        assert "no-such-session" in body["message"], path
        error(client, f"sessions/{'x' * 1_000_000}/{path}", 404)
        error(client, f"sessions/{FAILURES}/{path}", 404, platform="cursor")
        body = error(client, f"sessions/{FAILURES}/{path}", 400, platform="mars")
        assert "claude_code" in body["message"]


def test_an_id_two_platforms_share_needs_the_platform(corpus, client):
    Session.objects.create(platform="cursor", session_id=FAILURES, prompts=7)
    for path in ("", "timeline/", "events/", "turns/", "tool-calls/", "code-changes/"):
        body = error(client, f"sessions/{FAILURES}/{path}", 400)
        assert (
            "claude_code" in body["message"] and "cursor" in body["message"] and "platform" in body["message"]
        )
    assert ok(client, f"sessions/{FAILURES}/", platform="cursor")["prompts"] == 7
    assert ok(client, f"sessions/{FAILURES}/", platform="claude_code")["prompts"] == 1
    assert len(ok(client, f"sessions/{FAILURES}/tool-calls/", platform="claude_code")["results"]) == 5
    assert ok(client, f"sessions/{FAILURES}/tool-calls/", platform="cursor")["results"] == []


def test_a_sessions_rows_are_its_own_oldest_first(corpus, client):
    session = Session.objects.get(session_id=FAILURES)
    for path, model in (("turns/", Turn), ("tool-calls/", ToolCall), ("code-changes/", CodeChange)):
        rows = walk(client, f"sessions/{FAILURES}/{path}", page_size=2)
        assert sorted(r["id"] for r in rows) == sorted(
            model.objects.filter(session=session).values_list("pk", flat=True)
        )
        assert {r["session_id"] for r in rows} == {FAILURES}
    calls = ok(client, f"sessions/{FAILURES}/tool-calls/")["results"]
    assert [c["status"] for c in calls].count("failure") + [c["status"] for c in calls].count("rejected") == 4
    starts = [c["started_at"] for c in calls]
    assert starts == sorted(starts)
    failed = ok(client, f"sessions/{FAILURES}/tool-calls/", status="failure")["results"]
    assert failed and {c["status"] for c in failed} == {"failure"}
    conversations = ok(client, f"sessions/{FAILURES}/conversations/")["results"]
    assert [c["conversation_id"] for c in conversations] == [FAILURES]


# --- the timeline ------------------------------------------------------------------------------------


def timeline_rows(session_id: str) -> int:
    session = Session.objects.get(session_id=session_id)
    return sum(m.objects.filter(session=session).count() for m in (Turn, ToolCall, CodeChange))


RANK = {"turn": 0, "tool_call": 1, "code_change": 2}


def test_timeline_merges_turns_tool_calls_and_changes_in_time_order(corpus, client):
    for session_id in (FAILURES, SUBAGENT, FORK_CHILD, API_ERROR):
        whole = ok(client, f"sessions/{session_id}/timeline/", page_size=1000)["results"]
        assert len(whole) == timeline_rows(session_id)
        keys = [(item["at"], RANK[item["type"]], item["id"]) for item in whole]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)
        # Pages of three, forward and back, cut the same sequence at every boundary.
        walked = walk(client, f"sessions/{session_id}/timeline/", page_size=3)
        assert walked == whole
        back = walk_back(client, last_page(client, f"sessions/{session_id}/timeline/", page_size=3))
        assert back == whole
        newest = walk(client, f"sessions/{session_id}/timeline/", page_size=2, ordering="-timestamp")
        assert newest == whole[::-1]
    items = ok(client, f"sessions/{FAILURES}/timeline/")["results"]
    assert {item["type"] for item in items} == {"turn", "tool_call", "code_change"}
    call = next(item for item in items if item["type"] == "tool_call")
    assert call["at"] == call["started_at"] and "tool_name" in call and "kind" not in call
    turn = next(item for item in items if item["type"] == "turn")
    assert turn["at"] == turn["timestamp"] and turn["kind"] == "user_prompt"


def test_timeline_breaks_ties_by_table_then_id(corpus, client):
    session = Session.objects.get(session_id=FAILURES)
    moment = Turn.objects.filter(session=session).order_by("timestamp").first().timestamp
    ToolCall.objects.filter(session=session).update(started_at=moment)
    CodeChange.objects.filter(session=session).update(timestamp=moment)
    whole = ok(client, f"sessions/{FAILURES}/timeline/", page_size=1000)["results"]
    keys = [(item["at"], RANK[item["type"]], item["id"]) for item in whole]
    assert keys == sorted(keys)
    for size in (1, 2, 3, 4):
        assert walk(client, f"sessions/{FAILURES}/timeline/", page_size=size) == whole, size
        assert (
            walk(client, f"sessions/{FAILURES}/timeline/", page_size=size, ordering="-timestamp")
            == whole[::-1]
        )


# --- raw events --------------------------------------------------------------------------------------


def stored(session_id: str) -> list[dict]:
    return [
        orjson.loads(raw) for _, raw in units.session_events(platform="claude_code", session_id=session_id)
    ]


def test_events_are_the_stored_envelopes_in_stored_order(corpus, client):
    for session_id in (FAILURES, SUBAGENT):
        rows = walk(client, f"sessions/{session_id}/events/", page_size=3)
        assert [r["event"] for r in rows] == stored(session_id)
        seqs = [r["seq"] for r in rows]
        assert seqs == sorted(seqs)
        assert len(rows) == ClaudeRawTrace.objects.filter(session_key=session_key(session_id)).count()
        assert {r["event"]["session_id"] for r in rows} == {session_id}
        assert len({r["event"]["event_id"] for r in rows}) == len(rows)
        assert {r["event"]["source"] for r in rows} == {"transcript"}
        back = walk_back(client, last_page(client, f"sessions/{session_id}/events/", page_size=4))
        assert back == rows


def test_events_of_a_session_not_yet_derived_are_there(corpus, client):
    Session.objects.filter(session_id=FAILURES).delete()  # as if the slow path had not reached it
    assert SessionProgress.objects.filter(session_id=FAILURES).exists()
    rows = ok(client, f"sessions/{FAILURES}/events/", page_size=1000)["results"]
    assert [r["event"] for r in rows] == stored(FAILURES)
    error(client, f"sessions/{FAILURES}/", 404)

"""/api/v1/sessions/{id}/summary/ and .../similar/ over the corpus: what they answer, and their errors."""

import pytest
from rest_framework.test import APIClient

from telemetry.models import CodeChange, Session, ToolCall

from .resources_support import error, ok

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def busiest() -> Session:
    return max(Session.objects.all(), key=lambda s: s.tool_calls)


def test_summary_breaks_the_session_down(corpus, client) -> None:
    session = busiest()

    found = ok(client, f"sessions/{session.session_id}/summary/")

    assert found["session"] == ok(client, f"sessions/{session.session_id}/")
    assert sum(t["calls"] for t in found["tools"]) == ToolCall.objects.filter(session=session).count()
    changes = CodeChange.objects.filter(session=session).count()
    assert sum(e["changes"] for e in found["extensions"]) == changes
    assert sum(found["turns"].values()) == session.turns.count() > 0


def test_similar_lists_other_sessions_best_first(corpus, client) -> None:
    session = busiest()

    found = ok(client, f"sessions/{session.session_id}/similar/", limit=3)

    assert found["session_id"] == session.session_id and 0 < len(found["results"]) <= 3
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert session.session_id not in [r["session"]["session_id"] for r in found["results"]]
    listed = ok(client, "sessions/", page_size=100)["results"]
    rows = {r["session_id"]: r for r in listed}
    assert all(r["session"] == rows[r["session"]["session_id"]] for r in found["results"])


@pytest.mark.parametrize("tail", ["summary/", "similar/"])
def test_an_unknown_session_is_404(corpus, client, tail: str) -> None:
    assert "no session" in error(client, f"sessions/nope/{tail}", 404)["message"]


@pytest.mark.parametrize("limit", [0, 51, -1, "x", 2**64])
def test_similar_limit_out_of_range_is_400(corpus, client, limit) -> None:
    assert "limit" in error(client, f"sessions/{busiest().session_id}/similar/", limit=limit)["message"]

"""GET /api/v1/blocks/ over the real Claude Code corpus: ccusage's `blocks --json`, the same blocks the
CLI prints (tests/test_cli_blocks.py holds the CLI to the same ccusage output), and a JSON 400 for
every bad parameter."""

import json
from pathlib import Path

import pytest

from tests.support.ccusage import assert_ccusage_equal

pytestmark = pytest.mark.django_db

CCUSAGE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-real" / "ccusage" / "blocks.json"


def test_blocks_equal_ccusage(corpus, client):
    response = client.get("/api/v1/blocks/")
    assert response.status_code == 200, response.content[:500]
    ours, theirs = response.json()["blocks"], json.loads(CCUSAGE.read_text())["blocks"]
    assert len(theirs) == 1
    assert_ccusage_equal(ours, theirs)


def test_filters(corpus, client):
    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/blocks/", params)
        assert response.status_code == 200, response.content[:500]
        return [b["id"] for b in response.json()["blocks"]]

    assert ids(since="2026-11-25", until="2026-11-25", tz="Asia/Tokyo") == ["2026-11-25T10:00:00.000Z"]
    assert ids(since="2026-11-26") == [] and ids(active="true") == [] and ids(recent="true") == []
    assert ids(project="02-parallel-opus", order="desc", token_limit="max") == ["2026-11-25T10:00:00.000Z"]


@pytest.mark.parametrize(
    "params",
    [{"tz": "Mars/Olympus_Mons"}, {"since": "2026-13-01"}, {"since": "2026-11-30", "until": "2026-11-01"},
     {"order": "up"}, {"token_limit": "lots"}, {"token_limit": "1" * 30}, {"session_length": "0"},
     {"active": "x" * 100_000}],
    ids=["zone", "month-13", "reversed", "order", "limit-word", "limit-past-64-bits", "length", "megabyte"],
)  # fmt: skip
def test_bad_parameters_are_a_json_400(client, params):
    response = client.get("/api/v1/blocks/", params)
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert len(response.content) < 2000

"""Token and cost accounting against the real Claude Code corpus and what ccusage 20.0.24 reports for it."""

import json
import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from telemetry.processing.pricing import PriceTable, price_table_load
from telemetry.processing.usage import (
    MessageUsage,
    usage_from_record,
    usage_line_wins,
    usage_messages,
    usage_totals,
    usage_upsert,
)

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "claude-real"
PROJECTS = CORPUS / "projects"

FORK_ORIGINAL = "2910f535-51be-4d56-b921-f3cc433ece4e"
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"
SUBAGENT_PARENT = "0112e194-50b9-44cf-811d-a68cd8ea7af6"
API_ERROR_SESSION = "a4acdedd-5732-44dd-a851-567450fd79e4"

# The README's table: model -> (input, output, cache write, cache read, cost rounded as ccusage shows it).
README_TOTALS = {
    "claude-sonnet-4-5-20250929": (301, 1254, 446193, 569663, "1.8843"),
    "claude-opus-4-5-20251101": (61, 367, 111371, 132455, "0.7843"),
    "claude-opus-4-1-20250805": (4, 28, 21942, 0, "0.4136"),
    "claude-haiku-4-5-20251001": (48, 109, 112669, 47201, "0.1468"),
}
README_GRAND_TOTAL = (414, 1758, 692175, 749319, "3.2290")


def _files() -> list[Path]:
    return sorted(PROJECTS.rglob("*.jsonl"))


def _records(files: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in files for line in path.read_text().splitlines() if line.strip()]


def _ccusage(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / "ccusage" / name).read_text())


def _tokens(totals: Any) -> tuple[int, int, int, int]:
    return (totals.input_tokens, totals.output_tokens, totals.cache_write_tokens, totals.cache_read_tokens)


def _ccusage_tokens(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return (row["inputTokens"], row["outputTokens"], row["cacheCreationTokens"], row["cacheReadTokens"])


def _rounded(cost: Decimal) -> str:
    return str(cost.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return price_table_load()


@pytest.fixture(scope="module")
def messages() -> list[MessageUsage]:
    return usage_messages(records=_records(_files()))


def test_corpus_has_more_usage_lines_than_api_messages(messages: list[MessageUsage]) -> None:
    # Guards the tests below: summing every line would over-count, so matching ccusage needs the dedup.
    lines = [line for r in _records(_files()) if (line := usage_from_record(record=r)) is not None]
    assert len(lines) == 78
    assert len(messages) == 66 == _ccusage("compare.json")["unique_messages"]
    assert sum(line.output_tokens for line in lines) > sum(m.output_tokens for m in messages)


def test_per_model_totals_equal_the_readme_table(messages: list[MessageUsage], table: PriceTable) -> None:
    by_model = usage_totals(messages=messages, table=table, by="model")
    assert set(by_model) == set(README_TOTALS)
    for model, (*tokens, cost) in README_TOTALS.items():
        assert _tokens(by_model[model]) == tuple(tokens), model
        assert _rounded(by_model[model].cost_usd) == cost, model
        assert by_model[model].price_table_version == table.version


def test_grand_total_equals_the_readme_table(messages: list[MessageUsage], table: PriceTable) -> None:
    (everything,) = usage_totals(messages=messages, table=table, by=()).values()
    *tokens, cost = README_GRAND_TOTAL
    assert _tokens(everything) == tuple(tokens)
    assert _rounded(everything.cost_usd) == cost
    assert abs(everything.cost_usd - Decimal(repr(_ccusage("daily.json")["totals"]["totalCost"]))) < Decimal(
        "1e-9"
    )


def test_unrounded_per_model_costs_equal_ccusage(messages: list[MessageUsage], table: PriceTable) -> None:
    by_model = usage_totals(messages=messages, table=table, by="model")
    (day,) = _ccusage("daily.json")["daily"]
    for row in day["modelBreakdowns"]:
        assert abs(by_model[row["modelName"]].cost_usd - Decimal(repr(row["cost"]))) < Decimal("1e-9")
    # compare.json states ccusage's costs to 6 decimals.
    for row in _ccusage("compare.json")["by_model"]:
        assert round(by_model[row["model"]].cost_usd, 6) == Decimal(repr(row["ccusage_cost_usd"]))


def test_one_hour_cache_writes_are_priced_at_the_one_hour_rate(
    messages: list[MessageUsage], table: PriceTable
) -> None:
    # The corpus has 1h writes; pricing them at the 5m rate would miss ccusage's cost.
    assert sum(m.cache_write_1h_tokens for m in messages) == 13274
    sonnet = usage_totals(messages=messages, table=table, by="model")["claude-sonnet-4-5-20250929"]
    price = table.models["claude-sonnet-4-5-20250929"]
    at_5m_rate = sonnet.cost_usd - sonnet.cache_write_1h_tokens * (
        price.cache_write_1h - price.cache_write_5m
    )
    assert _rounded(sonnet.cost_usd) == "1.8843"
    assert _rounded(at_5m_rate) != "1.8843"


def test_sessions_equal_ccusage_except_the_fork_pair(messages: list[MessageUsage], table: PriceTable) -> None:
    by_session = usage_totals(messages=messages, table=table, by="session")
    expected = {row["period"]: row for row in _ccusage("session.json")["session"]}
    # ccusage leaves out the API-error session (no usage) and the fork's original (see the fork test).
    assert set(by_session) == set(expected) | {FORK_ORIGINAL}
    assert API_ERROR_SESSION not in by_session
    for session_id, row in expected.items():
        if session_id == FORK:
            continue
        assert _tokens(by_session[session_id]) == _ccusage_tokens(row), session_id
        assert abs(by_session[session_id].cost_usd - Decimal(repr(row["totalCost"]))) < Decimal("1e-9"), (
            session_id
        )


def test_fork_copies_count_once_for_the_session_that_made_them(table: PriceTable) -> None:
    # ccusage keeps whichever copy it reads first (the fork's file sorts first), so it puts all five
    # messages under the fork. We count the two copied ones for the original, whatever the file order.
    fork_files = sorted((PROJECTS / "-home-dev-corpus-work-19-fork-session").glob("*.jsonl"))
    ccusage_fork = next(r for r in _ccusage("session.json")["session"] if r["period"] == FORK)
    for files in (fork_files, fork_files[::-1]):
        found = usage_messages(records=_records(files))
        by_session = usage_totals(messages=found, table=table, by="session")
        assert {m.message_id for m in found if m.session_id == FORK_ORIGINAL} == {
            "msg_01hnnKGJxeloJaMhNoYAFYD3",
            "msg_01653GFIi2WKMqytrCT49jdP",
        }
        assert len([m for m in found if m.session_id == FORK]) == 3
        assert _tokens(by_session[FORK_ORIGINAL]) == (10, 48, 25259, 18786)
        assert _tokens(by_session[FORK]) == (11, 79, 28887, 38038)
        pair = [_tokens(by_session[FORK_ORIGINAL]), _tokens(by_session[FORK])]
        assert tuple(map(sum, zip(*pair, strict=True))) == _ccusage_tokens(ccusage_fork)
        pair_cost = by_session[FORK_ORIGINAL].cost_usd + by_session[FORK].cost_usd
        assert abs(pair_cost - Decimal(repr(ccusage_fork["totalCost"]))) < Decimal("1e-9")


def test_fork_copy_alone_still_counts_for_the_original() -> None:
    # The tailer may see the fork's file before (or without) the original's.
    fork_file = PROJECTS / "-home-dev-corpus-work-19-fork-session" / f"{FORK}.jsonl"
    found = usage_messages(records=_records([fork_file]))
    assert sorted(m.session_id for m in found).count(FORK_ORIGINAL) == 2


def test_subagent_usage_counts_under_its_parent_session(messages: list[MessageUsage]) -> None:
    (agent_file,) = PROJECTS.rglob("subagents/agent-*.jsonl")
    agent_records = _records([agent_file])
    # Current Claude Code already writes the parent's id into a sub-agent's records.
    assert {r["sessionId"] for r in agent_records} == {SUBAGENT_PARENT}
    from_agent = [m for m in messages if m.agent_id == "a078b5c95563b14cc"]
    assert len(from_agent) == 2
    assert all(m.session_id == SUBAGENT_PARENT and m.is_sidechain for m in from_agent)
    # The parent-session hint wins over a sessionId that names something else (older versions).
    relabelled = [{**r, "sessionId": "agent-own-session"} for r in agent_records]
    hinted = usage_messages(records=relabelled, parent_session_id=SUBAGENT_PARENT)
    assert [m.session_id for m in hinted] == [SUBAGENT_PARENT, SUBAGENT_PARENT]


def test_days_equal_ccusage_daily(messages: list[MessageUsage], table: PriceTable) -> None:
    by_day = usage_totals(messages=messages, table=table, by="day")
    expected = _ccusage("daily.json")["daily"]
    assert {d.isoformat() for d in by_day} == {row["period"] for row in expected}
    for row in expected:
        day = by_day[date.fromisoformat(row["period"])]
        assert _tokens(day) == _ccusage_tokens(row)
        assert abs(day.cost_usd - Decimal(repr(row["totalCost"]))) < Decimal("1e-9")
    by_day_model = usage_totals(messages=messages, table=table, by=("day", "model"))
    for row in expected:
        for model_row in row["modelBreakdowns"]:
            totals = by_day_model[(date.fromisoformat(row["period"]), model_row["modelName"])]
            assert _tokens(totals) == _ccusage_tokens(model_row)


def test_synthetic_messages_are_not_usage() -> None:
    records = _records(sorted((PROJECTS / "-home-dev-corpus-work-07-api-error").glob("*.jsonl")))
    assert any(
        r.get("message", {}).get("model") == "<synthetic>"
        for r in records
        if isinstance(r.get("message"), dict)
    )
    assert usage_messages(records=records) == []


def test_result_does_not_depend_on_file_order(messages: list[MessageUsage], table: PriceTable) -> None:
    files = _files()
    random.Random(7).shuffle(files)
    shuffled = usage_messages(records=_records(files))
    assert {m.key: (m.session_id, m.total_tokens, m.timestamp) for m in shuffled} == {
        m.key: (m.session_id, m.total_tokens, m.timestamp) for m in messages
    }


def test_incremental_upserts_reach_the_full_rebuild(messages: list[MessageUsage]) -> None:
    # The slow path applies each session's new records after its watermark to what it stored before.
    records = _records(_files())
    stored: dict[str, MessageUsage] = {}
    for start in range(0, len(records), 37):
        for record in records[start : start + 37]:
            line = usage_from_record(record=record)
            if line is not None:
                usage_upsert(stored=stored, line=line)
    assert stored == {m.key: m for m in messages}
    # A redelivered batch may swap tied lines on the way but ends where it started.
    for record in records:
        line = usage_from_record(record=record)
        if line is not None:
            usage_upsert(stored=stored, line=line)
    assert stored == {m.key: m for m in messages}
    # Applying the line that already won is a no-op.
    assert not any(usage_upsert(stored=stored, line=m) for m in messages)


# --- the dedup rule on made-up lines ---------------------------------------------------------------


def _line(
    *,
    uuid: str,
    message_id: str | None = "msg_A",
    request_id: str | None = "req_A",
    output_tokens: int = 10,
    stop_reason: str | None = "end_turn",
    timestamp: str = "2026-11-25T10:00:00.000Z",
    session_id: str = "s1",
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": 3,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 40},
        },
    }
    if message_id is not None:
        message["id"] = message_id
    record = {
        "type": "assistant",
        "uuid": uuid,
        "sessionId": session_id,
        "timestamp": timestamp,
        "message": message,
    }
    if request_id is not None:
        record["requestId"] = request_id
    return {**record, **extra}


def test_k_content_blocks_count_as_one_message() -> None:
    lines = [_line(uuid=f"u{i}", timestamp=f"2026-11-25T10:00:0{i}.000Z") for i in range(3)]
    (message,) = usage_messages(records=lines)
    assert (message.input_tokens, message.output_tokens, message.cache_write_tokens) == (3, 10, 100)
    assert (message.cache_write_5m_tokens, message.cache_write_1h_tokens) == (60, 40)
    # Its day is that of the first block, even though a later line won the tie.
    assert message.record_uuid == "u2"
    assert message.timestamp.isoformat() == "2026-11-25T10:00:00+00:00"


def test_streamed_partial_lines_lose_to_the_final_one_in_any_order() -> None:
    partial = _line(uuid="early", output_tokens=1, stop_reason=None)
    final = _line(uuid="final", output_tokens=50)
    for order in ([partial, final], [final, partial]):
        (message,) = usage_messages(records=order)
        assert (message.record_uuid, message.output_tokens) == ("final", 50)


def test_a_line_with_stop_reason_beats_a_larger_one_without() -> None:
    with_stop = usage_from_record(record=_line(uuid="a", output_tokens=5))
    without = usage_from_record(record=_line(uuid="b", output_tokens=500, stop_reason=None))
    assert not usage_line_wins(current=with_stop, candidate=without)
    assert usage_line_wins(current=without, candidate=with_stop)


def test_larger_total_wins_and_ties_go_to_the_later_line() -> None:
    small = usage_from_record(record=_line(uuid="a", output_tokens=5))
    large = usage_from_record(record=_line(uuid="b", output_tokens=6))
    same = usage_from_record(record=_line(uuid="c", output_tokens=5))
    assert usage_line_wins(current=small, candidate=large)
    assert not usage_line_wins(current=large, candidate=small)
    assert usage_line_wins(current=small, candidate=same)


def test_missing_request_id_falls_back_to_message_id() -> None:
    lines = [_line(uuid="a", request_id=None), _line(uuid="b", request_id=None)]
    assert len(usage_messages(records=lines)) == 1
    other = _line(uuid="c", request_id=None, message_id="msg_B")
    assert len(usage_messages(records=[*lines, other])) == 2


def test_same_message_id_under_two_requests_counts_twice() -> None:
    # The key is message id plus request id, as in ccusage.
    lines = [_line(uuid="a", request_id="req_1"), _line(uuid="b", request_id="req_2")]
    assert len(usage_messages(records=lines)) == 2


def test_lines_without_any_id_are_never_merged() -> None:
    lines = [
        _line(uuid="a", message_id=None, request_id=None),
        _line(uuid="b", message_id=None, request_id=None),
    ]
    assert len(usage_messages(records=lines)) == 2


def test_fork_copy_counts_for_the_requesting_session_in_either_order() -> None:
    original = _line(uuid="o", session_id="orig")
    copy = _line(uuid="c", session_id="fork", requestSessionId="orig")
    for order in ([original, copy], [copy, original]):
        (message,) = usage_messages(records=order)
        assert message.session_id == "orig"


def test_non_usage_lines_are_ignored() -> None:
    user = {"type": "user", "uuid": "u", "timestamp": "2026-11-25T10:00:00Z", "message": {"role": "user"}}
    synthetic = _line(uuid="s")
    synthetic["message"]["model"] = "<synthetic>"
    no_timestamp = _line(uuid="t")
    del no_timestamp["timestamp"]
    assert usage_messages(records=[user, synthetic, no_timestamp]) == []


def test_unknown_model_counts_tokens_with_unknown_cost(table: PriceTable) -> None:
    unknown = _line(uuid="x", message_id="msg_X")
    unknown["message"]["model"] = "claude-nonexistent-9"
    known = _line(uuid="k")
    found = usage_messages(records=[unknown, known])
    by_model = usage_totals(messages=found, table=table, by="model")
    assert by_model["claude-nonexistent-9"].output_tokens == 10
    assert by_model["claude-nonexistent-9"].cost_usd is None
    (everything,) = usage_totals(messages=found, table=table, by=()).values()
    assert everything.cost_usd is None
    assert everything.unpriced_messages == 1
    assert everything.priced_cost_usd == by_model["claude-sonnet-4-5-20250929"].cost_usd > 0


def test_cache_write_split_defaults_to_five_minutes_when_absent() -> None:
    line = _line(uuid="a")
    del line["message"]["usage"]["cache_creation"]
    message = usage_from_record(record=line)
    assert (message.cache_write_5m_tokens, message.cache_write_1h_tokens) == (100, 0)

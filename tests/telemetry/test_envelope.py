"""The wire contract: what is accepted and what the index columns get."""

import orjson
import pytest

from telemetry.ingest.envelope import InvalidEvent, event_decode
from telemetry.store.keys import event_key, event_key_bounds
from tests.factories import envelope


def decode(event: dict):
    return event_decode(orjson.dumps(event), max_bytes=1 << 20)


def test_transcript_assistant_record_indexes_model_tokens_and_tool():
    event = decode(
        envelope(
            source="transcript",
            event_type="assistant",
            payload={
                "type": "assistant",
                "message": {
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [
                        {"type": "text", "chars": 10},
                        {"type": "tool_use", "name": "Edit", "id": "t1"},
                    ],
                    "usage": {
                        "input_tokens": 3,
                        "output_tokens": 50,
                        "cache_creation_input_tokens": 1000,
                        "cache_read_input_tokens": 2000,
                    },
                },
            },
            metadata={"lines_added": 4, "lines_removed": 1},
        )
    )
    assert (event.model, event.tool_name) == ("claude-sonnet-4-5-20250929", "Edit")
    assert (event.input_tokens, event.output_tokens, event.cache_write_tokens, event.cache_read_tokens) == (
        3,
        50,
        1000,
        2000,
    )
    assert (event.lines_added, event.lines_removed) == (4, 1)


def test_hook_event_indexes_tool_name_and_duration():
    event = decode(envelope(payload={"tool_name": "Bash", "duration_ms": 12.7}))
    assert (event.tool_name, event.duration_ms, event.model, event.input_tokens) == ("Bash", 12, None, None)


def test_booleans_are_not_counts():
    event = decode(envelope(metadata={"lines_added": True}))
    assert event.lines_added is None


def test_numbers_beyond_the_columns_leave_them_empty():
    # The columns are 32-bit on PostgreSQL: beyond that (or 64 bits, or a float's range) the column is
    # empty and the event stored all the same.
    event = decode(
        envelope(
            payload={"duration_ms": 1e300, "message": {"usage": {"input_tokens": 2**63, "output_tokens": 7}}},
            metadata={"lines_added": 2**64 - 1, "lines_removed": 2**31 - 1},
        )
    )
    assert (event.duration_ms, event.input_tokens, event.output_tokens) == (None, None, 7)
    assert (event.lines_added, event.lines_removed) == (None, 2**31 - 1)
    event = decode(envelope(payload={"duration_ms": 2.0**31, "message": {"usage": {"input_tokens": 2**31}}}))
    assert (event.duration_ms, event.input_tokens) == (None, None)


def test_timestamp_with_offset_is_utc_milliseconds():
    event = decode(envelope(timestamp="2025-10-20T10:00:00.250+02:00"))
    assert event.ts_ms == 1760947200250


def test_event_key_is_time_ordered_and_deterministic():
    assert event_key("a", 2000) > event_key("z", 1000)
    assert event_key("a", 1000) == event_key("a", 1000)
    assert event_key("a", 1000) != event_key("b", 1000)
    lo, hi = event_key_bounds(1000, 2000)
    assert lo <= event_key("x", 1000) < hi <= event_key("x", 2000)


def test_unknown_extra_fields_are_accepted():
    assert decode(envelope(version="9.9", something={"new": True})).event_type == "PreToolUse"


@pytest.mark.parametrize("field", ["event_id", "platform", "source", "event_type", "session_id", "timestamp"])
def test_empty_required_text_is_rejected(field):
    with pytest.raises(InvalidEvent, match=f"field '{field}' must be 1-"):
        decode(envelope(**{field: ""}))


def test_wrong_metadata_type_is_rejected():
    with pytest.raises(InvalidEvent, match="'metadata' must be an object"):
        decode(envelope(metadata="x"))


def test_a_model_or_tool_name_too_long_for_its_column_leaves_it_empty():
    # PostgreSQL would refuse the whole event at insert; the event is stored, its label column empty.
    event = decode(envelope(payload={"tool_name": "T" * 129, "model": "m" * 128}))
    assert (event.tool_name, event.model) == (None, "m" * 128)


def test_user_and_machine_ids_are_accepted():
    decode(envelope(user_id="alice", machine_id="alice-laptop.home_1"))
    decode(
        envelope(user_id="Zoë 🚀", machine_id="m")
    )  # a user id is any text; a person's name may be unicode
    decode(envelope(user_id="u" * 150, machine_id="m" * 64))
    decode(envelope(user_id=None, machine_id=None))  # null is absent: this install's own capture


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"user_id": ""}, "'user_id' must be 1-150 characters, got 0"),
        ({"user_id": "u" * 151}, "'user_id' must be 1-150 characters, got 151"),
        ({"user_id": 7}, "'user_id' must be a string or null, got int"),
        ({"user_id": ["alice"]}, "'user_id' must be a string or null, got list"),
        ({"machine_id": ""}, "'machine_id' must be 1-64 of"),
        ({"machine_id": "m" * 65}, "'machine_id' must be 1-64 of"),
        ({"machine_id": "my laptop"}, "'machine_id' must be 1-64 of"),
        ({"machine_id": "laptop\n"}, "'machine_id' must be 1-64 of"),
        ({"machine_id": "ordinateur-élodie"}, "'machine_id' must be 1-64 of"),
        ({"machine_id": "١٢٣"}, "'machine_id' must be 1-64 of"),  # Unicode digits are not [0-9]
        ({"machine_id": True}, "'machine_id' must be a string or null, got bool"),
    ],
)
def test_bad_user_or_machine_id_is_rejected_with_the_reason(fields, reason):
    with pytest.raises(InvalidEvent) as caught:
        decode(envelope(**fields))
    assert reason in str(caught.value)

"""The error hash of failed tool calls: equal errors group without their text being kept, and the merge of
a hook's and a transcript's reading does not depend on which came first."""

from datetime import UTC, datetime

import pytest

from telemetry.processing.claude import error_digest
from telemetry.processing.facts import ERROR_TEXT_MAX, ToolFact, tool_merge

T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_filtered_error_keeps_captures_hash_and_no_text():
    assert error_digest({"chars": 11, "lines": 1, "hash": "0123456789abcdef"}) == ("0123456789abcdef", "")
    assert error_digest({"bytes": 40, "items": 2, "hash": "fedcba9876543210"}) == ("fedcba9876543210", "")


def test_kept_error_is_hashed_and_cut():
    digest, text = error_digest("Exit code 2\n" + "x" * 10_000)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert text.startswith("Exit code 2") and len(text) == ERROR_TEXT_MAX
    assert error_digest([{"type": "text", "text": "Exit code 2\n" + "x" * 10_000}])[0] == digest


@pytest.mark.parametrize(
    "value", [None, "", 3, [], {"hash": "not a capture hash"}, {"hash": "0123456789ABCDEF"}, {"hash": 7}]
)
def test_no_usable_error_gives_no_hash(value):
    assert error_digest(value) == ("", "")


def test_merge_of_two_readings_does_not_depend_on_order():
    hook = ToolFact("s", "t1", "Bash", finished_at=T, status="failure", error_hash="aaaa", error_text="x")
    transcript = ToolFact("s", "t1", finished_at=T, status="failure", error_hash="bbbb")
    one, two = tool_merge(hook, transcript), tool_merge(transcript, hook)
    assert one == two
    assert (one.error_hash, one.error_text) == ("bbbb", "")  # hash and text stay a pair

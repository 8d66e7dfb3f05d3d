from collections import Counter

import orjson
import pytest

from telemetry.capture import commands
from telemetry.models import ClaudeRawTrace
from telemetry.store import units
from telemetry.wire import DLQ_STREAM

from .helpers import PROJECTS, corpus_lines, drain

pytestmark = pytest.mark.django_db

ORIGINAL = "2910f535-51be-4d56-b921-f3cc433ece4e"
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"  # --fork-session: copies the original's records


def test_importing_the_corpus_twice_stores_each_record_once(redis, capsys):
    assert commands.import_history("claude-code", str(PROJECTS)) == 0
    assert "imported 907 transcript lines from 22 files" in capsys.readouterr().out
    drain(redis)
    assert ClaudeRawTrace.objects.count() == corpus_lines() == 907
    assert redis.xlen(DLQ_STREAM) == 0

    assert commands.import_history("claude-code", str(PROJECTS)) == 0
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 907


def test_a_forked_session_keeps_both_copies_of_shared_records(redis):
    commands.import_history("claude-code", str(PROJECTS / "-home-dev-corpus-work-19-fork-session"))
    drain(redis)
    uuids: dict[str, set] = {ORIGINAL: set(), FORK: set()}
    for session in uuids:
        for _, raw in units.session_events(platform="claude_code", session_id=session):
            payload = orjson.loads(raw)["payload"]
            if payload.get("uuid"):
                uuids[session].add(payload["uuid"])
    shared = uuids[ORIGINAL] & uuids[FORK]
    assert shared  # the fork copied earlier records with the same uuid ...
    assert len(uuids[FORK]) > len(shared)  # ... and added its own


def test_imported_usage_matches_the_corpus_reference(redis):
    # The reference totals (tests/fixtures/claude-real/README.md) need message.id, requestId and
    # usage to survive privacy filtering.
    commands.import_history("claude-code", str(PROJECTS))
    drain(redis)
    totals: Counter = Counter()
    seen = set()
    for seq in ClaudeRawTrace.objects.values_list("seq", flat=True):
        event = units.event_load(platform="claude_code", seq=seq)
        message = event["payload"].get("message") or {}
        usage = message.get("usage")
        if event["event_type"] != "assistant" or not usage or message.get("model") == "<synthetic>":
            continue
        key = (message["id"], event["payload"].get("requestId"))
        if key in seen:
            continue
        seen.add(key)
        totals["input"] += usage["input_tokens"]
        totals["output"] += usage["output_tokens"]
    assert totals == {"input": 414, "output": 1758}


def test_unknown_target_or_missing_path_is_one_line_and_exit_2(redis, capsys, tmp_path):
    assert commands.import_history("cursor-x", None) == 2
    assert commands.import_history("claude-code", str(tmp_path / "nope")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert all(line.startswith("blueplane: ") for line in err)

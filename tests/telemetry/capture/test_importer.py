import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from django.db import connection

from blueplane.cli import main
from telemetry.capture import commands
from telemetry.capture.importer import fastpath_reading
from telemetry.models import ClaudeRawTrace, Session
from telemetry.store import units
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM

from .helpers import PROJECTS, corpus_lines, drain

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]

ORIGINAL = "2910f535-51be-4d56-b921-f3cc433ece4e"
FORK = "1866ec00-1844-42fe-b156-a87aa606088c"  # --fork-session: copies the original's records


def blueplane_import(*args: str) -> int:
    """`blueplane import ...` as the console script runs it, in this process (the test's database)."""
    return main(["import", *args])


def test_importing_the_corpus_twice_stores_each_record_once_and_says_so(redis, capsys):
    assert blueplane_import("claude-code", str(PROJECTS)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("read 22 files (")
    assert out[0].endswith("): 907 events; 907 new, 0 already stored")
    # No fast path runs here: the events wait in the stream.
    assert out[1] == "907 events queued; they are stored when Blueplane runs (`blueplane up`)"
    assert redis.xlen(EVENTS_STREAM) == 907
    drain(redis)
    assert ClaudeRawTrace.objects.count() == corpus_lines() == 907
    assert redis.xlen(DLQ_STREAM) == 0

    sent_before = redis.xinfo_stream(EVENTS_STREAM)["last-generated-id"]
    assert blueplane_import("claude-code", str(PROJECTS)) == 0
    assert capsys.readouterr().out.splitlines()[1:] == []
    assert redis.xinfo_stream(EVENTS_STREAM)["last-generated-id"] == sent_before  # nothing sent again
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 907


def test_a_second_import_after_new_lines_sends_only_them(redis, capsys, tmp_path):
    project = tmp_path / "projects" / "-work-app"
    shutil.copytree(PROJECTS / "-home-dev-corpus-work-19-fork-session", project)
    assert blueplane_import("claude-code", str(tmp_path / "projects")) == 0
    drain(redis)
    stored = ClaudeRawTrace.objects.count()
    transcript = next(project.glob("*.jsonl"))
    with transcript.open("ab") as f:
        f.write(b'{"type":"user","uuid":"new-1","timestamp":"2026-11-01T00:00:00.000Z"}\n')
    capsys.readouterr()
    assert blueplane_import("claude-code", str(tmp_path / "projects")) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(f"; 1 new, {stored} already stored")
    drain(redis)
    assert ClaudeRawTrace.objects.count() == stored + 1


def test_a_file_of_garbage_is_not_imported_and_creates_no_session(redis, capsys, tmp_path):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b'\x00\x01binary\nnot json at all\n[1, 2, 3]\n42\n\n{"cut": ')
    assert blueplane_import("claude-code", str(garbage)) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{garbage}:1: not JSON: unexpected character, expected a JSON value at column 1",
        f"{garbage}:2: not JSON: invalid literal, expected 'null' at column 1",
        f"{garbage}:3: not a JSON object but an array",
        f"{garbage}:4: not a JSON object but a number",
        f"{garbage}:6: incomplete last line (no newline; not JSON: unexpected end of data at column 9)",
        f"{garbage}: nothing readable, not imported",
    ]
    assert out.splitlines() == [
        f"read 1 file ({garbage.stat().st_size} bytes): 0 events, 5 lines that could not be read; 0 new, 0 already stored"
    ]
    assert redis.xlen(EVENTS_STREAM) == 0
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 0
    assert Session.objects.count() == 0


def test_unreadable_lines_are_counted_the_first_few_named_and_the_rest_imported(redis, capsys, tmp_path):
    folder = tmp_path / "projects" / "-work-app"
    folder.mkdir(parents=True)
    good = b'{"type":"user","uuid":"u-%d","sessionId":"s1","timestamp":"2026-11-01T00:00:0%d.000Z"}\n'
    (folder / "s1.jsonl").write_bytes(b"".join(good % (n, n) + b"oops\n" for n in range(8)))
    assert blueplane_import("claude-code", str(tmp_path / "projects")) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        *(
            f"{folder / 's1.jsonl'}:{n}: not JSON: unexpected character, expected a JSON value at column 1"
            for n in (2, 4, 6, 8, 10)
        ),
        "... and 3 more lines that could not be read",
    ]
    assert "8 events, 8 lines that could not be read; 8 new, 0 already stored" in out
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 8


def test_a_folder_without_transcripts_is_one_line_and_exit_1(redis, capsys, tmp_path):
    assert blueplane_import("claude-code", str(tmp_path)) == 1
    out, err = capsys.readouterr()
    assert (out, err.splitlines()) == ("", [f"{tmp_path}: no transcripts (*.jsonl) to import"])


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


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_with_the_fast_path_running_the_import_waits_and_says_stored(redis, capsys):
    env = {**os.environ, "BLUEPLANE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    fastpath = subprocess.Popen(
        [sys.executable, "manage.py", "runfastpath", "--consumer", "import-test"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not fastpath_reading(redis):  # started, and reading the stream
            assert fastpath.poll() is None, fastpath.stderr.read()
            assert time.monotonic() < deadline, "runfastpath did not start reading"
            time.sleep(0.05)
        assert blueplane_import("claude-code", str(PROJECTS)) == 0
        assert capsys.readouterr().out.splitlines()[1] == "907 new events stored"
        assert ClaudeRawTrace.objects.count() == 907  # already: the import waited for them
    finally:
        fastpath.terminate()
        fastpath.wait(timeout=30)

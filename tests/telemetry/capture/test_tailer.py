import json
import logging
import os
import shutil
import time

import orjson
import pytest

from telemetry.capture.privacy import Privacy
from telemetry.capture.tailer import FORGET_AFTER_S, Tailer
from telemetry.capture.transcripts import NO_TIMESTAMP, FileState, ProjectCache, file_events
from telemetry.models import ClaudeRawTrace
from telemetry.wire import EVENTS_STREAM

from .helpers import PROJECTS, drain

pytestmark = pytest.mark.django_db

SESSION = "11111111-2222-3333-4444-555555555555"
PRIVACY = Privacy(b"test-salt" * 4)


def record(n: int, **extra) -> bytes:
    body = {
        "type": "user",
        "uuid": f"u-{n}",
        "sessionId": SESSION,
        "timestamp": f"2026-01-01T00:00:{n:02d}.000Z",
        "message": {"role": "user", "content": f"secret prompt {n}"},
        **extra,
    }
    return json.dumps(body).encode() + b"\n"


@pytest.fixture
def tailer_for(redis, tmp_path):
    root = tmp_path / "projects"
    (root / "-work-app").mkdir(parents=True)

    def make() -> Tailer:
        return Tailer(
            root=str(root), client=redis, offsets_path=str(tmp_path / "offsets.json"), privacy=PRIVACY
        )

    return root, make


def sent(redis) -> list[dict]:
    return [orjson.loads(f[b"event"]) for _, f in redis.xrange(EVENTS_STREAM)]


def test_appended_lines_are_sent_once_and_offsets_survive_a_restart(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(record(1) + record(2))
    tailer = make()
    assert tailer.poll() == 2
    assert tailer.poll() == 0
    with path.open("ab") as f:
        f.write(record(3))
    assert tailer.poll() == 1
    assert [e["event_id"] for e in sent(redis)] == [f"cc:t:{SESSION}:u-{n}" for n in (1, 2, 3)]
    assert make().poll() == 0  # a new process starts from the saved offsets
    assert b"secret prompt" not in b"".join(f[b"event"] for _, f in redis.xrange(EVENTS_STREAM))


def test_half_written_line_waits_for_its_end(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    line = record(2)
    path.write_bytes(record(1) + line[:25])
    tailer = make()
    assert tailer.poll() == 1
    with path.open("ab") as f:
        f.write(line[25:])
    assert tailer.poll() == 1
    assert [e["event_id"] for e in sent(redis)][-1] == f"cc:t:{SESSION}:u-2"
    assert sent(redis)[-1]["metadata"]["offset"] == len(record(1))


def test_truncated_or_replaced_file_is_read_again_without_duplicates(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(record(1) + record(2) + record(3))
    tailer = make()
    assert tailer.poll() == 3
    path.write_bytes(record(1))  # truncated in place
    assert tailer.poll() == 1
    replacement = path.with_suffix(".new")
    replacement.write_bytes(record(6) + record(7))
    os.replace(replacement, path)  # a new inode with other content
    assert tailer.poll() == 2
    replacement.write_bytes(record(6) + record(7) + record(4) + record(5))
    os.replace(replacement, path)  # a new inode that starts with what was read: it goes on from there
    assert tailer.poll() == 2
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 7  # u-1..u-7, each stored once


def test_new_subagent_file_is_found_without_hooks(redis, tailer_for):
    root, make = tailer_for
    (root / "-work-app" / f"{SESSION}.jsonl").write_bytes(record(1))
    tailer = make()
    assert tailer.poll() == 1
    sub = root / "-work-app" / SESSION / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-abc123.jsonl").write_bytes(record(7, isSidechain=True, agentId="abc123"))
    assert tailer.poll() == 1
    event = sent(redis)[-1]
    assert event["session_id"] == SESSION
    assert event["metadata"]["agent_id"] == "abc123"


def test_records_without_uuid_session_or_timestamp_get_stable_values(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    lines = b'{"type":"mode","mode":"normal"}\n' + record(1) + b'{"type":"brand-new-kind"}\n'
    path.write_bytes(lines)
    assert make().poll() == 3
    first, _, last = sent(redis)
    assert first["session_id"] == SESSION  # from the file name
    assert first["timestamp"] == "2026-01-01T00:00:01.000Z"  # borrowed from the next line
    assert first["event_id"] == f"cc:t:{SESSION}:0"
    assert last["event_type"] == "brand-new-kind"
    assert last["timestamp"] == "2026-01-01T00:00:01.000Z"  # from the nearest earlier line
    # A fresh read of the same file gives the same envelopes, byte for byte.
    read = file_events(str(path), FileState(), privacy=PRIVACY, projects=ProjectCache(PRIVACY), final=True)
    assert [orjson.loads(e) for e in read.envelopes] == sent(redis)


def test_a_file_that_starts_without_timestamps_is_held_until_one_arrives(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(b'{"type":"mode","mode":"normal"}\n')
    tailer = make()
    assert tailer.poll() == 0
    with path.open("ab") as f:
        f.write(record(1))
    assert tailer.poll() == 2


def test_redis_down_sends_nothing_and_keeps_the_offsets(redis, tailer_for, tmp_path):
    import redis as redis_py

    root, make = tailer_for
    (root / "-work-app" / f"{SESSION}.jsonl").write_bytes(record(1))
    dead = redis_py.Redis(unix_socket_path=str(tmp_path / "none.sock"))
    broken = Tailer(root=str(root), client=dead, offsets_path=str(tmp_path / "offsets.json"), privacy=PRIVACY)
    with pytest.raises(redis_py.ConnectionError):
        broken.poll()
    assert make().poll() == 1


def test_tailing_the_corpus_matches_importing_it(redis, tmp_path):
    from telemetry.capture.importer import history_import

    root = tmp_path / "projects"
    shutil.copytree(PROJECTS, root)
    tailer = Tailer(root=str(root), client=redis, offsets_path=str(tmp_path / "o.json"), privacy=PRIVACY)
    tailed = tailer.poll()
    tailed_events = [f[b"event"] for _, f in redis.xrange(EVENTS_STREAM)]
    redis.delete(EVENTS_STREAM)
    stats = history_import(str(root), client=redis, privacy=PRIVACY, progress=False)
    imported_events = [f[b"event"] for _, f in redis.xrange(EVENTS_STREAM)]
    assert tailed == stats.events
    assert sorted(tailed_events) == sorted(imported_events)


def test_a_small_file_appended_to_many_times_is_never_read_again_from_the_start(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    tailer = make()
    for n in range(1, 7):
        with path.open("ab") as f:
            f.write(record(n))
        os.utime(path, ns=(n * 10**9, n * 10**9))  # each append is seen as a change, however fast
        assert tailer.poll() == 1
    assert redis.xlen(EVENTS_STREAM) == 6


def test_a_projects_folder_briefly_missing_sends_nothing_again(redis, tailer_for, tmp_path):
    root, make = tailer_for
    sub = root / "-work-app" / SESSION / "subagents"
    sub.mkdir(parents=True)
    (root / "-work-app" / f"{SESSION}.jsonl").write_bytes(record(1) + record(2))
    (sub / "agent-abc123.jsonl").write_bytes(record(3, agentId="abc123"))
    tailer = make()
    assert tailer.poll() == 3

    away = tmp_path / "away"
    root.rename(away)  # unmounted, or moved away by a sync tool
    assert tailer.poll() == 0
    away.rename(root)
    assert tailer.poll() == 0
    assert make().poll() == 0  # the saved offsets kept them too

    # Gone and restored as copies: new inodes, same content.
    shutil.copytree(root, away, dirs_exist_ok=True)
    shutil.rmtree(root)
    assert tailer.poll() == 0
    shutil.copytree(away, root)
    assert tailer.poll() == 0
    with (root / "-work-app" / f"{SESSION}.jsonl").open("ab") as f:
        f.write(record(4))
    assert tailer.poll() == 1
    assert [e["event_id"] for e in sent(redis)] == [f"cc:t:{SESSION}:u-{n}" for n in (1, 2, 3, 4)]


def test_offsets_of_a_file_gone_for_long_are_forgotten_but_never_while_the_root_is_missing(
    redis, tailer_for, tmp_path
):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(record(1))
    tailer = make()
    assert tailer.poll() == 1
    long_ago = time.time() - FORGET_AFTER_S - 1

    root.rename(tmp_path / "away")
    tailer.offsets.states[str(path)].gone_since = long_ago
    assert tailer.poll() == 0
    assert str(path) in tailer.offsets.states  # the root is missing: its files say nothing

    (tmp_path / "away").rename(root)
    assert tailer.poll() == 0
    assert tailer.offsets.states[str(path)].gone_since == 0  # seen again
    path.unlink()  # the root is here, the file is not: gone from now
    assert tailer.poll() == 0
    assert tailer.offsets.states[str(path)].gone_since > long_ago
    tailer.offsets.states[str(path)].gone_since = long_ago
    tailer.poll()
    assert str(path) not in tailer.offsets.states


def test_a_file_without_any_timestamp_gives_the_same_envelopes_whatever_its_mtime(redis, tailer_for):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(b'{"type":"mode","mode":"normal"}\n{"type":"last-prompt","leafUuid":"x"}\n')
    reads = []
    for mtime_s in (1_000_000, 1_700_000_000):
        os.utime(path, (mtime_s, mtime_s))
        read = file_events(
            str(path), FileState(), privacy=PRIVACY, projects=ProjectCache(PRIVACY), final=True
        )
        reads.append(read.envelopes)
    assert reads[0] == reads[1]
    assert len(reads[0]) == 2
    # The tailer, once the file is idle, sends exactly these bytes.
    assert make().poll() == 2
    assert [f[b"event"] for _, f in redis.xrange(EVENTS_STREAM)] == reads[0]
    first = orjson.loads(reads[0][0])
    assert (first["timestamp"], first["metadata"]["timestamp_from"]) == (NO_TIMESTAMP, "none")


def test_lines_that_are_not_json_objects_are_skipped_and_logged_once(redis, tailer_for, caplog):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    # A broken line first, then a line with no timestamp: held until one arrives, so read twice.
    path.write_bytes(b'{"type":"user","uuid":"cut sh\n[1, 2]\n{"type":"mode","mode":"normal"}\n')
    tailer = make()
    with caplog.at_level(logging.WARNING, logger="telemetry.capture.tailer"):
        assert tailer.poll() == 0
        with path.open("ab") as f:
            f.write(record(1))
        assert tailer.poll() == 2
    assert [e["event_type"] for e in sent(redis)] == ["mode", "user"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].endswith(".jsonl:1: not JSON: unexpected end of data at column 30; line skipped")
    assert warnings[1].endswith(".jsonl:2: not a JSON object but an array; line skipped")


def test_offsets_keep_the_project_not_the_working_directory(redis, tailer_for, tmp_path):
    root, make = tailer_for
    path = root / "-work-app" / f"{SESSION}.jsonl"
    path.write_bytes(record(1, cwd="/home/jane-doe/clients/acme-secret") + record(2))
    tailer = make()
    assert tailer.poll() == 2
    saved = (tmp_path / "offsets.json").read_text()
    assert "jane-doe" not in saved
    # A line without a cwd of its own still gets the project of the one before it, after a restart too.
    with path.open("ab") as f:
        f.write(record(3))
    assert make().poll() == 1
    assert sent(redis)[-1]["metadata"]["project"] == sent(redis)[0]["metadata"]["project"]

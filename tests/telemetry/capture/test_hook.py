import json
import os
import subprocess
import sys

import orjson
import pytest

from telemetry.capture import hook, installer
from telemetry.capture.spool import spool_replay
from telemetry.ingest import rawstore
from telemetry.ingest.streams import DLQ_STREAM, EVENTS_STREAM
from telemetry.models import ClaudeRawTrace

from .helpers import capture_home, drain, hook_calls

pytestmark = pytest.mark.django_db


def run_hook(home, stdin: bytes) -> subprocess.CompletedProcess:
    """The hook as Claude Code runs it: `sh -c` on the installer's exact command line."""
    command = installer.hook_command(home=str(home))
    return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, timeout=30, check=False)


def test_every_recorded_hook_call_becomes_exactly_one_stored_event(redis, tmp_path):
    calls = hook_calls()
    assert len(calls) == 278
    assert len({raw for raw, _ in calls}) == 277  # two ConfigChange calls carry the same bytes
    home = capture_home(tmp_path / "home")
    for raw, capture_ns in calls:
        assert hook.capture(raw, home=str(home), capture_ns=capture_ns) == "redis"
    assert drain(redis) == 278
    assert ClaudeRawTrace.objects.count() == 278
    assert redis.xlen(DLQ_STREAM) == 0
    kinds = set(ClaudeRawTrace.objects.values_list("event_type", flat=True))
    assert len(kinds) == 26
    # A second delivery of the same calls (same capture times) stores nothing new.
    for raw, capture_ns in calls:
        hook.capture(raw, home=str(home), capture_ns=capture_ns)
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 278


def test_hook_content_never_reaches_redis(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    for raw, capture_ns in hook_calls():
        hook.capture(raw, home=str(home), capture_ns=capture_ns)
    stream = b"".join(fields[b"event"] for _, fields in redis.xrange(EVENTS_STREAM))
    for secret in (b"[[scenario:", b"/home/dev", b"alpha\\nbeta", b"ls -la", b"BETA", b"Done: notes.txt"):
        assert secret not in stream, secret
    # ...but the structure stays: tool names, ids, durations, sizes.
    events = [orjson.loads(f[b"event"]) for _, f in redis.xrange(EVENTS_STREAM)]
    edit = next(e for e in events if e["event_type"] == "PostToolUse" and e["payload"]["tool_name"] == "Edit")
    assert edit["payload"]["duration_ms"] == 11
    assert set(edit["payload"]["tool_input"]) == {"bytes", "items", "hash"}  # content: not even its keys
    assert edit["metadata"]["file_change"]["lines_added"] == 1
    assert edit["payload"]["cwd"].startswith("path:")
    assert edit["metadata"]["project"]["name"] == "00-files"


def test_unknown_hook_event_and_garbage_stdin_are_stored(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    hook.capture(b'{"hook_event_name": "BrandNewEvent", "session_id": "s1"}', home=str(home), capture_ns=1)
    hook.capture(b"not json at all", home=str(home), capture_ns=2)
    assert drain(redis) == 2
    assert sorted(ClaudeRawTrace.objects.values_list("event_type", flat=True)) == ["BrandNewEvent", "unknown"]


def test_hook_process_writes_nothing_to_stdout_and_xadds(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    raw, _ = hook_calls()[2]
    done = run_hook(home, raw)
    assert done.returncode == 0
    assert done.stdout == b""
    assert redis.xlen(EVENTS_STREAM) == 1
    assert not (home / "spool").exists()


def test_hook_spools_when_redis_is_down_and_replay_delivers_once(redis, tmp_path):
    home = capture_home(tmp_path / "home", redis_url=f"unix://{tmp_path}/no-redis.sock")
    calls = hook_calls()[:5]
    for raw, _ in calls:
        done = run_hook(home, raw)
        assert (done.returncode, done.stdout) == (0, b"")
    spooled = (home / "spool" / "claude_code.jsonl").read_bytes().splitlines()
    assert len(spooled) == 5
    assert b"[[scenario:" not in b"".join(spooled)  # filtered before spooling
    assert redis.xlen(EVENTS_STREAM) == 0

    # Redis is back: the running system replays the spool.
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 5
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 0
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 5
    # Replaying the same envelopes again (a crash before the spool file was deleted) adds nothing.
    for line in spooled:
        redis.xadd(EVENTS_STREAM, {"event": line})
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 5
    stored = rawstore.event_load(platform="claude_code", seq=ClaudeRawTrace.objects.first().seq)
    assert stored == json.loads(spooled[0])


def test_hook_exits_zero_even_with_an_unwritable_home(tmp_path):
    home = tmp_path / "home"
    home.write_text("a file, not a folder")
    done = run_hook(home, b'{"hook_event_name": "Stop"}')
    assert (done.returncode, done.stdout) == (0, b"")


def test_hook_imports_only_cheap_stdlib_modules(tmp_path):
    # A heavy import (json, hashlib, typing, socket: ~3-12 ms each here) would break the time budget.
    python = os.path.realpath(sys.executable)
    command = [python, "-I", "-S", "-X", "importtime", str(installer.HOOK_SCRIPT), "claude-code"]
    env = {"BLUEPLANE_HOME": str(capture_home(tmp_path / "home", redis_url="unix:///nonexistent"))}
    done = subprocess.run(command, input=b"{}", capture_output=True, timeout=30, check=False, env=env)
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line}
    assert "claude_events" in imported
    for heavy in ("json", "hashlib", "typing", "socket", "re", "enum", "redis", "django", "datetime"):
        assert heavy not in imported, heavy

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import orjson
import pytest
from django.conf import settings

from telemetry.capture import hook, installer, resp
from telemetry.capture.spool import spool_replay
from telemetry.models import ClaudeRawTrace
from telemetry.store import units
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM

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
    stored = units.event_load(platform="claude_code", seq=ClaudeRawTrace.objects.first().seq)
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


# --- the installed command line never fails the assistant --------------------------------------------


def run_streaming(command: str, payload: bytes, tmp_path) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `sh -c command`, writing `payload` to its stdin as Claude Code
    does: a write that meets a pipe without a reader fails the test."""
    with open(tmp_path / "out", "w+b") as out, open(tmp_path / "err", "w+b") as err:
        proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=out, stderr=err)
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            proc.kill()
            pytest.fail("the command stopped reading its stdin: Claude Code would meet EPIPE")
        finally:
            code = proc.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read()


def checkout_copy(tmp_path):
    """A copy of the capture folder, laid out like a checkout: its hook.py."""
    capture = tmp_path / "checkout" / "telemetry" / "capture"
    shutil.copytree(installer.HOOK_SCRIPT.parent, capture, ignore=shutil.ignore_patterns("__pycache__"))
    return capture / "hook.py"


@pytest.mark.parametrize("gone", ["script", "checkout", "interpreter", "sibling module"])
def test_installed_command_exits_zero_quietly_and_reads_stdin_when_what_it_names_is_gone(tmp_path, gone):
    home = capture_home(tmp_path / "home", redis_url=f"unix://{tmp_path}/no-redis.sock")
    script = checkout_copy(tmp_path)
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.symlink_to(os.path.realpath(sys.executable))
    command = installer.hook_command(home=str(home), python=str(python), script=script)
    assert installer.is_ours(command)
    if gone == "script":
        script.unlink()
    elif gone == "checkout":
        shutil.rmtree(tmp_path / "checkout")
    elif gone == "interpreter":
        python.unlink()
    else:
        (script.parent / "privacy.py").unlink()
    raw, _ = hook_calls()[2]
    # More than a pipe holds (64 KiB), so a command that never reads its stdin is caught.
    payload = raw[:-1] + b', "padding": "' + b"x" * (1 << 20) + b'"}'
    assert run_streaming(command, payload, tmp_path) == (0, b"", b"")


def disk_fill(path):
    """Write `path` until the file system is full (in whole pages). Returns the path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) == 4096:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def test_hook_exits_zero_with_a_read_only_home(tmp_path, tmpfs):
    home = tmpfs(tmp_path / "ro-home", "1024k")
    capture_home(home, redis_url=f"unix://{tmp_path}/no-redis.sock")
    (home / "salt").write_bytes(b"s" * 32)
    subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
    done = run_hook(home, hook_calls()[2][0])
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not (home / "spool").exists()


def test_a_full_disk_never_leaves_half_a_line_in_the_spool(tmp_path, tmpfs):
    home = tmpfs(tmp_path / "full-home", "256k")
    capture_home(home, redis_url=f"unix://{tmp_path}/no-redis.sock", store_content=True)
    (home / "salt").write_bytes(b"s" * 32)
    (home / "spool").mkdir()
    filler = disk_fill(home / "filler")
    # One page left: the first hook's envelope (with content, ~40 KB) fits only in part.
    os.truncate(filler, (filler.stat().st_size // 4096 - 1) * 4096)
    big = json.dumps({"hook_event_name": "Stop", "session_id": "s1", "last_assistant_message": "y" * 40_000})
    done = run_hook(home, big.encode())
    assert (done.returncode, done.stdout) == (0, b"")
    spool = home / "spool" / "claude_code.jsonl"
    assert spool.read_bytes() == b""  # the part that fitted was cut off again

    filler.unlink()  # space again: the next event is a line of its own
    done = run_hook(home, b'{"hook_event_name": "Stop", "session_id": "s2"}')
    assert (done.returncode, done.stdout) == (0, b"")
    [line] = spool.read_bytes().splitlines()
    assert json.loads(line)["session_id"] == "s2"


def test_hook_exits_zero_when_the_disk_is_full_and_redis_is_down(tmp_path, tmpfs):
    home = tmpfs(tmp_path / "full-home", "64k")
    capture_home(home, redis_url=f"unix://{tmp_path}/no-redis.sock")
    (home / "salt").write_bytes(b"s" * 32)
    disk_fill(home / "filler")
    done = run_hook(home, hook_calls()[2][0])
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def huge_payloads() -> dict[str, bytes]:
    one_string = {"hook_event_name": "PostToolUse", "session_id": "s1", "tool_name": "Read"}
    one_string["tool_response"] = {"type": "text", "file": {"content": "z" * 30_000_000, "numLines": 1}}
    many = {"hook_event_name": "PostToolUse", "session_id": "s2", "tool_name": "Grep", "tool_use_id": "t1"}
    many["tool_response"] = {"numFiles": 300_000, "filenames": [f"/src/f{i}.py" for i in range(300_000)]}
    return {
        "30 MB string": json.dumps(one_string).encode(),
        "300k values": json.dumps(many).encode(),
        "20 MB of garbage": os.urandom(20_000_000),
    }


@pytest.mark.parametrize("name", ["30 MB string", "300k values", "20 MB of garbage"])
def test_a_huge_payload_is_captured_small(redis, tmp_path, name):
    home = capture_home(tmp_path / "home")
    payload = huge_payloads()[name]
    assert run_streaming(installer.hook_command(home=str(home)), payload, tmp_path) == (0, b"", b"")
    [(_, fields)] = redis.xrange(EVENTS_STREAM)
    assert len(fields[b"event"]) < 1_000_000  # under the fast path's limit: stored, not dead-lettered
    event = orjson.loads(fields[b"event"])
    assert event["metadata"]["payload_bytes"] == len(payload)
    if name == "300k values":
        # Pruned breadth first: the shallow fields stay, the long list is summarised.
        assert event["metadata"]["containers_omitted"] == 1
        assert event["payload"]["tool_use_id"] == "t1"
        # The tool's response is content: one summary of the pruned value (privacy by position).
        assert set(event["payload"]["tool_response"]) == {"bytes", "items", "hash"}
    assert drain(redis) == 1
    assert redis.xlen(DLQ_STREAM) == 0


def test_payload_pruning_keeps_the_shallow_values_first():
    value = {"a": 1, "b": [1, 2, 3], "c": {"d": [4, 5, {"e": 6}]}}
    assert hook.payload_pruned(value, max_values=100) == (value, 0)
    assert hook.payload_pruned(value, max_values=7) == (
        {"a": 1, "b": [1, 2, 3], "c": {"d": {"omitted_items": 3}}},
        1,
    )
    assert hook.payload_pruned([1, 2, 3], max_values=2) == ({"omitted_items": 3}, 1)
    assert hook.payload_pruned("text", max_values=0) == ("text", 0)


# --- a frozen Redis costs the assistant at most the hook's deadline ---------------------------------


def test_a_frozen_redis_gets_the_event_spooled(tmp_path):
    sock = tmp_path / "frozen.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(sock))
        server.listen(16)  # accepts connections (the kernel does), never answers
        home = capture_home(tmp_path / "home", redis_url=f"unix://{sock}")
        assert (
            hook.capture(b'{"hook_event_name": "Stop", "session_id": "s1"}', home=str(home), capture_ns=1)
            == "spool"
        )
        done = run_hook(home, b'{"hook_event_name": "Stop", "session_id": "s2"}')
    assert (done.returncode, done.stdout) == (0, b"")
    spooled = [
        json.loads(line)["session_id"]
        for line in (home / "spool" / "claude_code.jsonl").read_bytes().splitlines()
    ]
    assert spooled == ["s1", "s2"]


def slow_server(path, reply: bytes, *, byte_every_s: float, upstream=None) -> threading.Thread:
    """A Redis stand-in on a unix socket for one connection: reads the command, forwards it to
    `upstream` (a connected socket) if given, then sends `reply` one byte at a time."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve():
        with server, server.accept()[0] as conn:
            data = conn.recv(1 << 20)
            if upstream is not None:
                upstream.sendall(data)
                upstream.recv(1 << 20)
            for i in range(len(reply)):
                time.sleep(byte_every_s)
                try:
                    conn.sendall(reply[i : i + 1])
                except OSError:
                    return  # the client gave up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_deadline_covers_the_whole_call_not_each_read(tmp_path):
    # A reply trickling in a byte at a time: each read gets a byte well within any per-read timeout,
    # but the call as a whole must give up.
    thread = slow_server(tmp_path / "slow.sock", b"$15\r\n1700000000000-0\r\n", byte_every_s=0.03)
    with pytest.raises((resp.RespError, OSError)):
        resp.xadd(f"unix://{tmp_path}/slow.sock", "s", {"event": b"{}"})
    thread.join(timeout=10)


def test_an_event_redis_stored_after_the_deadline_is_stored_once(redis, tmp_path):
    family, address, _ = resp._address(settings.REDIS_URL)
    upstream = socket.socket(family, socket.SOCK_STREAM)
    upstream.connect(address)
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    if db:
        upstream.sendall(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(str(db)), db))
        upstream.recv(100)
    # Redis stores the XADD at once; its answer reaches the hook only after the deadline.
    thread = slow_server(tmp_path / "late.sock", b"+late\r\n", byte_every_s=0.2, upstream=upstream)
    home = capture_home(tmp_path / "home", redis_url=f"unix://{tmp_path}/late.sock")
    raw, capture_ns = hook_calls()[2]
    assert hook.capture(raw, home=str(home), capture_ns=capture_ns) == "spool"
    thread.join(timeout=10)
    upstream.close()
    assert redis.xlen(EVENTS_STREAM) == 1
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 1
    assert redis.xlen(EVENTS_STREAM) == 2
    drain(redis)
    assert ClaudeRawTrace.objects.count() == 1

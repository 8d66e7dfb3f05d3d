"""The Cursor hook (`hook.py cursor`), run as Cursor runs it: `sh -c` on the installed line of the
event, one payload of tests/fixtures/cursor/hooks.jsonl on stdin."""

import json
import os
import shutil
import signal
import subprocess
import sys

import orjson
import pytest

from blueplane.redis_server import EmbeddedRedis
from telemetry.capture import cursor_events, cursor_installer, hook
from telemetry.capture.privacy import Privacy, salt_load
from telemetry.capture.spool import spool_replay
from telemetry.models import CursorRawTrace
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.support.cursor import GROUND_TRUTH, HOOK_CALLS

from .helpers import capture_home, drain
from .test_hook import checkout_copy, run_streaming

pytestmark = pytest.mark.django_db

# What the payloads say that must never be stored (store_content off): free text, commands, output,
# file contents and edit strings, the user's email, and full paths (only their hashes are kept).
CONTENT_KEYS = ("prompt", "text", "output", "content", "command", "user_email", "tool_output", "result_json")


def run_cursor_hook(home, event: str, stdin: bytes, **kwargs) -> subprocess.CompletedProcess:
    """The installed command line of `event`, run as Cursor runs it."""
    command = cursor_installer.hook_command(event=event, home=str(home), **kwargs)
    # Cursor's timeout for our entries bounds the call (a hang would raise here).
    return subprocess.run(
        ["sh", "-c", command],
        input=stdin,
        capture_output=True,
        timeout=cursor_installer.HOOK_TIMEOUT_S,
        check=False,
    )


def reply_of(done: subprocess.CompletedProcess) -> object:
    """The parsed reply, having checked it is one line of JSON and the exit code is 0."""
    assert done.returncode == 0
    assert done.stdout.endswith(b"\n") and done.stdout.count(b"\n") == 1, done.stdout
    return json.loads(done.stdout)


def secrets_of(payload: dict) -> list[str]:
    """The strings of a payload that must not reach the stream, in every form they could take there."""
    found = [payload[k] for k in CONTENT_KEYS if isinstance(payload.get(k), str)]
    found += [p for p in payload.get("workspace_roots", [])]
    found += [payload[k] for k in ("file_path", "cwd", "transcript_path") if payload.get(k)]
    for edit in payload.get("edits") or []:
        found += [edit["old_string"], edit["new_string"], edit.get("old_line", "")]
    tool_input = payload.get("tool_input")
    if isinstance(tool_input, dict):
        found += [v for v in tool_input.values() if isinstance(v, str)]
    elif isinstance(tool_input, str):
        found.append(tool_input)
    forms = []
    for text in found:
        if len(text.strip()) >= 8:  # shorter ones ("ok") occur by chance in hashes and ids
            forms += [
                text.encode(),
                json.dumps(text)[1:-1].encode(),
                json.dumps(text, ensure_ascii=False)[1:-1].encode(),
            ]
    return forms


def test_every_fixture_call_prints_its_reply_and_is_stored_once(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    assert len(HOOK_CALLS) == GROUND_TRUTH["hooks"]["events"] == 55
    for call in HOOK_CALLS:
        raw = json.dumps(call["stdin"], ensure_ascii=False, separators=(",", ":")).encode()
        done = run_cursor_hook(home, call["hook_event_name"], raw)
        assert reply_of(done) == call["expected_stdout"], call["seq"]
        assert done.stderr == b""
    assert not (home / "spool").exists()

    entries = redis.xrange(EVENTS_STREAM)
    assert len(entries) == 55
    stream = b"".join(fields[b"event"] for _, fields in entries)
    for call in HOOK_CALLS:
        for secret in secrets_of(call["stdin"]):
            assert secret not in stream, (call["seq"], secret[:60])
    assert b"/home/dev" not in stream
    assert GROUND_TRUTH["excluded"]["must_never_appear_in_output"].encode() not in stream

    events = [orjson.loads(fields[b"event"]) for _, fields in entries]
    for call, event in zip(HOOK_CALLS, events, strict=True):
        stdin = call["stdin"]
        assert (event["platform"], event["source"]) == ("cursor", "hook")
        assert event["event_type"] == event["hook_type"] == call["hook_event_name"]
        assert event["session_id"] == stdin["conversation_id"]
        assert event["event_id"].startswith("cu:h:")
        assert event["payload"]["generation_id"] == stdin["generation_id"]
        assert event["metadata"]["capture"] == "hook"
        assert event["metadata"]["project"]["name"] == os.path.basename(stdin["workspace_roots"][0])
    assert len({e["event_id"] for e in events}) == 55

    assert drain(redis) == 55
    assert CursorRawTrace.objects.count() == 55
    assert redis.xlen(DLQ_STREAM) == 0


def test_tool_facts_carry_the_hashes_the_database_monitor_computes(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    for call in HOOK_CALLS:
        raw = json.dumps(call["stdin"]).encode()
        assert hook.capture(raw, home=str(home), capture_ns=call["seq"], target="cursor") == "redis"
    privacy = Privacy(salt_load(str(home / "salt")))
    events = [orjson.loads(fields[b"event"]) for _, fields in redis.xrange(EVENTS_STREAM)]
    by_kind: dict[str, list] = {}
    for call, event in zip(HOOK_CALLS, events, strict=True):
        tool = event["metadata"].get("tool")
        stdin = call["stdin"]
        if tool is None:
            assert call["hook_event_name"] not in cursor_events.EVENT_TOOLS
            continue
        by_kind.setdefault(call["hook_event_name"], []).append(event)
        if tool["kind"] == "shell":
            command = stdin.get("command") or stdin["tool_input"]["command"]
            assert tool["target_hash"] == privacy.digest(command)
        elif tool["kind"] in ("read", "edit"):
            path = stdin.get("file_path") or stdin["tool_input"]["file_path"]
            assert tool["target_hash"] == privacy.digest(path)
            assert tool["path_hash"] == privacy.path(path)
            assert tool["file_extension"] == os.path.splitext(path)[1]
        if "tool_use_id" in stdin:
            assert tool["tool_use_id"] == stdin["tool_use_id"]
    expected = GROUND_TRUTH["hooks"]
    edits = by_kind["afterFileEdit"]
    assert sum(e["metadata"]["lines_added"] for e in edits) == expected["afterFileEdit_lines"]["added"]
    assert sum(e["metadata"]["lines_removed"] for e in edits) == expected["afterFileEdit_lines"]["removed"]
    assert len({e["metadata"]["tool"]["target_hash"] for e in edits}) == expected["afterFileEdit_files"]
    assert len(by_kind["beforeShellExecution"]) == expected["shell_commands"]
    [mcp] = by_kind["beforeMCPExecution"]
    assert mcp["metadata"]["tool"]["mcp_server"] == "@acme/mcp-sqlite"
    assert mcp["metadata"]["tool"]["target_hash"] == privacy.digest("@acme/mcp-sqlite/query")
    # The raw index's line columns come from metadata.
    drain(redis)
    stored = CursorRawTrace.objects.filter(event_type="afterFileEdit")
    assert sum(stored.values_list("lines_added", flat=True)) == expected["afterFileEdit_lines"]["added"]


def test_content_is_kept_only_when_the_user_opted_in(redis, tmp_path):
    home = capture_home(tmp_path / "home", store_content=True)
    call = HOOK_CALLS[0]
    done = run_cursor_hook(home, "beforeSubmitPrompt", json.dumps(call["stdin"]).encode())
    assert reply_of(done) == {"continue": True}
    [(_, fields)] = redis.xrange(EVENTS_STREAM)
    assert orjson.loads(fields[b"event"])["payload"] == call["stdin"]


def big_prompt() -> bytes:
    payload = {**HOOK_CALLS[0]["stdin"], "prompt": "p" * (1 << 20)}
    return json.dumps(payload).encode()


def big_number() -> bytes:
    raw = json.dumps({**HOOK_CALLS[4]["stdin"], "input_tokens": 2**70, "loop_count": -(2**80)})
    return raw.encode()


@pytest.mark.parametrize(
    "name, event, stdin, reply",
    [
        ("garbage", "afterFileEdit", b"\x00\xffnot json {", {}),
        ("garbage for a prompt", "beforeSubmitPrompt", b"]]", {"continue": True}),  # the line names its event
        ("empty", "stop", b"", {}),
        ("a JSON array", "stop", b"[1, 2]", {}),
        ("1 MB prompt", "beforeSubmitPrompt", big_prompt(), {"continue": True}),
        ("numbers past 64 bits", "stop", big_number(), {}),
        (
            "the CLI's spelling",
            "beforeSubmitPrompt",
            b'{"hookEventName": "beforeSubmitPrompt"}',
            {"continue": True},
        ),
    ],
)
def test_any_input_gets_a_reply_and_is_stored_once(redis, tmp_path, name, event, stdin, reply):
    home = capture_home(tmp_path / "home")
    assert reply_of(run_cursor_hook(home, event, stdin)) == reply
    [(_, fields)] = redis.xrange(EVENTS_STREAM)
    assert len(fields[b"event"]) < 100_000  # content is summarised: no 1 MB envelope
    assert b"pppppppp" not in fields[b"event"]
    assert drain(redis) == 1
    assert CursorRawTrace.objects.count() == 1
    assert redis.xlen(DLQ_STREAM) == 0
    if name == "the CLI's spelling":
        assert CursorRawTrace.objects.get().event_type == "beforeSubmitPrompt"


def test_redis_down_spools_and_the_reply_is_printed(redis, tmp_path):
    home = capture_home(tmp_path / "home", redis_url=f"unix://{tmp_path}/no-redis.sock")
    for call in HOOK_CALLS[:5]:
        done = run_cursor_hook(home, call["hook_event_name"], json.dumps(call["stdin"]).encode())
        assert reply_of(done) == call["expected_stdout"]
    spooled = (home / "spool" / "cursor.jsonl").read_bytes().splitlines()
    assert len(spooled) == 5
    assert b"Quick question" not in b"".join(spooled)  # filtered before spooling
    # Redis is back: the running system replays the spool, once.
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 5
    assert spool_replay(redis, str(home), stream=EVENTS_STREAM, settle_s=0) == 0
    drain(redis)
    assert CursorRawTrace.objects.count() == 5


def test_a_hung_redis_costs_the_deadline_then_spools_and_the_reply_is_printed(tmp_path):
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    pid = server.pid()
    try:
        os.kill(pid, signal.SIGSTOP)  # accepts nothing, answers nothing: a frozen Redis
        home = capture_home(tmp_path / "home", redis_url=server.url)
        call = HOOK_CALLS[0]
        done = run_cursor_hook(home, "beforeSubmitPrompt", json.dumps(call["stdin"]).encode())
        assert reply_of(done) == {"continue": True}
        [line] = (home / "spool" / "cursor.jsonl").read_bytes().splitlines()
        assert json.loads(line)["session_id"] == call["stdin"]["conversation_id"]
    finally:
        os.kill(pid, signal.SIGCONT)
        server.stop()


@pytest.mark.parametrize("gone", ["script", "checkout", "interpreter", "sibling module", "cursor module"])
@pytest.mark.parametrize("event", ["beforeSubmitPrompt", "beforeShellExecution"])
def test_the_installed_line_prints_the_reply_when_what_it_names_is_gone(tmp_path, gone, event):
    home = capture_home(tmp_path / "home", redis_url=f"unix://{tmp_path}/no-redis.sock")
    script = checkout_copy(tmp_path)
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.symlink_to(os.path.realpath(sys.executable))
    command = cursor_installer.hook_command(event=event, home=str(home), python=str(python), script=script)
    assert cursor_installer.is_ours(command)
    if gone == "script":
        script.unlink()
    elif gone == "checkout":
        shutil.rmtree(tmp_path / "checkout")
    elif gone == "interpreter":
        python.unlink()
    elif gone == "sibling module":
        (script.parent / "privacy.py").unlink()
    else:
        (script.parent / "cursor_events.py").unlink()
    call = next(c for c in HOOK_CALLS if c["hook_event_name"] == event)
    # More than a pipe holds (64 KiB), so a command that never reads its stdin is caught.
    payload = json.dumps({**call["stdin"], "padding": "x" * (1 << 20)}).encode()
    code, out, err = run_streaming(command, payload, tmp_path)
    assert (code, err) == (0, b"")
    assert out == json.dumps(call["expected_stdout"], separators=(",", ":")).encode() + b"\n"


def test_the_reply_comes_out_when_nothing_after_it_works(tmp_path):
    # A home that is a file: no salt, no spool, nothing works after the reply; it is out all the same.
    home = tmp_path / "home"
    home.write_text("a file, not a folder")
    done = run_cursor_hook(home, "afterAgentResponse", json.dumps(HOOK_CALLS[0]["stdin"]).encode())
    assert reply_of(done) == {"continue": True}  # the payload's event decides, not the installed line


def test_hook_imports_only_cheap_stdlib_modules(tmp_path):
    python = os.path.realpath(sys.executable)
    command = [python, "-I", "-S", "-X", "importtime", str(cursor_installer.HOOK_SCRIPT), "cursor"]
    env = {"BLUEPLANE_HOME": str(capture_home(tmp_path / "home", redis_url="unix:///nonexistent"))}
    stdin = json.dumps(HOOK_CALLS[3]["stdin"]).encode()
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=30, check=False, env=env)
    assert done.stdout == b"{}\n"
    imported = {line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line}
    assert "cursor_events" in imported
    for heavy in ("json", "hashlib", "typing", "socket", "re", "enum", "redis", "django", "datetime"):
        assert heavy not in imported, heavy


# --- the envelope's parts ------------------------------------------------------------------------------


@pytest.fixture
def privacy() -> Privacy:
    return Privacy(b"s" * 32)


def test_edits_may_be_a_list_or_a_json_string_holding_one():
    edits = [{"old_string": "a\nb\n", "new_string": "a\nb\nc"}, {"old_string": "", "new_string": "x\n"}]
    assert cursor_events.edit_lines(edits) == (4, 2)
    assert cursor_events.edit_lines(json.dumps(edits)) == (4, 2)
    assert cursor_events.edit_lines("not json") is None
    assert cursor_events.edit_lines(None) is None


def test_an_edit_given_as_a_json_string_is_counted_and_not_stored(privacy):
    payload = {
        "hook_event_name": "afterFileEdit",
        "conversation_id": "c1",
        "file_path": "./src/app.py",
        "workspace_roots": ["/work/repo"],
        "cwd": "/elsewhere",
        "edits": json.dumps([{"old_string": "secret-old\n", "new_string": "secret-new\nmore\n"}]),
    }
    envelope = cursor_events.hook_envelope(json.dumps(payload).encode(), capture_ns=1, privacy=privacy)
    tool = envelope["metadata"]["tool"]
    assert (tool["lines_added"], tool["lines_removed"]) == (2, 1)
    assert tool["target_hash"] == privacy.digest(
        "/work/repo/src/app.py"
    )  # made absolute, as the monitor does
    assert b"secret" not in json.dumps(envelope).encode()


@pytest.mark.parametrize(
    "url, command, server",
    [
        ("https://user:token@mcp.example.com:8443/sse?key=abc", None, "mcp.example.com:8443"),
        (None, "npx -y @acme/mcp-sqlite", "@acme/mcp-sqlite"),
        (None, "FOO=1 uvx mcp-server-git --repository /home/me/x", "mcp-server-git"),
        (None, "python3 /srv/servers/weather.py --port 3", "weather.py"),
        (None, "docker run -i --rm mcp/github", "github"),
        (None, "/opt/bin/my-server", "my-server"),
        (None, None, None),
        (None, "", None),
    ],
)
def test_mcp_server_names(url, command, server):
    assert cursor_events.mcp_server_name(url=url, command=command) == server


def test_session_and_event_fall_back_as_the_contract_says(privacy):
    envelope = cursor_events.hook_envelope(
        b'{"hookEventName": "stop", "session_id": "s9"}', capture_ns=1, privacy=privacy
    )
    assert (envelope["event_type"], envelope["session_id"]) == ("stop", "s9")
    envelope = cursor_events.hook_envelope(b"{}", capture_ns=1, privacy=privacy)
    assert (envelope["event_type"], envelope["session_id"]) == ("unknown", "unknown")


def test_generic_tool_hooks_name_their_kind(privacy):
    def tool(name, tool_input):
        payload = {"hook_event_name": "preToolUse", "tool_name": name, "tool_input": tool_input}
        raw = json.dumps(payload).encode()
        return cursor_events.hook_envelope(raw, capture_ns=1, privacy=privacy)["metadata"]["tool"]

    assert tool("Grep", {"pattern": "TODO"})["kind"] == "search"
    assert tool("Grep", {"pattern": "TODO"})["target_hash"] == privacy.digest("TODO")
    assert tool("MCP:query", "{}")["kind"] == "mcp"
    assert tool("Task", {})["kind"] == "other"
    assert tool("Write", json.dumps({"file_path": "/a/b.ts"}))["file_extension"] == ".ts"


# --- a marker in every content position never reaches the stream ----------------------------------------
# Written out from the contract and docs/privacy.md, not imported from privacy.py, so the test does not
# trust the lists it checks.
CURSOR_KEPT = {
    "hook_event_name", "hookEventName", "conversation_id", "generation_id", "session_id", "model",
    "cursor_version", "tool_name", "toolName", "tool_use_id", "status", "reason", "final_status",
    "composer_mode", "failure_type", "subagent_type", "trigger",
}  # fmt: skip
CURSOR_PATHS = {"cwd", "file_path", "transcript_path", "agent_transcript_path"}
# Read by capture for the tool facts: their keys are kept in what is planted, their values marked.
READ_INSIDE = {"tool_input", "edits"}
MARKER = b"qzx"  # with xzq around six digits; q, z and x are no hex digits: no hash holds one


class Planter:
    def __init__(self) -> None:
        self.count = 0

    def marker(self) -> str:
        self.count += 1
        return f"qzx{self.count:06d}xzq"

    def text(self, value: str) -> str:
        # A path keeps its extension and last folder (the project's name), so the marker goes first.
        return f"/{self.marker()}{value}" if value.startswith("/") else f"{value} {self.marker()}"

    def content(self, value: object, *, keys: bool = True) -> object:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.content(v, keys=keys) for v in value]
        if isinstance(value, dict):
            return {(f"{k}_{self.marker()}" if keys else k): self.content(v) for k, v in value.items()}
        return value

    def payload(self, payload: dict) -> dict:
        out: dict = {}
        for key, value in payload.items():
            if key in CURSOR_KEPT or not isinstance(value, str | list | dict):
                out[key] = value
            elif key in CURSOR_PATHS or key == "workspace_roots":
                out[key] = self.content(value)
            elif key in READ_INSIDE:
                out[key] = self.content(value, keys=False)
            else:
                out[key] = self.content(value)
        out["a_field_cursor_adds_later"] = self.marker()  # content (a key that reads as a field name is kept)
        return out


def test_no_marked_content_reaches_redis_or_the_spool(redis, tmp_path):
    planter = Planter()
    up = capture_home(tmp_path / "up")
    down = capture_home(tmp_path / "down", redis_url=f"unix://{tmp_path}/no-redis.sock")
    for i, call in enumerate(HOOK_CALLS):
        raw = json.dumps(planter.payload(call["stdin"])).encode()
        assert MARKER in raw
        done = run_cursor_hook(up if i % 2 else down, call["hook_event_name"], raw)
        assert reply_of(done) == call["expected_stdout"]
    assert planter.count > 250
    stream = b"".join(fields[b"event"] for _, fields in redis.xrange(EVENTS_STREAM))
    spool = (down / "spool" / "cursor.jsonl").read_bytes()
    assert len(redis.xrange(EVENTS_STREAM)) + len(spool.splitlines()) == 55
    assert MARKER not in stream and MARKER not in spool


@pytest.mark.parametrize("stdin", [b"", b"\x00\xff not json {{{", b"[1, 2]"])
def test_a_stdin_naming_no_event_gets_the_reply_of_the_lines_event(stdin: bytes) -> None:
    # The installed line names its event: the hook answers for it, as the line does when Python cannot run.
    assert cursor_events.hook_reply(stdin, event="beforeSubmitPrompt") == cursor_events.REPLY_CONTINUE
    assert cursor_events.hook_reply(stdin, event="stop") == cursor_events.REPLY_EMPTY
    assert cursor_events.hook_reply(stdin) == cursor_events.REPLY_EMPTY  # a line of an older install

import json
import os
import stat
import subprocess

import orjson
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from telemetry.capture import installer, runtime
from telemetry.capture.claude_events import hook_envelope, lines_changed, transcript_envelope
from telemetry.capture.privacy import Privacy, SaltError, salt_load
from telemetry.wire import EVENTS_STREAM

from .helpers import capture_home

PRIVACY = Privacy(b"s" * 32)

ASSISTANT = {
    "type": "assistant",
    "uuid": "u1",
    "parentUuid": "u0",
    "sessionId": "s1",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "cwd": "/home/me/app/src",
    "requestId": "req_1",
    "isSidechain": False,
    "message": {
        "id": "msg_1",
        "model": "claude-sonnet-4-5-20250929",
        "role": "assistant",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 9, "service_tier": "standard"},
        "content": [
            {"type": "thinking", "thinking": "private thoughts", "signature": "c2lnbmF0dXJl"},
            {"type": "text", "text": "Here is the plan"},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "Edit",
                "input": {"file_path": "/home/me/app/x.py", "old_string": "a\nb", "new_string": "c"},
            },
        ],
    },
}
EDIT_RESULT = {
    "type": "user",
    "uuid": "u2",
    "sessionId": "s1",
    "timestamp": "2026-01-01T00:00:01.000Z",
    "message": {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
    },
    "toolUseResult": {
        "filePath": "/home/me/app/x.py",
        "oldString": "a\nb",
        "structuredPatch": [
            {"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 1, "lines": ["-a", "-b", "+c"]}
        ],
    },
}
# An MCP mail tool: every key in its input and result reads like an identifier, none of it is one.
MAIL_INPUT = {
    "to": ["alice@example.com", {"name": "Bob Secret", "reason": "merger talks"}],
    "from": "carol@example.com",
    "name": "Quarterly numbers",
    "reason": "board meeting",
    "destination": {"folder": {"name": "Legal", "path": "/mail/legal", "tags": ["nda-2026", "ipo-plan"]}},
    "type": "confidential",
    "id": "thread-about-layoffs",
}
MAIL_SECRETS = ("alice@", "Bob Secret", "merger", "carol@", "Quarterly", "board meeting", "Legal",
                "/mail/legal", "nda-2026", "ipo-plan", "confidential", "layoffs", "folder", "tags")  # fmt: skip


def envelope(record: dict, privacy: Privacy = PRIVACY) -> dict:
    return transcript_envelope(
        record, file_key="s1", offset=0, session_hint="s1", timestamp=record["timestamp"],
        timestamp_from="record", privacy=privacy,
    )  # fmt: skip


def hook(payload: dict, privacy: Privacy = PRIVACY) -> dict:
    return hook_envelope(json.dumps(payload).encode(), capture_ns=1, privacy=privacy)


def test_assistant_record_keeps_structure_and_usage_but_no_text():
    event = envelope(ASSISTANT)
    payload, message = event["payload"], event["payload"]["message"]
    assert (message["id"], message["model"], message["stop_reason"]) == (
        "msg_1",
        ASSISTANT["message"]["model"],
        "tool_use",
    )
    assert message["usage"] == ASSISTANT["message"]["usage"]
    thinking, text, tool = message["content"]
    assert thinking["thinking"]["chars"] == len("private thoughts")
    assert text["text"] == {"chars": 16, "lines": 1, "hash": PRIVACY.digest("Here is the plan")}
    assert (tool["type"], tool["name"], tool["id"]) == ("tool_use", "Edit", "toolu_1")
    assert set(tool["input"]) == {"bytes", "items", "hash"} and tool["input"]["items"] == 3
    assert payload["cwd"].startswith("path:")
    # The edited file is a fact read before filtering: its salted hash, extension kept.
    assert event["metadata"]["edit_paths"] == {"toolu_1": PRIVACY.path("/home/me/app/x.py")}
    assert event["metadata"]["edit_paths"]["toolu_1"].endswith(".py")
    assert event["metadata"]["facts"] == 2
    for secret in ("private", "/home/me", "old_string", "file_path", "c2lnbmF0dXJl"):
        assert secret not in json.dumps(event), secret


def test_line_counts_and_the_file_are_computed_before_the_result_is_dropped():
    event = envelope(EDIT_RESULT)
    assert (event["metadata"]["lines_added"], event["metadata"]["lines_removed"]) == (1, 2)
    assert event["metadata"]["file_change"] == {
        "path": PRIVACY.path("/home/me/app/x.py"),
        "lines_added": 1,
        "lines_removed": 2,
    }
    assert set(event["payload"]["toolUseResult"]) == {"bytes", "items", "hash"}
    assert "structuredPatch" not in json.dumps(event["payload"])
    assert lines_changed({"type": "create", "content": "a\nb\nc\n", "structuredPatch": []}) == (3, 0)


def test_a_sub_agent_result_keeps_its_figures_in_metadata_only():
    record = {
        **EDIT_RESULT,
        "toolUseResult": {
            "agentId": "a123", "agentType": "general-purpose", "status": "completed",
            "totalDurationMs": 900, "totalTokens": 5000, "totalToolUseCount": 3,
            "content": [{"type": "text", "text": "the agent's secret report"}],
        },
    }  # fmt: skip
    event = envelope(record)
    assert event["metadata"]["agent_run"] == {
        "agent_id": "a123", "agent_type": "general-purpose", "status": "completed",
        "duration_ms": 900, "total_tokens": 5000, "tool_uses": 3,
    }  # fmt: skip
    assert "file_change" not in event["metadata"]
    assert "secret" not in json.dumps(event) and "agentType" not in json.dumps(event)


def test_innocent_keys_inside_mcp_tool_inputs_and_results_are_content_at_every_depth():
    pre = hook({"hook_event_name": "PostToolUse", "session_id": "s1", "tool_name": "mcp__mail__send",
                "tool_use_id": "toolu_9", "tool_input": MAIL_INPUT,
                "tool_response": {"to": "alice@example.com", "status": "sent to Legal"}})  # fmt: skip
    call = {**ASSISTANT, "message": {**ASSISTANT["message"], "content": [
        {"type": "tool_use", "id": "toolu_9", "name": "mcp__mail__send", "input": MAIL_INPUT}]}}  # fmt: skip
    result = {**EDIT_RESULT, "toolUseResult": [{"type": "text", "text": json.dumps(MAIL_INPUT)}],
              "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9",
                                                        "content": [{"type": "text", "text": "sent",
                                                                     "to": "alice@example.com"}]}]}}  # fmt: skip
    for event in (pre, envelope(call), envelope(result)):
        text = json.dumps(event)
        for secret in MAIL_SECRETS:
            assert secret not in text, (secret, event["event_type"])
    assert pre["payload"]["tool_name"] == "mcp__mail__send"
    assert envelope(call)["payload"]["message"]["content"][0]["name"] == "mcp__mail__send"


def test_object_keys_inside_content_are_content_too():
    payload = hook({"hook_event_name": "PreToolUse", "tool_input": {"Acme Corp acquisition.xlsx": 1}})
    assert "Acme" not in json.dumps(payload)
    assert payload["payload"]["tool_input"] == PRIVACY.value({"Acme Corp acquisition.xlsx": 1})


def test_identifier_positions_keep_identifiers_only():
    filtered = PRIVACY.hook_filter(
        {"reason": "clear", "source": "I told my boss about the merger", "trigger": "x" * 201,
         "agent_type": "/home/me/secret", "session_id": "s1\nhidden", "hook_event_name": "Stop"}
    )  # fmt: skip
    assert filtered["reason"] == "clear" and filtered["hook_event_name"] == "Stop"
    assert filtered["source"] == PRIVACY.text("I told my boss about the merger")
    assert filtered["trigger"]["chars"] == 201
    assert filtered["agent_type"].startswith("path:")
    assert filtered["session_id"]["lines"] == 2
    # Unknown keys at a positional level: numbers are kept, text is content.
    assert PRIVACY.hook_filter({"new_count": 3, "new_note": "hello"}) == {
        "new_count": 3,
        "new_note": PRIVACY.text("hello"),
    }
    # A key that is no field name (a path, a sentence, nothing) is not kept either.
    filtered = PRIVACY.record_filter({"/home/me/secret": 1, "type": "x"})
    assert "secret" not in json.dumps(filtered)
    assert "empty key" not in json.dumps(PRIVACY.hook_filter({"": "empty key"}))


def test_content_nested_deeper_than_the_encoder_goes_is_summarised_not_raised():
    deep = orjson.loads(b"[" * 1000 + b"]" * 1000)
    event = envelope({**EDIT_RESULT, "toolUseResult": deep})
    assert event["payload"]["toolUseResult"] == {"bytes": None, "items": 1, "hash": None}


def test_opting_in_keeps_the_record_whole():
    assert envelope(ASSISTANT, Privacy(b"s" * 32, store_content=True))["payload"] == ASSISTANT


def test_paths_hash_with_the_install_salt_and_keep_the_extension():
    assert PRIVACY.path("/a/b/notes.txt").endswith(".txt")
    assert PRIVACY.path("/a/b/notes.txt") != Privacy(b"t" * 32).path("/a/b/notes.txt")
    assert PRIVACY.path("/a/b/Makefile").count(".") == 0


def test_project_is_the_git_root(tmp_path):
    repo = tmp_path / "myrepo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "deep").mkdir(parents=True)
    project = PRIVACY.project(str(repo / "src" / "deep"))
    assert project == {"hash": PRIVACY.digest(str(repo)), "name": "myrepo"}


# --- the salt -----------------------------------------------------------------------------------------


def test_the_salt_is_made_once_and_read_back(tmp_path):
    path = tmp_path / "home" / "salt"
    salt = salt_load(str(path))
    assert len(salt) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert salt_load(str(path)) == salt


@pytest.mark.parametrize("case", ["empty", "folder", "missing"])
def test_a_salt_that_cannot_be_read_is_an_error_never_an_unsalted_hash(tmp_path, case):
    path = tmp_path / "salt"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "folder":
        path.mkdir()
    with pytest.raises(SaltError, match=str(path)):
        salt_load(str(path), create=case != "missing")
    with pytest.raises(SaltError):
        Privacy(b"")


def test_the_hook_with_an_unreadable_salt_sends_sizes_only_and_exits_zero(redis, tmp_path):
    home = capture_home(tmp_path / "home")
    (home / "salt").write_bytes(b"")
    raw = json.dumps({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "prompt": "my secret plan",
                      "cwd": "/home/me/secret-project"}).encode()  # fmt: skip
    done = subprocess.run(
        ["sh", "-c", installer.hook_command(home=str(home))], input=raw, capture_output=True, timeout=30
    )
    assert (done.returncode, done.stdout) == (0, b"")
    [(_, fields)] = redis.xrange(EVENTS_STREAM)
    event = orjson.loads(fields[b"event"])
    assert event["payload"] == {"capture_error": "SaltError", "payload_bytes": len(raw)}
    assert b"secret" not in fields[b"event"] and b"s1" not in fields[b"event"]
    assert (home / "salt").read_bytes() == b""  # not replaced: that would orphan every stored hash


def test_django_side_callers_fail_in_one_line_on_an_empty_salt(redis, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "salt").write_bytes(b"")
    monkeypatch.setattr(runtime, "home", lambda: home)
    with pytest.raises(ImproperlyConfigured) as raised:
        runtime.privacy_get()
    message = str(raised.value)
    assert "\n" not in message and str(home / "salt") in message and "empty" in message
    with pytest.raises(CommandError, match="is empty"):
        call_command("runcapture", "--once")
    os.remove(home / "salt")
    assert len(runtime.privacy_get()._key) == 32  # a missing salt is made, as on first use
